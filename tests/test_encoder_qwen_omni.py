"""Qwen2.5-Omni audio tower: Whisper front-end, packing, pooling, reading only the tower's tensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors
import torch
from safetensors.torch import save_file

from acubench.checkpoints import CheckpointError
from acubench.encoders import _qwen_omni_model as qwen_omni_model
from acubench.encoders import qwen_omni
from acubench.loading import load_encoder
from acubench.plugins import get_encoder

SR = 16000


def _waves(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    # 5 s, 2 s + 77 samples, 100 samples (padded to 3 frames), 31 s (cut to 30 s)
    return [0.1 * torch.randn(n, generator=gen) for n in (5 * SR, 2 * SR + 77, 100, 31 * SR)]


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("qwen-omni", config="tiny", random_init="always")


def test_tiny_embeds_a_batch_of_different_lengths(tiny):
    waves = _waves()
    emb = tiny.embed(waves)
    assert emb.shape == (4, 24) and torch.isfinite(emb).all()
    alone = torch.cat([tiny.embed([w]) for w in waves])
    torch.testing.assert_close(emb, alone, atol=1e-5, rtol=0)


def test_spec_and_registry():
    spec = get_encoder("qwen-omni")
    assert spec is qwen_omni.SPEC and get_encoder("qwen2.5-omni") is spec
    assert (spec.sample_rate, spec.embed_dim) == (16000, 2048)
    assert spec.configs == ("default", "7b", "tiny")
    assert spec.weights.hf_repo == "Qwen/Qwen2.5-Omni-3B"
    assert qwen_omni.PRESETS["7b"]["audio"]["output_dim"] == 3584
    assert spec.clip.window_seconds == 30 and not spec.clip.trim_silence


def test_frontend_is_the_released_whisper_extractor(tiny):
    from transformers import WhisperFeatureExtractor

    fe = tiny.extractor
    assert (fe.sampling_rate, fe.feature_size, fe.hop_length, fe.n_fft) == (16000, 128, 160, 400)
    assert (fe.chunk_length, fe.n_samples, fe.nb_max_frames) == (30, 480000, 3000)
    released = WhisperFeatureExtractor(feature_size=128)
    waves = _waves()[:3]
    x = tiny.featurize(waves)
    # Frames per clip: the attention mask's count, ceil(n / 160); the 100-sample clip is padded to 480.
    assert x[..., -1].sum(dim=1).tolist() == [500, 201, 3]
    assert x.shape == (3, 500, 129)
    for row, wave in zip(x, waves, strict=True):
        out = released(np.pad(wave.numpy(), (0, max(0, 480 - len(wave)))), sampling_rate=SR,
                       padding="max_length", return_attention_mask=True, return_tensors="pt")
        n = int(out["attention_mask"].sum())
        torch.testing.assert_close(row[:n, :128], out["input_features"][0, :, :n].T, atol=1e-6, rtol=0)
        assert torch.all(row[n:] == 0)


def test_output_frames_hand_checked():
    lens = torch.tensor([3000, 500, 201, 3])
    # stride-2 conv: (L - 1) // 2 + 1 → 1500, 250, 101, 2; stride-2 pooling: (a - 2) // 2 + 1
    assert qwen_omni_model.output_frames(lens).tolist() == [750, 125, 50, 1]


def test_tokens_are_the_towers_output_frames(tiny):
    """Each clip's tokens are what the tower gives that clip alone (the packed input of the
    Omni thinker); positions past a clip's end hold its mean, so the mean pool is exact."""
    waves = _waves()[:3]
    x = tiny.featurize(waves)
    with torch.no_grad():
        tokens = tiny.forward_tokens(x)
        assert tokens.shape == (3, 125, 24)
        for i, n_out in enumerate([125, 50, 1]):
            n = int(x[i, :, -1].sum())
            alone = tiny.tower(input_features=x[i, :n, :128].T, feature_lens=torch.tensor([n])).last_hidden_state
            torch.testing.assert_close(tokens[i, :n_out], alone, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(tiny.pool(tokens[i:i + 1])[0], alone.mean(0), atol=1e-5, rtol=1e-5)
            assert torch.allclose(tokens[i, n_out:], alone.mean(0).expand(125 - n_out, -1), atol=1e-5)


def test_masked_modelling_never_masks_padding(tiny):
    x = tiny.featurize(_waves()[:2])
    masked, mask = tiny.mask_inputs(x, 0.9, torch.Generator().manual_seed(0))
    assert masked.shape == x.shape and mask.shape == (2, 500)
    assert not mask[1, 201:].any() and mask[0].float().mean() > 0.8
    assert torch.equal(masked[..., -1], x[..., -1])
    assert tiny.reconstruction_target(x).shape == (2, 500, 128)
    # Masked frames hold the clip's mean frame over its own frames.
    mean1 = x[1, :201, :128].mean(0)
    first = int(mask[1].nonzero()[0])
    torch.testing.assert_close(masked[1, first, :128], mean1)


def _omni_folder(tmp_path, tower_state, *, output_dim=24):
    """A fake Qwen2.5-Omni repository: config, two shards and an index; the first shard holds
    only language-model tensors, the second the audio tower and more LLM tensors."""
    folder = tmp_path / "Qwen2.5-Omni-tiny"
    folder.mkdir()
    audio = dict(qwen_omni.PRESETS["tiny"]["audio"], output_dim=output_dim)
    config = {"model_type": "qwen2_5_omni", "architectures": ["Qwen2_5OmniForConditionalGeneration"],
              "thinker_config": {"model_type": "qwen2_5_omni_thinker", "audio_config": audio,
                                 "text_config": {"hidden_size": output_dim}}}
    (folder / "config.json").write_text(json.dumps(config))
    llm_1 = {"thinker.model.embed_tokens.weight": torch.zeros(50, output_dim),
             "thinker.model.layers.0.self_attn.q_proj.weight": torch.zeros(output_dim, output_dim),
             "talker.model.layers.0.mlp.up_proj.weight": torch.zeros(8, 8)}
    llm_2 = {"thinker.visual.blocks.0.attn.qkv.weight": torch.zeros(12, 4),
             "thinker.lm_head.weight": torch.zeros(50, 8)}
    shard_2 = {**{f"thinker.audio_tower.{k}": v.to(torch.bfloat16) for k, v in tower_state.items()}, **llm_2}
    save_file(llm_1, str(folder / "model-00001-of-00002.safetensors"))
    save_file(shard_2, str(folder / "model-00002-of-00002.safetensors"))
    weight_map = {**{k: "model-00001-of-00002.safetensors" for k in llm_1},
                  **{k: "model-00002-of-00002.safetensors" for k in shard_2}}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


def test_sharded_checkpoint_reads_only_the_audio_tower(tiny, tmp_path, monkeypatch):
    tower = {k: v.clone() for k, v in tiny.tower.state_dict().items()}
    folder = _omni_folder(tmp_path, tower)
    opened, fetched = [], []
    real_open = safetensors.safe_open

    class Spy:
        def __init__(self, path, framework, device="cpu"):
            opened.append(path.rsplit("/", 1)[-1])
            self._inner = real_open(path, framework=framework, device=device)

        def __enter__(self):
            self._fh = self._inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self._inner.__exit__(*exc)

        def keys(self):
            return self._fh.keys()

        def get_tensor(self, name):
            fetched.append(name)
            return self._fh.get_tensor(name)

    monkeypatch.setattr(safetensors, "safe_open", Spy)
    enc = load_encoder("qwen-omni", config="tiny", weights=folder)
    assert opened == ["model-00002-of-00002.safetensors"]
    assert sorted(fetched) == sorted(f"thinker.audio_tower.{k}" for k in tower)
    assert enc.embed_dim == 24 and enc.weights_info.status == "pretrained"
    # The bf16 release is read into the float32 tower.
    for k, v in enc.tower.state_dict().items():
        torch.testing.assert_close(v, tower[k].to(torch.bfloat16).float())


def test_hub_resolution_fetches_only_the_towers_files(tiny, tmp_path, monkeypatch):
    """From the Hugging Face cache, config + index + the tower's shard suffice: the
    language-model-only shard is never needed (nor downloaded when online)."""
    import shutil

    import huggingface_hub.constants

    folder = _omni_folder(tmp_path, tiny.tower.state_dict())
    cache = tmp_path / "hub"
    repo = cache / "models--Qwen--Qwen2.5-Omni-3B"
    snapshot = repo / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    for name in ("config.json", "model.safetensors.index.json", "model-00002-of-00002.safetensors"):
        shutil.copy(folder / name, snapshot / name)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    requested = []
    real = qwen_omni._hub_download
    monkeypatch.setattr(qwen_omni, "_hub_download",
                        lambda repo, name: requested.append((repo, name)) or real(repo, name))
    enc = load_encoder("qwen-omni", config="tiny")
    assert enc.weights_info.source == str(snapshot)
    assert requested == [("Qwen/Qwen2.5-Omni-3B", "config.json"),
                         ("Qwen/Qwen2.5-Omni-3B", "model.safetensors.index.json"),
                         ("Qwen/Qwen2.5-Omni-3B", "model-00002-of-00002.safetensors")]
    again = load_encoder("qwen-omni", config="tiny", weights="Qwen/Qwen2.5-Omni-3B")
    waves = _waves()[:2]
    torch.testing.assert_close(enc.embed(waves), tiny.embed(waves), atol=1e-2, rtol=1e-2)  # bf16 copy
    torch.testing.assert_close(again.embed(waves), enc.embed(waves))


def test_config_and_weights_must_agree(tiny, tmp_path):
    folder = _omni_folder(tmp_path, tiny.tower.state_dict())
    with pytest.raises(CheckpointError, match="projects to 24 dims, config 'default' to 2048"):
        load_encoder("qwen-omni", weights=folder)


def test_mismatching_towers_name_the_keys(tiny, tmp_path):
    state = tiny.export_state_dict()
    key = "thinker.audio_tower.layers.1.fc2.weight"
    save_file({k: v for k, v in state.items() if k != key}, str(tmp_path / "missing.safetensors"))
    with pytest.raises(CheckpointError, match=r"layers\.1\.fc2\.weight"):
        load_encoder("qwen-omni", config="tiny", weights=tmp_path / "missing.safetensors")
    save_file(dict(state, **{"thinker.audio_tower.proj.weight": torch.zeros(99, 32)}),
              str(tmp_path / "shape.safetensors"))
    with pytest.raises(CheckpointError, match=r"proj\.weight: checkpoint \(99, 32\) vs model \(24, 32\)"):
        load_encoder("qwen-omni", config="tiny", weights=tmp_path / "shape.safetensors")
    index = {"weight_map": {"thinker.audio_tower.conv1.weight": "gone.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=r"gone\.safetensors: shard listed"):
        load_encoder("qwen-omni", config="tiny", weights=tmp_path)


def test_export_round_trip(tiny, tmp_path):
    save_file(tiny.export_state_dict(), str(tmp_path / "tower.safetensors"))
    again = load_encoder("qwen-omni", config="tiny", weights=tmp_path / "tower.safetensors")
    waves = _waves()[:2]
    torch.testing.assert_close(again.embed(waves), tiny.embed(waves))


@pytest.mark.slow
def test_full_size_random_init_embeds_one_clip():
    """The 3B tower (the default; 637.7M parameters, ~2.6 GB in float32) is the smaller one."""
    enc = load_encoder("qwen-omni", random_init="always")
    assert sum(p.numel() for p in enc.parameters()) == 637_676_544
    emb = enc.embed([0.1 * torch.randn(2 * SR, generator=torch.Generator().manual_seed(0))])
    assert emb.shape == (1, 2048) and torch.isfinite(emb).all()
