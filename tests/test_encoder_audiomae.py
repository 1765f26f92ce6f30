"""AudioMAE: front-end, ViT fidelity, release checkpoint loading, presets, clip policy."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch

from acubench.audio import iter_windows
from acubench.checkpoints import CheckpointError
from acubench.encoders import _audiomae_model as audiomae_model
from acubench.encoders import audiomae
from acubench.loading import load_encoder
from acubench.plugins import get_encoder

SR = 16000


def _waves(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    # 12 s (cropped to 1024 frames), 3 s, 0.5 s, and 300 samples (< one 25 ms frame)
    return [0.1 * torch.randn(n, generator=gen) for n in (12 * SR, 3 * SR, SR // 2, 300)]


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("audiomae", config="tiny", random_init="always")


def _release_state(encoder) -> dict[str, torch.Tensor]:
    """A state in the layout of the official pre-training release: encoder keys, the final
    ``norm`` (no ``fc_norm``), and the MAE decoder's keys (perturbed, so loading shows)."""
    gen = torch.Generator().manual_seed(1)
    state = {k: v.clone() for k, v in encoder.model.state_dict().items() if not k.startswith("fc_norm.")}
    d = state["cls_token"].shape[-1]
    state["norm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
    state["norm.bias"] = 0.1 * torch.randn(d, generator=gen)
    state.update({k: v + 0.01 * torch.randn(v.shape, generator=gen) for k, v in encoder.decoder.state_dict().items()})
    return state


def test_tiny_embeds_a_batch_of_different_lengths(tiny):
    waves = _waves()
    emb = tiny.embed(waves)
    assert emb.shape == (4, 32) and torch.isfinite(emb).all()
    alone = torch.cat([tiny.embed([w]) for w in waves])
    torch.testing.assert_close(emb, alone, atol=1e-5, rtol=0)


def test_spec_and_registry():
    spec = get_encoder("audiomae")
    assert spec is audiomae.SPEC
    assert spec.sample_rate == 16000 and spec.embed_dim == 768
    assert spec.configs == ("default", "reference", "tiny") and spec.task_clip == "fixed"
    assert spec.weights.filename == "pretrained.pth"


def test_frontend_equals_the_audioset_feature_extractor(tiny):
    """The default front-end is the AudioMAE/AST AudioSet pipeline: for zero-mean audio it
    equals transformers' ASTFeatureExtractor (Kaldi fbank, 1024 frames, (x - mean) / (2 std))."""
    from transformers import ASTFeatureExtractor

    fe = ASTFeatureExtractor()
    assert (fe.sampling_rate, fe.num_mel_bins, fe.max_length) == (16000, 128, 1024)
    assert (fe.mean, fe.std) == (audiomae_model.AUDIOSET_MEAN, audiomae_model.AUDIOSET_STD) == (-4.2677393, 4.5689974)
    for wave in _waves()[:3]:
        wave = wave - wave.mean()
        ours = tiny.featurize([wave])[0]
        theirs = torch.as_tensor(fe(wave.numpy(), sampling_rate=SR, return_tensors="np")["input_values"][0])
        assert ours.shape == (1024, 128)
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


def test_frontend_hand_checked_values(tiny):
    ref = load_encoder("audiomae", config={"name": "tiny", "normalize": False}, random_init="always")
    wave = _waves()[0][: 10 * SR]
    raw = ref.featurize([wave])[0]
    # Kaldi frames with snip_edges: 1 + (160000 - 400) // 160 = 998, then zero padding.
    assert torch.count_nonzero(raw.abs().sum(dim=1)) == 998
    assert torch.all(raw[998:] == 0)
    # Normalised: padding reads (0 + 4.2677393) / (2 * 4.5689974).
    norm = tiny.featurize([wave])[0]
    assert norm[1000, 5].item() == pytest.approx(0.4670327, abs=1e-6)
    torch.testing.assert_close(norm[:998], (raw[:998] + 4.2677393) / 9.1379948)
    # The chunk mean is removed before the fbank: a DC offset changes nothing.
    torch.testing.assert_close(ref.featurize([wave + 0.25])[0], raw, atol=1e-4, rtol=1e-4)
    # Shorter than one 25 ms frame: all padding.
    assert torch.all(ref.featurize([torch.ones(300)])[0] == 0)


def test_sincos_position_table_hand_checked():
    table = audiomae_model.AudioMAEViT(32, 1, 2).pos_embed[0]
    assert table.shape == (1 + 64 * 8, 32) and torch.all(table[0] == 0)
    col1, row1 = table[1 + 1], table[1 + 8]  # patch (row 0, col 1) and (row 1, col 0)
    assert col1[0].item() == pytest.approx(math.sin(1.0), abs=1e-6)
    assert col1[8].item() == pytest.approx(math.cos(1.0), abs=1e-6)
    assert col1[16].item() == pytest.approx(0.0, abs=1e-6) and col1[24].item() == pytest.approx(1.0, abs=1e-6)
    assert row1[0].item() == pytest.approx(0.0, abs=1e-6)
    assert row1[16].item() == pytest.approx(math.sin(1.0), abs=1e-6)
    assert row1[17].item() == pytest.approx(math.sin(10000 ** -0.125), abs=1e-6)
    assert not audiomae_model.AudioMAEViT(32, 1, 2).pos_embed.requires_grad


def test_vit_equals_transformers_vit(tiny):
    """Same weights in transformers' ViTModel give the same patch tokens (timm arithmetic)."""
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                    image_size=(1024, 128), patch_size=16, num_channels=1, layer_norm_eps=1e-6, qkv_bias=True,
                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    hf = ViTModel(cfg, add_pooling_layer=False).eval()
    ours = tiny.model.state_dict()
    mapped = {
        "embeddings.cls_token": ours["cls_token"],
        "embeddings.position_embeddings": ours["pos_embed"],
        "embeddings.patch_embeddings.projection.weight": ours["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": ours["patch_embed.proj.bias"],
    }
    for i in range(2):
        b = f"blocks.{i}."
        for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
            mapped[f"layers.{i}.attention.{name}.weight"] = ours[b + "attn.qkv.weight"].chunk(3)[j]
            mapped[f"layers.{i}.attention.{name}.bias"] = ours[b + "attn.qkv.bias"].chunk(3)[j]
        for src, dst in (("attn.proj", "attention.o_proj"), ("norm1", "layernorm_before"),
                         ("norm2", "layernorm_after"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            for p in ("weight", "bias"):
                mapped[f"layers.{i}.{dst}.{p}"] = ours[f"{b}{src}.{p}"]
    missing = set(hf.state_dict()) - set(mapped)
    assert missing <= {"layernorm.weight", "layernorm.bias"}
    hf.load_state_dict(mapped, strict=False)
    x = tiny.featurize(_waves()[:2])
    with torch.no_grad():
        expected = hf(x.unsqueeze(1), output_hidden_states=True).hidden_states[-1][:, 1:]
        got = tiny.forward_tokens(x)
    assert got.shape == (2, 512, 32)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_release_checkpoint_loads_without_trust(tiny, tmp_path):
    """The release pickles ``{"model", "args": Namespace, "epoch"}``; it loads with weights_only,
    and the default pools with the pre-trained final norm (the decoder: test_encoder_audiomae_decoder)."""
    state = _release_state(tiny)
    path = tmp_path / "pretrained.pth"
    torch.save({"model": state, "args": argparse.Namespace(model="mae_vit_base_patch16"), "epoch": 32}, path)
    enc = load_encoder("audiomae", config="tiny", weights=path)
    assert enc.weights_info.status == "pretrained" and enc.weights_info.sha256
    torch.testing.assert_close(enc.model.fc_norm.weight, state["norm.weight"])
    waves = _waves()[:2]
    x = enc.featurize(waves)
    with torch.no_grad():
        tokens = enc.model(x)
        expected = torch.nn.functional.layer_norm(tokens.mean(1), (32,), state["norm.weight"], state["norm.bias"], 1e-6)
    torch.testing.assert_close(enc.embed(waves), expected)
    # The reference preset: identity fc_norm, un-normalised fbank.
    ref = load_encoder("audiomae", config={"name": "tiny", "normalize": False, "fc_norm": "identity"}, weights=path)
    assert torch.all(ref.model.fc_norm.weight == 1) and torch.all(ref.model.fc_norm.bias == 0)
    torch.testing.assert_close(ref.model.blocks[1].mlp.fc2.weight, state["blocks.1.mlp.fc2.weight"])


def test_reference_preset():
    spec = audiomae.SPEC
    assert audiomae.PRESETS["reference"] == {"embed_dim": 768, "depth": 12, "num_heads": 12,
                                              "normalize": False, "fc_norm": "identity"}
    assert audiomae.PRESETS["default"]["normalize"] and audiomae.PRESETS["default"]["fc_norm"] == "pretrained"
    with pytest.raises(ValueError, match="fc_norm must be one of"):
        audiomae_model.build(spec, config={"name": "tiny", "fc_norm": "bogus"}, weights=None, device="cpu", seed=0)
    with pytest.raises(ValueError, match="no setting 'depthh'"):
        audiomae_model.build(spec, config={"name": "tiny", "depthh": 3}, weights=None, device="cpu", seed=0)


def test_mismatching_checkpoints_name_the_keys(tiny, tmp_path):
    state = _release_state(tiny)
    broken = {k: v for k, v in state.items() if k != "blocks.1.attn.qkv.weight"}
    torch.save({"model": broken}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"blocks\.1\.attn\.qkv\.weight"):
        load_encoder("audiomae", config="tiny", weights=tmp_path / "missing.pth")
    state["pos_embed"] = torch.zeros(1, 257, 32)
    torch.save({"model": state}, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match=r"pos_embed: checkpoint \(1, 257, 32\) vs model \(1, 513, 32\)"):
        load_encoder("audiomae", config="tiny", weights=tmp_path / "shape.pth")
    # The full-size release does not fit the tiny config: the error names the layers.
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_encoder("audiomae", config={"name": "tiny", "embed_dim": 64, "num_heads": 4},
                     weights=tmp_path / "missing.pth", strict=False)


def test_export_round_trip(tiny, tmp_path):
    path = tmp_path / "aligned.pt"
    torch.save(tiny.export_state_dict(), path)
    assert "fc_norm.weight" in tiny.export_state_dict() and "norm.weight" not in tiny.export_state_dict()
    again = load_encoder("audiomae", config="tiny", weights=path)
    waves = _waves()[1:3]
    torch.testing.assert_close(again.embed(waves), tiny.embed(waves))


def test_random_init_is_seeded():
    a = load_encoder("audiomae", config="tiny", random_init="always", seed=3)
    b = load_encoder("audiomae", config="tiny", random_init="always", seed=3)
    c = load_encoder("audiomae", config="tiny", random_init="always", seed=4)
    w = _waves()[1:2]
    torch.testing.assert_close(a.embed(w), b.embed(w))
    assert not torch.allclose(a.embed(w), c.embed(w))
    assert a.weights_info.label() == "random init (seed 3)" and a.fingerprint() != c.fingerprint()


def test_clip_policy_reproduces_the_reference_chunking():
    """Trim, non-overlapping 10 s chunks, the last kept shorter, chunks of <= 400 samples dropped."""
    policy = audiomae.SPEC.clip
    rng = np.random.default_rng(0)
    for extra, expected in ((5 * SR, [160000, 160000, 80000]), (400, [160000, 160000]), (401, [160000, 160000, 401])):
        wave = rng.uniform(-0.5, 0.5, 20 * SR + extra).astype(np.float32)
        assert [len(w) for w in iter_windows(wave, SR, policy)] == expected


def test_masked_modelling_defaults_apply(tiny):
    x = tiny.featurize(_waves()[:2])
    masked, mask = tiny.mask_inputs(x, 0.5, torch.Generator().manual_seed(0))
    assert masked.shape == x.shape and mask.shape == (2, 1024)
    assert tiny.reconstruction_target(x).shape == (2, 1024, 128)


@pytest.mark.slow
def test_full_size_random_init_embeds_one_clip():
    enc = load_encoder("audiomae", random_init="always")
    assert sum(p.numel() for p in enc.model.parameters()) == 85_648_128
    emb = enc.embed([0.1 * torch.randn(4 * SR, generator=torch.Generator().manual_seed(0))])
    assert emb.shape == (1, 768) and torch.isfinite(emb).all()
