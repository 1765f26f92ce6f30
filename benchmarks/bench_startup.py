"""Start-up cost of the listing commands: wall seconds per whole process, and what each imports.

Each command runs in a fresh interpreter (as a user starts it) ``--runs`` times after one
warm-up run; the median is the figure to quote. ``--python`` points at another
environment's interpreter, so an older checkout can be timed the same way.

    python benchmarks/bench_startup.py --runs 7
    python benchmarks/bench_startup.py --python ../other-checkout/.venv/bin/python --name startup-before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import write_result

COMMANDS = (("tasks",), ("encoders",), ("plugins",), ("data", "status"))
HEAVY = ("torch", "sklearn", "pandas", "numpy", "transformers")

#: Runs the command as ``acubench`` would, then reports which heavy packages it imported.
PROBE = f"""
import contextlib, io, json, sys
from acubench.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    main(sys.argv[1:])
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
"""


def wall(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--python", default=sys.executable, help="interpreter of the environment to time")
    ap.add_argument("--name", default="startup", help="result file name (benchmarks/results/NAME.json)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # An empty data root: the state of a fresh install, where no dataset check has files to read.
        env = {**os.environ, "ACUBENCH_DATA": os.path.join(tmp, "data"), "ACUBENCH_CACHE": os.path.join(tmp, "cache")}
        rows = {}
        for command in COMMANDS:
            argv = [args.python, "-m", "acubench.cli", *command]
            wall(argv, env)  # warm-up: file system caches, .pyc files
            times = [wall(argv, env) for _ in range(args.runs)]
            probe = subprocess.run([args.python, "-c", PROBE, *command], env=env, check=True,
                                   capture_output=True, text=True)
            rows[" ".join(command)] = {"median_s": round(statistics.median(times), 3),
                                       "min_s": round(min(times), 3), "max_s": round(max(times), 3),
                                       "imports": json.loads(probe.stdout.strip().splitlines()[-1])}
    write_result(args.name, {"runs": args.runs, "python": args.python, "commands": rows})


if __name__ == "__main__":
    main()
