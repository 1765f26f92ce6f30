"""The packed embedding store: resume after Ctrl-C and kill -9, corruption, versions, migration, sharing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from acubench.engine import cache as store
from acubench.engine.cache import EmbeddingCache
from acubench.engine.extract import clip_keys, extract
from acubench.specs import ClipPolicy
from toy_encoder import ToyEncoder

POLICY = ClipPolicy(trim_silence=False, window_seconds=0.5)
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def clips(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(7):
        path = tmp_path / "audio" / f"c{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(str(path), (0.1 * rng.standard_normal(int(16000 * (0.4 + 0.3 * i)))).astype(np.float32), 16000,
                 subtype="FLOAT")
        rows.append({"clip_id": f"c{i}", "path": str(path)})
    return pd.DataFrame(rows)


def _segments(root: Path) -> list[Path]:
    return sorted(root.rglob("seg-*.npy"))


def test_a_finished_extraction_is_one_packed_segment_read_back_without_forward(clips, tmp_path):
    cache = EmbeddingCache(tmp_path, "fp", task="T01")
    first = extract(ToyEncoder(), clips, POLICY, cache=cache, batch_size=2)
    (segment,) = _segments(tmp_path)
    data = np.load(segment, mmap_mode="r")
    assert data.dtype == store.row_dtype(8) and len(data) == 7
    enc = ToyEncoder()
    again = extract(enc, clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T01"))
    assert again.cached == 7 and enc.calls == 0
    np.testing.assert_array_equal(again.embeddings, first.embeddings)


def test_ctrl_c_keeps_finished_clips_and_the_rerun_resumes(clips, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        extract(ToyEncoder(fail_after=5), clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T"), batch_size=2)
    assert not list(tmp_path.rglob("*.tmp"))
    resumed = extract(ToyEncoder(), clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T"), batch_size=2)
    assert 0 < resumed.cached < 7 and resumed.cached + resumed.computed == 7
    fresh = extract(ToyEncoder(), clips, POLICY, batch_size=2)
    np.testing.assert_allclose(resumed.embeddings, fresh.embeddings, rtol=1e-6)


CHILD = """
import sys, time, pandas as pd
sys.path.insert(0, sys.argv[3])
from acubench.engine import cache
from acubench.engine.cache import EmbeddingCache
from acubench.engine.extract import extract
from acubench.specs import ClipPolicy
from toy_encoder import ToyEncoder
cache.FLUSH_ROWS = 1
class Slow(ToyEncoder):
    def forward_tokens(self, x):
        time.sleep(float(sys.argv[4]))
        return super().forward_tokens(x)
clips = pd.read_csv(sys.argv[1])
ext = extract(Slow(), clips, ClipPolicy(trim_silence=False, window_seconds=0.5),
              cache=EmbeddingCache(sys.argv[2], "fp", task="T"), batch_size=1)
print(ext.computed, ext.cached)
"""


def _child(clips: pd.DataFrame, tmp_path: Path, delay: float) -> subprocess.Popen:
    table = tmp_path / "clips.csv"
    clips.to_csv(table, index=False)
    return subprocess.Popen([sys.executable, "-c", CHILD, str(table), str(tmp_path / "cache"), str(TESTS), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_mid_run_loses_nothing_written_and_the_rerun_resumes(clips, tmp_path):
    proc = _child(clips, tmp_path, 0.15)
    deadline = time.time() + 60
    while len(_segments(tmp_path / "cache")) < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(_segments(tmp_path / "cache"))
    assert 2 <= done < 7
    resumed = extract(ToyEncoder(), clips, POLICY, cache=EmbeddingCache(tmp_path / "cache", "fp", task="T"))
    assert resumed.cached >= done and resumed.cached + resumed.computed == 7
    fresh = extract(ToyEncoder(), clips, POLICY, batch_size=1)
    np.testing.assert_allclose(resumed.embeddings, fresh.embeddings, rtol=1e-6)
    assert len(_segments(tmp_path / "cache")) == 1


def test_two_concurrent_runs_on_one_store_lose_nothing(clips, tmp_path):
    procs = [_child(clips, tmp_path, 0.02) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    enc = ToyEncoder()
    again = extract(enc, clips, POLICY, cache=EmbeddingCache(tmp_path / "cache", "fp", task="T"))
    assert again.cached == 7 and enc.calls == 0
    np.testing.assert_allclose(again.embeddings, extract(ToyEncoder(), clips, POLICY).embeddings, rtol=1e-6)


def test_a_corrupted_row_fails_its_checksum_and_is_recomputed(clips, tmp_path):
    first = extract(ToyEncoder(), clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T"))
    (segment,) = _segments(tmp_path)
    data = np.load(segment)
    data["emb"][3, 2] += 1.0  # a plausible value, not NaN: only the checksum can tell
    np.save(segment, data)
    enc = ToyEncoder()
    again = extract(enc, clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T"))
    assert again.cached == 6 and again.computed == 1
    np.testing.assert_allclose(again.embeddings, first.embeddings, rtol=1e-6)


@pytest.mark.parametrize("damage", ["garbage file", "other store format", "other row layout"])
def test_a_foreign_or_damaged_store_is_rebuilt_never_read(clips, tmp_path, damage):
    extract(ToyEncoder(), clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T"))
    (segment,) = _segments(tmp_path)
    if damage == "garbage file":
        segment.write_bytes(b"\x93NUMPY garbage")
    elif damage == "other store format":
        header = segment.parent / "store.json"
        header.write_text(json.dumps({**json.loads(header.read_text()), "format": 1}))
    else:
        np.save(segment, np.zeros(7, dtype=[("key", "S16"), ("emb", "<f4", (8,))]))
    again = extract(ToyEncoder(), clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T"))
    assert again.computed == 7 and again.cached == 0 and np.isfinite(again.embeddings).all()
    assert json.loads((segment.parent / "store.json").read_text())["format"] == store.STORE_FORMAT


def test_another_task_of_the_same_encoder_reuses_shared_clips(clips, tmp_path):
    extract(ToyEncoder(), clips.iloc[:5], POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T01"))
    enc = ToyEncoder()
    ext = extract(enc, clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T02"))
    assert ext.cached == 5 and ext.computed == 2
    # T02's own store is now complete on its own.
    other = ToyEncoder()
    extract(other, clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T02"))
    assert other.calls == 0
    bf16 = extract(ToyEncoder(), clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T02", precision="bf16"))
    assert bf16.cached == 0  # bf16 embeddings never stand in for fp32 ones


def test_the_per_clip_cache_of_0_1_is_migrated_once(clips, tmp_path):
    fresh = extract(ToyEncoder(), clips, POLICY)
    keys = clip_keys(clips, POLICY, 16000)
    legacy = tmp_path / "embeddings" / "fp"
    for key, emb in zip(keys[:6], fresh.embeddings[:6], strict=True):
        (legacy / key[:2]).mkdir(parents=True, exist_ok=True)
        np.save(legacy / key[:2] / f"{key}.npy", emb)
    np.save(legacy / keys[5][:2] / f"{keys[5]}.npy", np.full(8, np.nan, dtype=np.float32))  # damaged: not migrated
    ext = extract(ToyEncoder(), clips, POLICY, cache=EmbeddingCache(tmp_path, "fp", task="T"))
    assert ext.cached == 5 and ext.computed == 2
    np.testing.assert_allclose(ext.embeddings, fresh.embeddings, rtol=1e-6)
    assert not list(legacy.glob("??/*.npy")) and (legacy / store.MIGRATED).is_dir()

