"""Extraction throughput and its time split: acubench's pipeline vs the reference's one-file, batch-1 loop.

For light encoders (logmel) the figure of merit is clips/s, batched vs the
reference loop. For compute-bound encoders (OPERA-GT, AudioMAE, CLAP) it is
achieved GFLOP/s against this machine's own fp32 matmul GFLOP/s measured in
the same run, and the effect of bf16 autocast (speed, cosine similarity to
fp32 embeddings). Every pipeline pass reports where the time went: ``decode``
(worker time decoding, resampling and cutting windows, overlapped), ``wait``
(encoder idle, waiting for input), ``features`` (front-end on the device) and
``forward`` (backbone and pooling); the device is synchronised per batch for
the split, which costs a little throughput.

    python benchmarks/bench_extract.py --encoder logmel --clips 200 --seconds 8
    python benchmarks/bench_extract.py --encoder opera-gt --clips 24 --seconds 8 --bf16
    python benchmarks/bench_extract.py --encoder audiomae --clips 512 --device cuda --batch-size 64 --bf16 \
        --no-reference
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
from acubench.engine.extract import extract
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
    """FLOPs of one model input's forward (torch's FLOP counter on the real backbone)."""
    from torch.utils.flop_counter import FlopCounterMode

    size = int((policy.window_seconds or policy.max_seconds or policy.min_seconds or 8.0) * encoder.sample_rate)
    x = encoder.featurize([torch.zeros(size, device=encoder.device) + 0.01])
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        encoder.pool(encoder.forward_tokens(x))
    return counter.get_total_flops() / 1e9


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="logmel")
    ap.add_argument("--config", default="default")
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (default: acubench's choice)")
    ap.add_argument("--bf16", action="store_true", help="also time bf16 autocast and compare embeddings")
    ap.add_argument("--no-reference", action="store_true", help="skip the one-window-at-a-time loop")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()

    encoder = load_encoder(args.encoder, config=args.config, random_init="always", device=args.device)
    policy = encoder.spec.clip
    result: dict = {"encoder": args.encoder, "config": args.config, "clips": args.clips,
                    "seconds_per_clip": args.seconds, "batch_size": args.batch_size, "device": args.device,
                    "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        paths = synthetic_recordings(Path(tmp), args.clips, args.seconds)
        table = pd.DataFrame({"clip_id": [p.name for p in paths], "path": [str(p) for p in paths]})

        def run(precision: str):
            extract(encoder, table.iloc[: min(len(table), 2 * args.batch_size)], policy, batch_size=args.batch_size,
                    precision=precision, workers=args.workers)  # warm-up: allocator, kernels, worker start
            return extract(encoder, table, policy, batch_size=args.batch_size, precision=precision,
                           workers=args.workers, profile=True)

        peak_before = matmul_gflops(args.device) if args.encoder != "logmel" else None
        ext = run("fp32")
        result.update({"windows": ext.windows, "batched_clips_per_s": args.clips / ext.seconds,
                       "timing_s": {k: round(v, 3) for k, v in ext.timing.items()}})
        if not args.no_reference:
            ref_s, ref_emb = reference_loop(encoder, paths, policy)
            result.update({"reference_loop_clips_per_s": args.clips / ref_s, "speedup": ref_s / ext.seconds,
                           "cosine_vs_reference_loop_min": float(_cosine(ref_emb, ext.embeddings).min())})
        if args.encoder != "logmel":
            gflop = window_gflop(encoder, policy)
            # The yardstick is measured either side of the timed pass, on a shared machine the mean is fairer.
            peak = (peak_before + matmul_gflops(args.device)) / 2
            achieved = gflop * ext.windows / ext.seconds
            forward_only = gflop * ext.windows / ext.timing["forward"]
            result.update({"gflop_per_window": gflop, "achieved_gflops": achieved, "matmul_gflops_fp32": peak,
                           "fraction_of_matmul_peak": achieved / peak,
                           "fraction_of_matmul_peak_during_forward": forward_only / peak})
        if args.bf16:
            bf = run("bf16")
            cos = _cosine(ext.embeddings, bf.embeddings)
            result.update({"bf16_clips_per_s": args.clips / bf.seconds, "bf16_speedup": ext.seconds / bf.seconds,
                           "bf16_timing_s": {k: round(v, 3) for k, v in bf.timing.items()},
                           "bf16_cosine_min": float(cos.min()), "bf16_cosine_mean": float(cos.mean())})
            if args.device != "cpu":
                result["matmul_gflops_bf16"] = matmul_gflops(args.device, dtype=torch.bfloat16)
    write_result(f"extract-{args.encoder}-{args.device.split(':')[0]}{args.tag}", result)


if __name__ == "__main__":
    main()
