"""The headline command's cost: ``acubench run --encoder opera --aligned`` against the plain run, cold and warm.

In one job, side by side on the same cores, each from a fresh cache of its own:

1. cold ``acubench run --encoder opera`` (generates the demo, embeds, probes);
2. cold ``acubench run --encoder opera --aligned`` (the same, plus the demo
   alignment and the aligned encoder's embeddings and probes);
3. the aligned command again (warm: checkpoint and embeddings from the cache);
4. the shuffled-reports control, warm base (``--control shuffled-reports``;
   ``--no-control`` skips it).

Reports wall and CPU seconds (user + system of the child process) of each,
the load average around each, the aligned/plain cold ratios (CPU seconds move
far less than wall seconds on a shared machine), the alignment verdict of the
cold aligned run's ``alignment.json`` (held-out debiased CKA before / after /
shuffled floor), and keeps each run's folder (``--keep DIR``) for the
comparison tables.

    python benchmarks/bench_aligned_demo.py --keep /tmp/aligned-demo
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average, write_result


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def timed(argv: list[str], cache: Path, log: Path) -> dict:
    """Wall and CPU seconds of one ``acubench`` command in a fresh process, and the load around it."""
    env = {**os.environ, "ACUBENCH_CACHE": str(cache)}
    load, cpu0, t0 = load_average(), _children_cpu(), time.perf_counter()
    with open(log, "w") as fh:
        subprocess.run([sys.executable, "-m", "acubench", *argv], env=env, stdout=fh, stderr=subprocess.STDOUT,
                       check=True)
    return {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(_children_cpu() - cpu0, 1),
            "load_before": load, "load_after": load_average()}


def verdict(*folders: Path) -> dict:
    """The held-out CKA figures of the cold aligned run (its ``alignment.json``, in the run or the cache)."""
    keys = ("heldout_cka_before", "heldout_cka_after", "heldout_cka_shuffled", "aligned")
    found = sorted(p for folder in folders for p in folder.rglob("alignment.json"))
    if not found:
        return {"alignment_json": None}
    summary = json.loads(found[0].read_text())
    return {"alignment_json": str(found[0]), **{k: summary.get(k) for k in keys}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", default=None, help="folder for the run folders and logs (default: a temp folder)")
    ap.add_argument("--encoder", default="opera")
    ap.add_argument("--no-control", action="store_true", help="skip the shuffled-reports control run")
    args = ap.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="aligned-demo-"))
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    plain_cache, aligned_cache = root / "cache-plain", root / "cache-aligned"
    run = ["run", "--encoder", args.encoder, "--tasks", "demo"]
    figures = {
        "cold_plain": timed([*run, "--out", str(root / "plain")], plain_cache, root / "plain.log"),
        "cold_aligned": timed([*run, "--aligned", "--out", str(root / "aligned")], aligned_cache,
                              root / "aligned.log"),
        "warm_aligned": timed([*run, "--aligned", "--out", str(root / "aligned-warm")], aligned_cache,
                              root / "aligned-warm.log"),
    }
    if not args.no_control:
        figures["control"] = timed([*run, "--aligned", "--control", "shuffled-reports", "--out", str(root / "control")],
                                   aligned_cache, root / "control.log")
    cold_plain, cold_aligned = figures["cold_plain"], figures["cold_aligned"]
    ratios = {"cold_ratio_wall": round(cold_aligned["wall_s"] / cold_plain["wall_s"], 2),
              "cold_ratio_cpu": round(cold_aligned["cpu_s"] / cold_plain["cpu_s"], 2)}
    write_result("aligned-demo-cpu", {"encoder": args.encoder, "folder": str(root), **figures, **ratios,
                                      "alignment": verdict(root / "aligned", aligned_cache)})


if __name__ == "__main__":
    main()
