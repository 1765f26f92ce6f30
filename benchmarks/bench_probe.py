"""Probe cost: seconds per ``evaluate_seeds`` call (5 seeds) for each head on a task-sized problem.

The default problem is 1000 clips × 768-d embeddings (an OPERA-CT-sized task),
binary, fixed train/val/test 60/20/20, and a 40-subject LOSO regression.

    python benchmarks/bench_probe.py --clips 1000 --dim 768
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import write_result

from acubench.engine.probe import evaluate_seeds
from acubench.probes import PROBES


def problem(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[:, :8] += 0.6 * y[:, None]
    subject = np.array([f"s{i // 2}" for i in range(n)])
    split = np.array(["train", "train", "train", "val", "test"])[(np.arange(n) // 2) % 5]
    return X, y, split, subject


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    X, y, split, subject = problem(args.clips, args.dim)
    seeds = list(range(args.seeds))
    rows = {}
    for head in (spec.id for spec in PROBES):
        t0 = time.perf_counter()
        out = evaluate_seeds(X, y, split, subject, seeds=seeds, kind="binary", n_classes=2, protocol="fixed",
                             probe=head)
        rows[head] = {"seconds_for_all_seeds": round(time.perf_counter() - t0, 3),
                      "auroc_mean": round(float(np.mean([o.value for o in out])), 4)}
        print(head, rows[head], flush=True)
    # LOSO regression as MMLung: 40 subjects × 5 recordings.
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(200, args.dim)).astype(np.float32)
    target = Xr[:, 0] + 3.0
    subj = np.repeat([f"p{i}" for i in range(40)], 5)
    t0 = time.perf_counter()
    evaluate_seeds(Xr, target, np.full(200, "pool"), subj, seeds=seeds, kind="regression", n_classes=0,
                   protocol="loso", probe="linear")
    rows["linear-loso-40-subjects"] = {"seconds_for_all_seeds": round(time.perf_counter() - t0, 3)}
    print(rows, flush=True)
    write_result(f"probe-{args.clips}x{args.dim}", {"clips": args.clips, "dim": args.dim, "seeds": args.seeds,
                                                    "heads": rows})


if __name__ == "__main__":
    main()
