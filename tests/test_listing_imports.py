"""Listing what is registered must not pay for models: no torch, scikit-learn or pandas.

Each command runs in a fresh interpreter, as a user starts it, and reports which
heavy packages ended up imported. Declarations (specs, presets, hook plugins)
import only the standard library and the ground specs; the models and dataset
readers behind them load only when a run builds or reads them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "sklearn", "pandas", "transformers", "scipy")

PROBE = f"HEAVY = {HEAVY!r}\n" + """
import contextlib, io, json, sys
from acubench.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


@pytest.mark.parametrize("command", [["tasks"], ["encoders"], ["plugins"], ["data", "status"],
                                     ["data", "status", "--json"]], ids=" ".join)
def test_listing_imports_no_heavy_package(command, tmp_path, monkeypatch):
    monkeypatch.setenv("ACUBENCH_DATA", str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-c", PROBE, *command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"rc": 0, "heavy": []}, f"acubench {' '.join(command)} imported {report['heavy']}"


def test_registering_every_plugin_imports_no_heavy_package():
    code = ("import json, sys; from acubench.plugins import registries; r = registries(); "
            f"print(json.dumps([[m for m in {HEAVY!r} if m in sys.modules], len(r.encoders), len(r.tasks)]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    heavy, n_encoders, n_tasks = json.loads(done.stdout)
    assert heavy == [] and n_encoders >= 8 and n_tasks >= 30
