"""The import-layer contract (``[tool.importlinter]``, checked by ``make lint``) covers every module.

import-linter checks only the modules a contract names, so a new module outside every layer, or a
new plugin missing from the cheap-listing contract, would pass unnoticed. These tests close that gap.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONTRACTS = {c["id"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}


def _layer_modules() -> set[str]:
    names: set[str] = set()
    for layer in CONTRACTS["layers"]["layers"]:
        names.update(n.strip() for n in re.split(r"[|:]", layer.replace("\n", " ")) if n.strip())
    return names


def _top_level_modules() -> set[str]:
    """``acubench.<name>`` for every module and subpackage directly under the installed package.

    A subpackage the layers do not name as a whole (``acubench.engine``, whose modules sit in two
    layers) stands for its modules, each of which must then be in a layer.
    """
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    root = ROOT / mapping["acubench"]
    names = {f"acubench.{p.stem}" for p in root.glob("*.py") if p.stem != "__init__"}
    names |= {name for name in mapping if name.count(".") == 1}
    layered = _layer_modules()
    for package in (p for p in root.iterdir() if (p / "__init__.py").is_file()):
        name = f"acubench.{package.name}"
        if name in layered or not any(n.startswith(name + ".") for n in layered):
            names.add(name)
        else:
            names |= {f"{name}.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    return names


def test_every_module_sits_in_a_layer():
    missing = _top_level_modules() - _layer_modules()
    assert not missing, f"add {sorted(missing)} to a layer of [tool.importlinter] in pyproject.toml"


def test_the_layers_name_only_modules_that_exist():
    assert _layer_modules() <= _top_level_modules()


def test_every_declared_plugin_is_held_to_cheap_listing():
    declared = {ref.split(":")[0] for ref in PYPROJECT["project"]["entry-points"]["acubench"].values()}
    missing = declared - set(CONTRACTS["cheap-listing"]["source_modules"])
    assert not missing, f"add {sorted(missing)} to the cheap-listing contract in pyproject.toml"
