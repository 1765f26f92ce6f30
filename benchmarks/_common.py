"""Shared pieces of the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

#: Where result JSON files go: benchmarks/results, or $ACUBENCH_BENCH_RESULTS (e.g. on a lent GPU machine).
RESULTS = Path(os.environ.get("ACUBENCH_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")


def machine() -> dict:
    """What the figures were taken on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu or platform.processor(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": gpu, "torch": torch.__version__, "python": platform.python_version()}


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), "date": time.strftime("%Y-%m-%d"), **payload}
    path.write_text(json.dumps(payload, indent=2))
    print(json.dumps(payload, indent=2))
    return path


def synthetic_recordings(folder: Path, n: int, seconds: float, sr: int = 16000, seed: int = 0) -> list[Path]:
    """``n`` WAV files of breath-like noise with tones, ``seconds`` long each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    paths = []
    for i in range(n):
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6.28))
        wave = 0.1 * env * rng.standard_normal(len(t)) + 0.05 * np.sin(2 * np.pi * rng.uniform(150, 800) * t)
        path = folder / f"rec{i:04d}.wav"
        sf.write(str(path), wave.astype(np.float32), sr, subtype="PCM_16")
        paths.append(path)
    return paths


def matmul_gflops(device: str = "cpu", n: int = 2048, repeats: int = 10, dtype=torch.float32) -> float:
    """The machine's own dense matmul throughput (GFLOP/s), the yardstick for model throughput."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e9
