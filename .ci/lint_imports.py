"""Check the import-layer contract (``[tool.importlinter]`` in pyproject.toml) on the package as installed.

The source tree maps ``acubench.tasks`` to ``tasks/``, ``acubench.align`` to ``align/`` and so on
(``[tool.setuptools] package-dir``). import-linter walks one folder per root package, so run on the
checkout it would see ``acubench/`` alone and miss the plugins, ``align`` and ``leaderboard``. This
script lays the package out as pip installs it — a temporary folder of symbolic links, nothing
copied — and runs import-linter there. ``make lint`` calls it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the `lint` extra installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def installed_layout(target: Path) -> None:
    """Symbolic links under ``target`` that reproduce the installed ``acubench`` package."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapping: dict[str, str] = setup["package-dir"]
    top = target / "acubench"
    top.mkdir()
    mapped = {name.split(".", 1)[1] for name in mapping if name.count(".") == 1}
    for entry in (ROOT / mapping["acubench"]).iterdir():
        if entry.name not in mapped and entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    for name in sorted(mapped):
        (top / name).symlink_to(ROOT / mapping[f"acubench.{name}"])


def main() -> int:
    from importlinter.cli import lint_imports

    with tempfile.TemporaryDirectory(prefix="acubench-layers-") as tmp:
        installed_layout(Path(tmp))
        # import-linter puts the working directory first on sys.path, where the checkout's
        # acubench/ folder (without its mapped subpackages) would shadow the layout.
        os.chdir(tmp)
        sys.path.insert(0, tmp)
        return lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)


if __name__ == "__main__":
    sys.exit(main())
