"""The embedding cache and batched extraction: reuse, crash safety, bad audio, batching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from acubench.audio import AudioError
from acubench.engine.cache import EmbeddingCache, clip_key
from acubench.engine.extract import extract
from acubench.specs import ClipPolicy
from toy_encoder import ToyEncoder

POLICY = ClipPolicy(trim_silence=False, window_seconds=0.5)


@pytest.fixture
def clips(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(7):
        n = int(16000 * (0.4 + 0.3 * i))  # 0.4 s … 2.2 s: 1 to 8 windows each
        path = tmp_path / f"c{i}.wav"
        sf.write(str(path), (0.1 * rng.standard_normal(n)).astype(np.float32), 16000, subtype="FLOAT")
        rows.append({"clip_id": f"c{i}", "path": str(path)})
    return pd.DataFrame(rows)


def test_second_extraction_runs_no_forward(clips, tmp_path):
    enc = ToyEncoder()
    cache = EmbeddingCache(tmp_path / "cache", enc.fingerprint())
    first = extract(enc, clips, POLICY, cache=cache, batch_size=4)
    assert first.computed == 7 and first.cached == 0 and enc.calls > 0
    assert max(enc.batch_sizes) == 4  # windows from several clips share batches
    enc2 = ToyEncoder()
    second = extract(enc2, clips, POLICY, cache=cache, batch_size=4)
    assert second.cached == 7 and second.computed == 0 and second.windows == 0 and enc2.calls == 0
    np.testing.assert_array_equal(first.embeddings, second.embeddings)


def test_batching_does_not_change_embeddings(clips):
    a = extract(ToyEncoder(), clips, POLICY, batch_size=1)
    b = extract(ToyEncoder(), clips, POLICY, batch_size=16)
    np.testing.assert_allclose(a.embeddings, b.embeddings, rtol=1e-5, atol=1e-6)


def test_clip_embedding_is_the_mean_of_its_windows(clips):
    from acubench.audio import iter_windows, load_clip

    enc = ToyEncoder()
    ext = extract(enc, clips.iloc[[5]], POLICY, batch_size=3)
    wins = list(iter_windows(load_clip(clips.path[5], 16000), 16000, POLICY))
    expected = enc.embed([torch.from_numpy(w) for w in wins]).numpy().mean(axis=0)
    np.testing.assert_allclose(ext.embeddings[0], expected, rtol=1e-5)


def test_key_depends_on_file_segment_and_policy(clips):
    p = clips.path[0]
    base = clip_key(p, start=None, end=None, channel=None, policy=POLICY, sample_rate=16000)
    assert base == clip_key(p, start=float("nan"), end=None, channel=None, policy=POLICY, sample_rate=16000)
    assert base != clip_key(p, start=0.1, end=None, channel=None, policy=POLICY, sample_rate=16000)
    assert base != clip_key(p, start=None, end=None, channel=None, policy=ClipPolicy(window_seconds=1),
                            sample_rate=16000)
    assert base != clip_key(p, start=None, end=None, channel=None, policy=POLICY, sample_rate=48000)
    sf.write(p, np.ones(800, dtype=np.float32) * 0.1, 16000)
    assert base != clip_key(p, start=None, end=None, channel=None, policy=POLICY, sample_rate=16000)


def test_bad_audio_stops_or_is_skipped_and_counted(clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFFxxxxWAVE")
    table = pd.concat([clips, pd.DataFrame([{"clip_id": "bad", "path": str(broken)}])], ignore_index=True)
    with pytest.raises(AudioError, match=r"broken\.wav"):
        extract(ToyEncoder(), table, POLICY)
    ext = extract(ToyEncoder(), table, POLICY, skip_bad_audio=True)
    assert [c for c, _ in ext.bad] == ["bad"] and ext.ok.sum() == 7 and np.isnan(ext.embeddings[7]).all()


def test_bf16_autocast_stays_close(clips):
    a = extract(ToyEncoder(), clips, POLICY).embeddings
    b = extract(ToyEncoder(), clips, POLICY, precision="bf16").embeddings
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99


def test_nan_encoder_output_names_the_clip_and_caches_nothing(clips, tmp_path):
    from acubench.engine.extract import EncoderOutputError

    enc = ToyEncoder()
    with torch.no_grad():
        enc.proj.weight[0, 0] = float("nan")
    cache = EmbeddingCache(tmp_path / "cache", enc.fingerprint())
    with pytest.raises(EncoderOutputError,
                       match=r"encoder toy \(random init \(seed 0\)\) returned NaN/Inf for clip c6"):
        extract(enc, clips, POLICY, cache=cache)
    assert not list((tmp_path / "cache").rglob("seg-*.npy"))


def test_nan_weights_are_refused_at_load_naming_the_tensor(tmp_path):
    from acubench.checkpoints import CheckpointError, fit_state_dict

    enc = ToyEncoder()
    state = {k: v.clone() for k, v in enc.state_dict().items()}
    state["proj.bias"][3] = float("inf")
    with pytest.raises(CheckpointError, match=r"w.pt: 1 tensor\(s\) hold NaN/Inf values: proj.bias \(1 of 8\)"):
        fit_state_dict(enc, state, source="w.pt")


@pytest.mark.parametrize("workers", [0, 2])
def test_worker_processes_give_the_same_embeddings_and_a_time_split(clips, workers):
    ref = extract(ToyEncoder(), clips, POLICY, batch_size=4, workers=0)
    ext = extract(ToyEncoder(), clips, POLICY, batch_size=4, workers=workers, profile=True)
    np.testing.assert_allclose(ext.embeddings, ref.embeddings, rtol=1e-6, atol=1e-7)
    assert set(ext.timing) == {"decode", "wait", "features", "forward"}
    assert all(v >= 0 for v in ext.timing.values()) and ext.timing["decode"] > 0
