"""The headline command's cost: ``acubench run --encoder opera --aligned`` against the plain run, cold and warm.

In one job, side by side on the same cores, each from a fresh cache of its own:

1. cold ``acubench run --encoder opera`` (generates the demo, embeds, probes);
2. cold ``acubench run --encoder opera --aligned`` (the same, plus the demo
   alignment and the aligned encoder's embeddings and probes);
3. the aligned command again (warm: checkpoint and embeddings from the cache);
4. the shuffled-reports control, warm base (``--control shuffled-reports``).

Reports wall times and the aligned/plain cold ratio, and keeps each run's
folder (``--keep DIR``) for the comparison tables.

    python benchmarks/bench_aligned_demo.py --keep /tmp/aligned-demo
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_result


def timed(argv: list[str], cache: Path, log: Path) -> float:
    env = {**os.environ, "ACUBENCH_CACHE": str(cache)}
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        subprocess.run([sys.executable, "-m", "acubench", *argv], env=env, stdout=fh, stderr=subprocess.STDOUT,
                       check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", default=None, help="folder for the run folders and logs (default: a temp folder)")
    ap.add_argument("--encoder", default="opera")
    args = ap.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="aligned-demo-"))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    plain_cache, aligned_cache = root / "cache-plain", root / "cache-aligned"
    run = ["run", "--encoder", args.encoder, "--tasks", "demo"]
    figures = {
        "cold_plain_s": timed([*run, "--out", str(root / "plain")], plain_cache, root / "plain.log"),
        "cold_aligned_s": timed([*run, "--aligned", "--out", str(root / "aligned")], aligned_cache,
                                root / "aligned.log"),
        "warm_aligned_s": timed([*run, "--aligned", "--out", str(root / "aligned-warm")], aligned_cache,
                                root / "aligned-warm.log"),
        "control_s": timed([*run, "--aligned", "--control", "shuffled-reports", "--out", str(root / "control")],
                           aligned_cache, root / "control.log"),
    }
    figures["cold_ratio_aligned_over_plain"] = round(figures["cold_aligned_s"] / figures["cold_plain_s"], 2)
    write_result("aligned-demo-cpu", {"encoder": args.encoder, "folder": str(root),
                                      **{k: round(v, 1) for k, v in figures.items()}})


if __name__ == "__main__":
    main()
