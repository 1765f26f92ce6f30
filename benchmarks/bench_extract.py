"""Extraction throughput: batched acubench extraction vs the reference's one-file, batch-1 loop.

For light encoders (logmel) the figure of merit is clips/s, batched vs the
reference loop. For compute-bound encoders (OPERA-GT) it is achieved GFLOP/s
against this machine's own fp32 matmul GFLOP/s measured in the same run, and
the effect of bf16 autocast (speed, cosine similarity to fp32 embeddings).

    python benchmarks/bench_extract.py --encoder logmel --clips 200 --seconds 8
    python benchmarks/bench_extract.py --encoder opera-gt --clips 24 --seconds 8 --bf16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from _common import matmul_gflops, synthetic_recordings, write_result
from acubench.audio import iter_windows, load_clip
from acubench.extract import extract
from acubench.loading import load_encoder


def reference_loop(encoder, paths, policy) -> tuple[float, np.ndarray]:
    """One file at a time, one window per forward pass (how the OPERA benchmark extracts)."""
    t0 = time.perf_counter()
    out = []
    for p in paths:
        wave = load_clip(p, encoder.sample_rate)
        embs = [encoder.embed([torch.from_numpy(w)]) for w in iter_windows(wave, encoder.sample_rate, policy)]
        out.append(torch.cat(embs).mean(0).numpy())
    return time.perf_counter() - t0, np.stack(out)


def window_gflop(encoder, policy) -> float:
    """FLOPs of one model input (counted by torch's FLOP counter on the real forward)."""
    from torch.utils.flop_counter import FlopCounterMode

    size = int((policy.window_seconds or policy.min_seconds or 8.0) * encoder.sample_rate)
    x = encoder.featurize([torch.zeros(size)])
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        encoder.pool(encoder.forward_tokens(x))
    return counter.get_total_flops() / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="logmel")
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true", help="also time bf16 autocast and compare embeddings")
    args = ap.parse_args()

    encoder = load_encoder(args.encoder, random_init="always", device=args.device)
    policy = encoder.spec.clip
    with tempfile.TemporaryDirectory() as tmp:
        paths = synthetic_recordings(Path(tmp), args.clips, args.seconds)
        table = pd.DataFrame({"clip_id": [p.name for p in paths], "path": [str(p) for p in paths]})
        extract(encoder, table.iloc[:2], policy, batch_size=args.batch_size)  # warm-up (allocator, kernels)
        ref_s, ref_emb = reference_loop(encoder, paths, policy)
        ext = extract(encoder, table, policy, batch_size=args.batch_size)
        windows = ext.windows
        result = {
            "encoder": args.encoder, "clips": args.clips, "seconds_per_clip": args.seconds,
            "batch_size": args.batch_size, "device": args.device, "windows": windows,
            "reference_loop_clips_per_s": args.clips / ref_s,
            "batched_clips_per_s": args.clips / ext.seconds,
            "speedup": ref_s / ext.seconds,
            "max_abs_diff_vs_reference_loop": float(np.abs(ref_emb - ext.embeddings).max()),
        }
        if args.encoder != "logmel":
            gflop = window_gflop(encoder, policy)
            peak = matmul_gflops(args.device)
            achieved = gflop * windows / ext.seconds
            result.update({"gflop_per_window": gflop, "achieved_gflops": achieved,
                           "matmul_gflops_fp32": peak, "fraction_of_matmul_peak": achieved / peak})
        if args.bf16:
            extract(encoder, table.iloc[:2], policy, batch_size=args.batch_size, precision="bf16")  # warm-up
            bf = extract(encoder, table, policy, batch_size=args.batch_size, precision="bf16")
            a, b = ext.embeddings, bf.embeddings
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            result.update({"bf16_clips_per_s": args.clips / bf.seconds, "bf16_speedup": ext.seconds / bf.seconds,
                           "bf16_cosine_min": float(cos.min()), "bf16_cosine_mean": float(cos.mean())})
    write_result(f"extract-{args.encoder}-{args.device}", result)


if __name__ == "__main__":
    main()
