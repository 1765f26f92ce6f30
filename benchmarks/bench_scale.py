"""A generated 100 000-clip task end to end: manifest, log-mel extraction, store reload, linear probe.

The task is registered like a third-party plugin and run through the runner's
own stages (``prepare_tasks``, ``embed_task``, ``score``), so every cost of a real
run is in the figures except writing the run folder. Clips are 2 s, 16 kHz
PCM WAV files (breath-like noise; the label is whether a faint 400 Hz or 600 Hz
tone is mixed in), 10 clips per subject, a 60/20/20 split by subject. Peak RSS
counts this process and, separately, its largest decoding worker.

    python benchmarks/bench_scale.py --clips 100000 --folder /tmp/scale-task
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from _common import write_result

SR, SECONDS, PER_SUBJECT = 16000, 2.0, 10


def generate(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` clips and ``labels.csv`` under ``folder`` (reused when already complete)."""
    table = folder / "labels.csv"
    if table.is_file() and len(pd.read_csv(table)) == n:
        return table
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * SECONDS)) / SR
    rows = []
    for i in range(n):
        label = int(rng.integers(2))
        subject = i // PER_SUBJECT
        env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t + rng.uniform(0, 6.3))
        wave = 0.1 * env * rng.standard_normal(len(t)) + 0.01 * np.sin(2 * np.pi * (600 if label else 400) * t)
        path = folder / "clips" / f"{i // 1000:03d}" / f"c{i:06d}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(str(path), wave.astype(np.float32), SR, subtype="PCM_16")
        split = ("train", "train", "train", "val", "test")[subject % 5]
        rows.append({"clip_id": f"c{i:06d}", "path": str(path), "label": label, "subject": f"s{subject}",
                     "split": split})
    pd.DataFrame(rows).to_csv(table, index=False)
    return table


def register(table: Path) -> None:
    """Register the generated task with the plugin manager, as a third-party plugin would."""
    from acubench import plugins
    from acubench.hookspecs import contribute
    from acubench.specs import DatasetSpec, TaskSpec

    dataset = DatasetSpec(id="scale", name="Generated scale task", folder=str(table.parent), url="https://example.org",
                          license="CC0", layout="clips/*/*.wav and labels.csv")
    task = TaskSpec(id="SCALE", name="scale-tone", dataset="scale", loader="bench_scale:load", kind="binary",
                    modality="breath", target="tone", classes=("400 Hz", "600 Hz"), clip_seconds=SECONDS)
    plugins.plugin_manager().register(contribute(datasets=[dataset], tasks=[task], module="bench_scale"),
                                      name="bench-scale")


def load(ctx) -> pd.DataFrame:
    return pd.read_csv(Path(os.environ["ACUBENCH_SCALE_TABLE"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=100_000)
    ap.add_argument("--folder", default="/tmp/scale-task")
    ap.add_argument("--encoder", default="logmel")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (default: acubench's choice)")
    ap.add_argument("--keep", action="store_true", help="keep the generated audio")
    args = ap.parse_args()

    from acubench.engine import extract as extract_module
    from acubench.engine.runner import Runner
    from acubench.loading import EncoderOptions, load_encoder

    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    table = generate(Path(args.folder), args.clips)
    stages["generate (not part of a run)"] = time.perf_counter() - t0
    os.environ["ACUBENCH_SCALE_TABLE"] = str(table)
    register(table)
    cache = Path(args.folder) / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    options = EncoderOptions(device="cpu", precision="fp32", batch_size=args.batch_size)
    runner = Runner(tasks="SCALE", probes=["linear"], seeds=1, cache=cache, encoder_options=options, bootstrap=0)
    t = time.perf_counter()
    (prep,), _ = runner.prepare_tasks()
    stages["manifest"] = time.perf_counter() - t
    encoder = load_encoder(args.encoder, device="cpu")
    if args.workers is not None:
        original = extract_module.extract

        def with_workers(*a, **k):
            return original(*a, **{**k, "workers": args.workers})

        extract_module.extract = with_workers
    t = time.perf_counter()
    ext = runner.embed_task(encoder, prep, args.encoder)
    stages["extract (cold)"] = time.perf_counter() - t
    t = time.perf_counter()
    warm = runner.embed_task(encoder, prep, args.encoder)
    stages["reload from the store (warm)"] = time.perf_counter() - t
    assert warm.cached == args.clips and np.array_equal(warm.embeddings, ext.embeddings)
    t = time.perf_counter()
    records, _ = runner.score(encoder, args.encoder, False, prep, warm, "scale")
    stages["linear probe (fit, predict, metrics)"] = time.perf_counter() - t
    wall = sum(v for k, v in stages.items() if not k.startswith("generate"))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = {"clips": args.clips, "clip_seconds": SECONDS, "encoder": args.encoder, "batch_size": args.batch_size,
              "workers": args.workers, "stages_s": {k: round(v, 2) for k, v in stages.items()},
              "wall_s_excluding_generation": round(wall, 1),
              "clips_per_s_extract": round(args.clips / stages["extract (cold)"], 1),
              "extract_timing_s": {k: round(v, 2) for k, v in ext.timing.items()}, "windows": ext.windows,
              "peak_rss_mb": round(own, 1), "peak_rss_worker_mb": round(children, 1),
              "auroc": records[0].value, "bad": len(ext.bad)}
    write_result(f"scale-{args.clips}-{args.encoder}", result)
    if not args.keep:
        shutil.rmtree(args.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
