"""Extraction throughput and its time split: acubench's pipeline vs the OPERA authors' own extraction.

The "authors' pipeline" is OPERA's ``src/benchmark/model_util.py::extract_opera_feature``
as published (evelyn0414/OPERA), step for step, around the same model and weights:
one file at a time, ``librosa.load(path, sr=16000)``, ``librosa.effects.trim
(frame_length=1600, hop_length=800)``, padding / 8.18 s windows as
``get_entire_signal_librosa`` / ``get_split_signal_librosa`` (acubench's
``iter_windows``, which reproduces them), a numpy log-mel per model input
(``pre_process_audio_mel_t``: ``librosa.feature.melspectrogram`` with n_fft 1024,
hop 512, 64 bands 50–8000 Hz, ``power_to_db(ref=np.max)``, min–max to [0, 1]),
then one forward per model input with batch size 1 and autograd on (the
authors call ``model.eval()`` but no ``torch.no_grad()``). OPERA-CE and -CT get
the whole clip, OPERA-GT one window per forward, averaged. It needs librosa
(``pip install librosa``), which acubench itself does not use.

"acubench" is ``acubench.engine.extract``: decoding ahead of the encoder, the torch
front-end batched, windows of many recordings in one forward, inference mode.
Both sides run in this process on the same recordings; the embeddings are
compared (cosine). Every figure is given in wall seconds and in CPU seconds
(this process's threads): on a machine shared with other work the CPU-second
ratios are the ones to trust.

For compute-bound encoders the script also gives achieved GFLOP/s (torch's FLOP
counter on one model input × inputs) against this machine's dense fp32 matmul
GFLOP/s measured in the same job, both per wall second and per CPU second.
``timing_s`` splits acubench's time: ``decode`` (decoding, resampling and
cutting windows, overlapped), ``wait`` (encoder idle, waiting for input),
``features`` (front-end) and ``forward`` (backbone and pooling).

    python benchmarks/bench_extract.py --encoder logmel --clips 200 --seconds 8
    python benchmarks/bench_extract.py --encoder opera-gt --clips 48 --seconds 8 --bf16 --profile-ops
    python benchmarks/bench_extract.py --encoder opera-ct --clips 48 --seconds 8
    python benchmarks/bench_extract.py --encoder audiomae --clips 512 --device cuda --batch-size 64 --bf16 \
        --no-reference
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _common import Stopwatch, load_average, matmul_gflops, synthetic_recordings, write_result

from acubench.audio import iter_windows
from acubench.engine.extract import extract
from acubench.loading import load_encoder

OPERA = ("opera-gt", "opera-ct", "opera-ce")


def _authors_logmel(wave: np.ndarray) -> np.ndarray:
    """OPERA's ``pre_process_audio_mel_t`` with the callers' f_max=8000, as they compute it: (T, 64)."""
    import librosa

    s = librosa.feature.melspectrogram(y=wave, sr=16000, n_mels=64, fmin=50, fmax=8000, n_fft=1024, hop_length=512)
    s = librosa.power_to_db(s, ref=np.max)
    if s.max() != s.min():
        s = (s - s.min()) / (s.max() - s.min())
    return s.T


def _model_input(encoder, mel: torch.Tensor) -> torch.Tensor:
    """(1, T, 64) log-mel → what the model's forward takes. Only OPERA-CT reshapes: HTS-AT stretches a clip
    of at most 1024 frames to 1024 (the authors' ``reshape_wav2img``, inside their model's forward)."""
    if encoder.spec.id != "opera-ct":
        return mel
    from acubench.encoders._htsat import stretch
    from acubench.encoders._opera_ct_model import CROP

    if mel.shape[1] > CROP:
        raise SystemExit("bench_extract: OPERA-CT clips over 32 s (1024 frames) are not part of this comparison")
    return stretch(mel, CROP)


def authors_pipeline(encoder, paths: list[Path], policy) -> np.ndarray:
    """The OPERA authors' extraction loop around ``encoder``'s model (see the module docstring)."""
    import librosa

    out = []
    for path in paths:
        wave, _ = librosa.load(str(path), sr=16000)
        if policy.trim_silence:
            wave, _ = librosa.effects.trim(wave, frame_length=1600, hop_length=800)
        features = []
        for window in iter_windows(wave, 16000, replace(policy, trim_silence=False)):
            if encoder.spec.id == "opera-gt" and len(window) // 512 + 1 < 16:
                continue  # the authors skip windows shorter than the 16-frame patch
            x = _model_input(encoder, torch.tensor(_authors_logmel(window)[None], dtype=torch.float))
            features.append(encoder.pool(encoder.forward_tokens(x)).detach().numpy())
        out.append(np.mean(features, axis=0)[0])
    return np.stack(out)


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def window_gflop(encoder, policy) -> float:
    """FLOPs of one model input's forward (torch's FLOP counter on the real backbone).

    torch 2.9's counter has no formula for the CPU flash-attention kernel that
    ``scaled_dot_product_attention`` dispatches to on a CPU (it counts 0 FLOPs
    there, but the same attention's FLOPs on a GPU); the standard SDPA count
    (``4·B·H·Lq·Lk·d``) is registered for it here, so CPU and GPU count alike.
    """
    from torch.utils.flop_counter import FlopCounterMode

    size = int((policy.window_seconds or policy.max_seconds or policy.min_seconds or 8.0) * encoder.sample_rate)
    x = encoder.featurize([torch.zeros(size, device=encoder.device) + 0.01])
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter, torch.inference_mode():
        encoder.pool(encoder.forward_tokens(x))
    return counter.get_total_flops() / 1e9


def forward_ops(encoder, policy, batch_size: int, top: int = 12) -> list[dict]:
    """Where a forward's time goes: torch.profiler's operators by self CPU time, over two batches of
    ``batch_size`` model inputs (the front-end and pooling included), after one untimed batch."""
    from torch.profiler import ProfilerActivity, profile

    size = int((policy.window_seconds or policy.min_seconds or 8.0) * encoder.sample_rate)
    gen = torch.Generator().manual_seed(0)
    waves = torch.randn(batch_size, size, generator=gen) * 0.1
    encoder.embed(waves)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            encoder.embed(waves)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "calls": e.count, "self_cpu_s": round(e.self_cpu_time_total / 1e6, 3),
             "share": round(e.self_cpu_time_total / total, 3)} for e in events[:top]]


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="logmel")
    ap.add_argument("--config", default="default")
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=int, default=16000, help="sample rate of the recordings (Hz)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (default: acubench's choice)")
    ap.add_argument("--bf16", action="store_true", help="also time bf16 autocast and compare embeddings")
    ap.add_argument("--no-reference", action="store_true", help="skip the OPERA authors' pipeline (run for OPERA only)")
    ap.add_argument("--profile-ops", action="store_true", help="also record torch.profiler's top operators")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    reference = not args.no_reference and args.encoder in OPERA  # the authors' pipeline exists for OPERA only

    encoder = load_encoder(args.encoder, config=args.config, random_init="always", device=args.device)
    policy = encoder.spec.clip
    result: dict = {"encoder": args.encoder, "config": args.config, "clips": args.clips,
                    "seconds_per_clip": args.seconds, "rate": args.rate, "batch_size": args.batch_size,
                    "device": args.device, "workers": args.workers, "torch_threads": torch.get_num_threads(),
                    "load_before": load_average()}
    compute_bound = args.encoder != "logmel"
    with tempfile.TemporaryDirectory() as tmp:
        paths = synthetic_recordings(Path(tmp), args.clips, args.seconds, sr=args.rate)
        table = pd.DataFrame({"clip_id": [p.name for p in paths], "path": [str(p) for p in paths]})

        def run(precision: str):
            extract(encoder, table.iloc[: min(len(table), 2 * args.batch_size)], policy, batch_size=args.batch_size,
                    precision=precision, workers=args.workers)  # warm-up: allocator, kernels, worker start
            with Stopwatch() as sw:
                ext = extract(encoder, table, policy, batch_size=args.batch_size, precision=precision,
                              workers=args.workers, profile=True)
            return ext, sw

        if compute_bound:
            peak = [matmul_gflops(args.device)]
            peak_cpu = [matmul_gflops(args.device, per_cpu_second=True)] if args.device == "cpu" else []
        ext, sw = run("fp32")
        result.update({"windows": ext.windows, "acubench_s": round(sw.wall, 2), "acubench_cpu_s": round(sw.cpu, 2),
                       "acubench_clips_per_s": args.clips / sw.wall,
                       "timing_s": {k: round(v, 3) for k, v in ext.timing.items()}})
        if compute_bound:
            # The yardstick either side of the timed pass: on a shared machine the mean is fairer.
            peak.append(matmul_gflops(args.device))
            gflop = window_gflop(encoder, policy) * ext.windows
            result.update({"gflop_per_window": gflop / ext.windows, "matmul_gflops_fp32": float(np.mean(peak)),
                           "achieved_gflops": gflop / sw.wall,
                           "fraction_of_matmul_peak": gflop / sw.wall / np.mean(peak),
                           "fraction_of_matmul_peak_during_forward": gflop / ext.timing["forward"] / np.mean(peak)})
            if peak_cpu:
                peak_cpu.append(matmul_gflops(args.device, per_cpu_second=True))
                result.update({"matmul_gflop_per_cpu_s": float(np.mean(peak_cpu)),
                               "achieved_gflop_per_cpu_s": gflop / sw.cpu,
                               "fraction_of_matmul_peak_cpu_time": gflop / sw.cpu / np.mean(peak_cpu)})
        if reference:
            authors_pipeline(encoder, paths[:2], policy)  # warm-up: librosa's numba kernels, allocator
            with Stopwatch() as ref:
                ref_emb = authors_pipeline(encoder, paths, policy)
            cos = _cosine(ref_emb, ext.embeddings)
            result.update({"authors_s": round(ref.wall, 2), "authors_cpu_s": round(ref.cpu, 2),
                           "authors_clips_per_s": args.clips / ref.wall,
                           "speedup_wall": ref.wall / sw.wall, "speedup_cpu": ref.cpu / sw.cpu,
                           "cosine_vs_authors_min": float(cos.min()), "cosine_vs_authors_mean": float(cos.mean())})
        if args.bf16:
            bf, bsw = run("bf16")
            cos = _cosine(ext.embeddings, bf.embeddings)
            result.update({"bf16_s": round(bsw.wall, 2), "bf16_cpu_s": round(bsw.cpu, 2),
                           "bf16_clips_per_s": args.clips / bsw.wall, "bf16_speedup_wall": sw.wall / bsw.wall,
                           "bf16_speedup_cpu": sw.cpu / bsw.cpu,
                           "bf16_timing_s": {k: round(v, 3) for k, v in bf.timing.items()},
                           "bf16_cosine_min": float(cos.min()), "bf16_cosine_mean": float(cos.mean())})
            if args.device != "cpu":
                result["matmul_gflops_bf16"] = matmul_gflops(args.device, dtype=torch.bfloat16)
    if args.profile_ops:
        result["forward_ops"] = forward_ops(encoder, policy, args.batch_size)
    result["load_after"] = load_average()
    write_result(f"extract-{args.encoder}-{args.device.split(':')[0]}{args.tag}", result)


if __name__ == "__main__":
    main()
