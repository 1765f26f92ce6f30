"""Shared pieces of the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import os
import platform
import resource
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


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages: other tenants' work while a figure was taken."""
    return [round(x, 2) for x in os.getloadavg()]


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


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process's threads and its reaped children so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Stopwatch:
    """Wall and CPU seconds of a block: ``with Stopwatch() as sw: ...; sw.wall, sw.cpu``.

    On a machine shared with other work, CPU seconds move far less than wall seconds: a
    ratio of CPU seconds is the figure to trust when the load average is above the core count.
    """

    def __enter__(self) -> Stopwatch:
        self.wall = self.cpu = 0.0
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = cpu_seconds() - self._cpu


def matmul_gflops(device: str = "cpu", n: int = 2048, repeats: int = 10, dtype=torch.float32,
                  per_cpu_second: bool = False) -> float:
    """The machine's own dense matmul throughput (GFLOP/s), the yardstick for model throughput.

    ``per_cpu_second`` divides by CPU seconds instead of wall seconds (CPU only): GFLOP per
    CPU-second, which other tenants of the cores barely move.
    """
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    with Stopwatch() as sw:
        for _ in range(repeats):
            a @ b
        if device != "cpu":
            torch.cuda.synchronize()
    return 2 * n**3 * repeats / (sw.cpu if per_cpu_second else sw.wall) / 1e9
