"""A real 2-process alignment under torchrun (CPU, gloo): the global batch is split over the ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tiny_align import make_corpus


@pytest.mark.slow
def test_torchrun_two_processes_align_on_cpu(tmp_path, bert_teacher):
    frame = make_corpus(tmp_path, n_subjects=16, seconds=2.1)
    frame.to_csv(tmp_path / "corpus.csv", index=False)
    out = tmp_path / "run"
    base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "-m", "acubench", "align", "--encoder", "opera-gt", "--config", "tiny", "--random-init",
            "--corpus", str(tmp_path / "corpus.csv"), "--teacher", str(bert_teacher), "--epochs", "2",
            "--lr", "1e-3", "--clip-seconds", "2.05", "--no-augment", "--val-fraction", "0.25", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACUBENCH_CACHE": str(tmp_path / "cache"),
           "ACUBENCH_DATA": str(tmp_path / "no-data")}
    bad = subprocess.run([*base, "--batch-size", "7"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode != 0 and "--batch-size 7 is the global batch and must divide evenly over the 2" in bad.stderr
    done = subprocess.run([*base, "--batch-size", "8"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "alignment.json").read_text())
    steps = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    # 24 training pairs, global batch 8 (4 per rank): 3 steps per epoch, logged once (rank 0)
    assert len([s for s in steps if s["type"] == "step"]) == 2 * 3
    assert len(summary["curve"]) == 3 and summary["corpus"]["train_pairs"] == 24
    ckpt = torch.load(out / "acula_final.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and "space_map" in ckpt
