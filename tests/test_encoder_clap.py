"""CLAP: released front-end, deterministic cropping, token/pool equivalence, HF-folder loading."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from acubench.audio import iter_windows
from acubench.checkpoints import CheckpointError
from acubench.encoders import _clap_model as clap_model
from acubench.encoders import clap
from acubench.loading import load_encoder
from acubench.plugins import get_encoder

SR = 48000


def _waves(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [0.1 * torch.randn(n, generator=gen) for n in (10 * SR, 3 * SR, SR // 4)]


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("clap", config="tiny", random_init="always")


def _tiny_clap_model(seed: int = 0):
    """A tiny ``ClapModel`` (audio + text towers), as a Hub repository holds one."""
    from transformers import ClapConfig, ClapModel

    audio = dict(clap.PRESETS["tiny"]["audio"])
    text = {"vocab_size": 99, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 32, "projection_dim": 16, "max_position_embeddings": 40}
    torch.manual_seed(seed)
    return ClapModel(ClapConfig(audio_config=audio, text_config=text, projection_dim=16)).eval()


def test_tiny_embeds_a_batch_of_different_lengths(tiny):
    waves = _waves()
    emb = tiny.embed(waves)
    assert emb.shape == (3, 16) and torch.isfinite(emb).all()
    alone = torch.cat([tiny.embed([w]) for w in waves])
    torch.testing.assert_close(emb, alone, atol=1e-5, rtol=0)


def test_spec_and_registry():
    spec = get_encoder("clap")
    assert spec is clap.SPEC and get_encoder("laion-clap") is spec
    assert (spec.sample_rate, spec.embed_dim, spec.task_clip) == (48000, 512, "fixed")
    assert spec.weights.hf_repo == "laion/clap-htsat-unfused" and spec.weights.filename == ""
    assert not spec.clip.trim_silence


def test_frontend_is_the_released_extractor(tiny):
    from transformers import ClapFeatureExtractor

    fe = tiny.extractor
    # laion/clap-htsat-unfused preprocessor_config.json, truncation aside.
    assert (fe.sampling_rate, fe.feature_size, fe.hop_length, fe.fft_window_size) == (48000, 64, 480, 1024)
    assert (fe.max_length_s, fe.nb_max_samples, fe.frequency_min, fe.frequency_max) == (10, 480000, 50, 14000)
    assert (fe.padding, fe.truncation, fe.top_db) == ("repeatpad", "rand_trunc", None)
    released = ClapFeatureExtractor(feature_size=64, sampling_rate=48000, hop_length=480, fft_window_size=1024,
                                    max_length_s=10, frequency_min=50, frequency_max=14000)
    for wave in _waves():
        ours = tiny.featurize([wave])[0]
        theirs = released(wave.numpy(), sampling_rate=SR, truncation="rand_trunc",
                          return_tensors="pt")["input_features"]
        assert ours.shape == (1001, 64)
        torch.testing.assert_close(ours, theirs[0, 0].float(), atol=1e-4, rtol=1e-5)


def test_repeatpad_hand_checked(tiny):
    """A 3 s clip is tiled whole three times (9 s) and then zero-padded to 10 s."""
    wave = _waves()[1]
    tiled = torch.cat([wave, wave, wave, torch.zeros(SR)])
    torch.testing.assert_close(tiny.featurize([wave]), tiny.featurize([tiled]))
    feats = tiny.featurize([wave])[0]
    assert torch.all(feats[-50:] == -100.0)  # silence: 10·log10(1e-10) dB
    assert feats[:850].min() > -100.0


def test_longer_inputs_are_cut_deterministically(tiny):
    long = 0.1 * torch.randn(13 * SR, generator=torch.Generator().manual_seed(5))
    first = tiny.featurize([long])
    torch.testing.assert_close(first, tiny.featurize([long]))
    torch.testing.assert_close(first, tiny.featurize([long[: 10 * SR]]))


def test_clip_policy_windows():
    """10 s windows, the tail kept short (the extractor repeat-pads it), tails under 1 s dropped."""
    policy = clap.SPEC.clip
    wave = np.random.default_rng(0).uniform(-0.5, 0.5, 25 * SR).astype(np.float32)
    assert [len(w) / SR for w in iter_windows(wave, SR, policy)] == [10.0, 10.0, 5.0]
    assert [len(w) / SR for w in iter_windows(wave[: int(20.5 * SR)], SR, policy)] == [10.0, 10.0]
    assert [len(w) / SR for w in iter_windows(wave[: SR // 2], SR, policy)] == [0.5]


def test_tokens_and_pool_equal_the_projected_audio_embedding(tiny):
    """Mean over the time-major tokens is HTS-AT's pooled output; pool adds the projection."""
    x = tiny.featurize(_waves()[:2])
    with torch.no_grad():
        tokens = tiny.forward_tokens(x)
        out = tiny.model(input_features=x.unsqueeze(1))
        assert tokens.shape == (2, 64, 64)
        torch.testing.assert_close(tiny.pool(tokens), out.audio_embeds)
        grid = out.last_hidden_state  # (B, D, 2 frequency groups, 32 time steps)
        torch.testing.assert_close(tokens[:, 3], grid[:, :, 1, 1])  # time 1, frequency group 1


