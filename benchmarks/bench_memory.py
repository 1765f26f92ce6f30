"""Peak memory of extracting one long recording: must be flat in recording length.

Each length runs in a fresh process; peak RSS is the kernel's accounting of
that child (``ru_maxrss``). The recording is written at ``--rate`` (default
44.1 kHz, so resampling to the encoder's rate is part of the work) with a
second of silence at either end (so silence trimming is too).

    python benchmarks/bench_memory.py --encoder opera-gt --minutes 1 10 30 60
    python benchmarks/bench_memory.py --encoder logmel --minutes 1 10 30 60 --policy windows:8.18
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from _common import write_result

CHILD = """
import resource, sys, time, pandas as pd
from acubench.engine.embedding import parse_clip_policy
from acubench.engine.extract import extract
from acubench.loading import load_encoder
enc = load_encoder(sys.argv[1], random_init="always", device="cpu")
policy = parse_clip_policy(sys.argv[4], enc.spec.clip)
t0 = time.perf_counter()
ext = extract(enc, pd.DataFrame({"clip_id": ["x"], "path": [sys.argv[2]]}), policy, batch_size=int(sys.argv[3]))
print(ext.windows, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def long_recording(path: Path, minutes: float, rate: int, seed: int = 0) -> Path:
    """Breath-like noise with tones, written a minute at a time (the parent stays small)."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as fh:
        fh.write(np.zeros(rate, dtype=np.float32))
        for m in range(int(np.ceil(minutes))):
            n = int(min(60.0, minutes * 60 - m * 60) * rate)
            t = (np.arange(n) + m * 60 * rate) / rate
            env = 0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t)
            wave = 0.1 * env * rng.standard_normal(n) + 0.05 * np.sin(2 * np.pi * 300 * t)
            fh.write(wave.astype(np.float32))
        fh.write(np.zeros(rate, dtype=np.float32))
    return path


def run_child(args: list[str]) -> tuple[int, float, float]:
    """(windows, seconds, peak RSS in MB) of one extraction in a fresh process."""
    out = subprocess.run([sys.executable, "-c", CHILD, *args], check=True, capture_output=True, text=True).stdout
    windows, seconds, maxrss_kb = out.split()
    return int(windows), float(seconds), int(maxrss_kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="opera-gt")
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rate", type=int, default=44100, help="sample rate of the recordings (Hz)")
    ap.add_argument("--policy", default="default", help="clip policy (see `acubench embed --clip-policy`)")
    ap.add_argument("--tag", default="", help="suffix of the result file name")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in sorted(args.minutes):
            path = long_recording(Path(tmp) / f"{minutes}.wav", minutes, args.rate)
            windows, seconds, mb = run_child([args.encoder, str(path), str(args.batch_size), args.policy])
            path.unlink()
            rows.append({"minutes": minutes, "peak_rss_mb": round(mb, 1), "windows": windows,
                         "seconds": round(seconds, 1)})
            print(rows[-1], flush=True)
    write_result(f"memory-{args.encoder}{args.tag}", {"encoder": args.encoder, "batch_size": args.batch_size,
                                                      "rate": args.rate, "policy": args.policy, "runs": rows})


if __name__ == "__main__":
    main()
