"""Peak memory of extracting one long recording: must be flat in recording length.

Each length runs in a fresh process; peak RSS is the kernel's accounting of
that child (``ru_maxrss``).

    python benchmarks/bench_memory.py --encoder opera-gt --minutes 1 10
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import synthetic_recordings, write_result

CHILD = """
import resource, sys, time, pandas as pd
from acubench.extract import extract
from acubench.loading import load_encoder
enc = load_encoder(sys.argv[1], random_init="always")
t0 = time.perf_counter()
ext = extract(enc, pd.DataFrame({"clip_id": ["x"], "path": [sys.argv[2]]}), enc.spec.clip, batch_size=int(sys.argv[3]))
print(ext.windows, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


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
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in sorted(args.minutes):
            (path,) = synthetic_recordings(Path(tmp) / f"{minutes}", 1, minutes * 60)
            windows, seconds, mb = run_child([args.encoder, str(path), str(args.batch_size)])
            rows.append({"minutes": minutes, "peak_rss_mb": round(mb, 1), "windows": windows,
                         "seconds": round(seconds, 1)})
            print(rows[-1], flush=True)
    write_result(f"memory-{args.encoder}", {"encoder": args.encoder, "batch_size": args.batch_size, "runs": rows})


if __name__ == "__main__":
    main()