def test_normalize_option(tiny):
    unit = load_encoder("clap", config={"name": "tiny", "normalize": True}, random_init="always")
    emb = unit.embed(_waves()[:2])
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(emb, torch.nn.functional.normalize(tiny.embed(_waves()[:2]), dim=1))


def test_hugging_face_folder_loads_only_the_audio_side(tmp_path):
    model = _tiny_clap_model()
    model.save_pretrained(tmp_path / "clap")
    assert json.loads((tmp_path / "clap" / "config.json").read_text())["model_type"] == "clap"
    enc = load_encoder("clap", config="tiny", weights=tmp_path / "clap")
    assert enc.weights_info.status == "pretrained"
    assert not any(k.startswith("text") for k in enc.export_state_dict())
    waves = _waves()[:2]
    x = enc.featurize(waves)
    with torch.no_grad():
        pooled = model.audio_model(input_features=x.unsqueeze(1)).pooler_output
        expected = model.audio_projection(pooled)
        unit = model.get_audio_features(input_features=x.unsqueeze(1)).pooler_output
    torch.testing.assert_close(enc.embed(waves), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.nn.functional.normalize(enc.embed(waves), dim=1), unit, atol=1e-5, rtol=1e-5)


def test_default_repository_resolves_from_the_hub_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--laion--clap-htsat-unfused"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("c0ffee")
    _tiny_clap_model().save_pretrained(repo / "snapshots" / "c0ffee")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    enc = load_encoder("clap", config="tiny")
    assert enc.weights_info.status == "pretrained"
    assert enc.weights_info.source.rstrip("/").endswith("snapshots/c0ffee")


def test_weights_file_round_trip_and_mismatches(tiny, tmp_path):
    from safetensors.torch import save_file

    state = tiny.export_state_dict()
    assert all(k.startswith(clap_model.AUDIO_PREFIXES) for k in state)
    save_file(state, str(tmp_path / "audio.safetensors"))
    again = load_encoder("clap", config="tiny", weights=tmp_path / "audio.safetensors")
    torch.testing.assert_close(again.embed(_waves()[:1]), tiny.embed(_waves()[:1]))

    key = "audio_model.audio_encoder.layers.2.blocks.0.attention.self.query.weight"
    save_file({k: v for k, v in state.items() if k != key}, str(tmp_path / "missing.safetensors"))
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
        load_encoder("clap", config="tiny", weights=tmp_path / "missing.safetensors")
    bad = dict(state, **{"audio_projection.linear2.weight": torch.zeros(16, 8)})
    save_file(bad, str(tmp_path / "shape.safetensors"))
    with pytest.raises(CheckpointError, match=r"audio_projection\.linear2\.weight: checkpoint \(16, 8\)"):
        load_encoder("clap", config="tiny", weights=tmp_path / "shape.safetensors")
    save_file({"text_model.x": torch.zeros(2)}, str(tmp_path / "text.safetensors"))
    with pytest.raises(CheckpointError, match="no tensor named 'audio_model"):
        load_encoder("clap", config="tiny", weights=tmp_path / "text.safetensors")


def test_not_a_clap_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    with pytest.raises(CheckpointError, match="not a CLAP model"):
        load_encoder("clap", config="tiny", weights=tmp_path)


@pytest.mark.slow
def test_full_size_random_init_embeds_one_clip():
    enc = load_encoder("clap", random_init="always")
    emb = enc.embed([0.1 * torch.randn(4 * SR, generator=torch.Generator().manual_seed(0))])
    assert emb.shape == (1, 512) and torch.isfinite(emb).all()
