"""CONTRIBUTING.md's recipes run as written.

Every ``# file:`` block of the page is written into a folder on ``sys.path`` and registered under
the entry points the page's pyproject block declares, as pip would; then the new encoder, task
and probe head go through ``acubench run``, the recipe's own test passes, and the new loss
trains-ready through the alignment settings.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
import torch

from acubench import plugins
from acubench.align.lossspec import get_loss
from acubench.align.presets import resolve_config
from acubench.cli import main
from acubench.records.results import read_records

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

DOC = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text(encoding="utf-8")
FILES = dict(re.findall(r"```python\n# file: (\S+)\n(.*?)```", DOC, flags=re.S))
ENTRY_POINTS = tomllib.loads(re.search(r"```toml\n(.*?)```", DOC, flags=re.S).group(1))["project"]["entry-points"][
    "acubench"]


@pytest.fixture
def recipes(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    for name, code in FILES.items():
        (site / name).write_text(code, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    pm = plugins.plugin_manager()
    for name, ref in ENTRY_POINTS.items():
        module, _, attr = ref.partition(":")
        obj = importlib.import_module(module)
        pm.register(getattr(obj, attr) if attr else obj, name=name)
    plugins.registries.cache_clear()
    yield site
    plugins.reset()
    for name in FILES:
        sys.modules.pop(name.removesuffix(".py"), None)


def test_the_page_holds_the_four_recipes():
    assert set(FILES) == {"band_energy.py", "band_energy_model.py", "lab_wheeze.py", "lab_wheeze_reader.py",
                          "test_lab_wheeze.py", "nearest_centroid.py", "cosine_gap.py"}
    assert set(ENTRY_POINTS) == {"band-energy", "lab-wheeze", "nearest-centroid", "cosine-gap"}


def test_the_dataset_recipes_own_test_passes(recipes, tmp_path):
    recipe_test = importlib.import_module("test_lab_wheeze")
    recipe_test.test_splits_hold_out_whole_patients(tmp_path / "data")


def test_encoder_task_and_probe_run_end_to_end(recipes, tmp_path, capsys):
    importlib.import_module("test_lab_wheeze").build_lab_wheeze(tmp_path / "data")
    out = tmp_path / "run"
    assert main(["run", "--encoder", "band-energy", "--tasks", "lab", "--probe", "nearest-centroid",
                 "--data-root", str(tmp_path / "data"), "--seeds", "1", "--out", str(out)]) == 0
    records = read_records(out / "results.jsonl")
    assert {(r.encoder, r.task, r.probe) for r in records} == {
        ("band-energy", "lab-wheeze", "nearest-centroid"), ("band-energy", "lab-crackle", "nearest-centroid")}
    assert all(0.0 <= r.value <= 1.0 for r in records)


def test_the_loss_recipe_is_an_alignment_loss(recipes):
    config = resolve_config("demo", {"align_loss": "cosine-gap"})  # validated against the registered losses
    spec = get_loss(config.align_loss)
    assert spec.needs_equal_dims and not spec.rotation_invariant
    loss = spec.build(config)
    x = torch.randn(8, 16)
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6) and float(loss(x, -x)) == pytest.approx(2.0, abs=1e-6)
