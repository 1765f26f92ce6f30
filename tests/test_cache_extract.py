"""The embedding cache and batched extraction: reuse, crash safety, bad audio, batching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from acubench.audio import AudioError
from acubench.cache import EmbeddingCache, clip_key
from acubench.extract import extract
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


def test_interrupted_run_leaves_complete_entries_and_resumes(clips, tmp_path):
    enc = ToyEncoder(fail_after=5)
    cache = EmbeddingCache(tmp_path / "cache", enc.fingerprint())
    with pytest.raises(KeyboardInterrupt):
        extract(enc, clips, POLICY, cache=cache, batch_size=2)
    files = list((tmp_path / "cache").rglob("*"))
    assert not [f for f in files if ".tmp" in f.name]
    stored = [f for f in files if f.suffix == ".npy"]
    assert 0 < len(stored) < 7
    for f in stored:
        assert np.load(f).shape == (8,)
    resumed = extract(ToyEncoder(), clips, POLICY, cache=cache, batch_size=2)
    assert resumed.cached == len(stored) and resumed.computed == 7 - len(stored)
    fresh = extract(ToyEncoder(), clips, POLICY, batch_size=2)
    np.testing.assert_allclose(resumed.embeddings, fresh.embeddings, rtol=1e-6)


def test_damaged_entry_is_recomputed(clips, tmp_path):
    enc = ToyEncoder()
    cache = EmbeddingCache(tmp_path / "cache", enc.fingerprint())
    extract(enc, clips.iloc[:1], POLICY, cache=cache)
    (entry,) = (tmp_path / "cache").rglob("*.npy")
    entry.write_bytes(b"garbage")
    again = extract(ToyEncoder(), clips.iloc[:1], POLICY, cache=cache)
    assert again.computed == 1


def test_key_depends_on_file_segment_and_policy(clips):
    p = clips.path[0]
    base = clip_key(p, start=None, end=None, channel=None, policy=POLICY, sample_rate=16000)
    assert base == clip_key(p, start=float("nan"), end=None, channel=None, policy=POLICY, sample_rate=16000)
    assert base != clip_key(p, start=0.1, end=None, channel=None, policy=POLICY, sample_rate=16000)
    assert base != clip_key(p, start=None, end=None, channel=None, policy=ClipPolicy(window_seconds=1), sample_rate=16000)
    assert base != clip_key(p, start=None, end=None, channel=None, policy=POLICY, sample_rate=48000)
    sf.write(p, np.ones(800, dtype=np.float32) * 0.1, 16000)
    assert base != clip_key(p, start=None, end=None, channel=None, policy=POLICY, sample_rate=16000)


def test_bad_audio_stops_or_is_skipped_and_counted(clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFFxxxxWAVE")
    table = pd.concat([clips, pd.DataFrame([{"clip_id": "bad", "path": str(broken)}])], ignore_index=True)
    with pytest.raises(AudioError, match="broken.wav"):
        extract(ToyEncoder(), table, POLICY)
    ext = extract(ToyEncoder(), table, POLICY, skip_bad_audio=True)
    assert [c for c, _ in ext.bad] == ["bad"] and ext.ok.sum() == 7 and np.isnan(ext.embeddings[7]).all()


def test_bf16_autocast_stays_close(clips):
    a = extract(ToyEncoder(), clips, POLICY).embeddings
    b = extract(ToyEncoder(), clips, POLICY, precision="bf16").embeddings
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99
