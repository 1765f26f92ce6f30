"""torchrun: two CPU ranks (gloo) give the single-process results; a failed rank stops the other; a rerun resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "acubench"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "ACUBENCH_CACHE": str(tmp_path / "cache"),
            "ACUBENCH_DATA": str(tmp_path / "no-data")}


def _write(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sf.write(str(path), (0.1 * rng.standard_normal(16000 + 1000 * seed)).astype(np.float32), 16000)


@pytest.mark.slow
def test_a_failed_rank_stops_the_other_and_the_rerun_resumes_to_the_single_process_result(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    for i in range(6):
        _write(folder / f"r{i}.wav", i)
    (folder / "r1.wav").write_bytes(b"RIFF....WAVEfmt garbage")  # in rank 1's share (files 1, 3, 5)
    env = _env(tmp_path)
    cmd = [*TORCHRUN, "embed", str(folder), "-e", "logmel", "--device", "cpu", "-o", str(tmp_path / "e.npy")]
    failed = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert failed.returncode != 0 and not (tmp_path / "e.npy").exists()
    assert "acubench: error:" in failed.stderr and "r1.wav: cannot be decoded" in failed.stderr
    _write(folder / "r1.wav", 1)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 from cache, 3 computed" in done.stderr  # rank 0's share survived the failed attempt
    single = subprocess.run([sys.executable, "-m", "acubench", "embed", str(folder), "-e", "logmel", "--device", "cpu",
                             "--no-cache", "-o", str(tmp_path / "single.npy")], capture_output=True, text=True,
                            env=env, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), np.load(tmp_path / "single.npy"), rtol=1e-5, atol=1e-5)
    ids = json.loads((tmp_path / "e.ids.json").read_text())["ids"]
    assert ids == json.loads((tmp_path / "single.ids.json").read_text())["ids"]


@pytest.mark.slow
def test_two_ranks_run_gives_the_single_process_results(tmp_path, demo_dir):
    env = _env(tmp_path)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "demo").symlink_to(demo_dir.parent)
    args = ["run", "--encoder", "logmel", "--tasks", "demo-cough,demo-fev1", "--seeds", "2", "--bootstrap", "20",
            "--device", "cpu"]
    two = subprocess.run([*TORCHRUN, *args, "--out", str(tmp_path / "two")], capture_output=True, text=True, env=env,
                         timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert json.loads((tmp_path / "two" / "config.json").read_text())["world_size"] == 2
    one = subprocess.run([sys.executable, "-m", "acubench", *args, "--no-cache", "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]

    def records(run: str) -> list[tuple]:
        rows = [json.loads(line) for line in (tmp_path / run / "results.jsonl").read_text().splitlines()]
        return sorted((r["task"], r["probe"], r["seed"], round(r["value"], 6), tuple(np.round(r["ci95"], 6)))
                      for r in rows)

    assert records("two") == records("one") and len(records("one")) == 4
