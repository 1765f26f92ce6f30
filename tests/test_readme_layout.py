"""README's data-layout tree names exactly the folders `acubench data status` checks, with their tasks."""

from __future__ import annotations

import re
from pathlib import Path

from acubench import plugins

README = Path(__file__).resolve().parents[1] / "README.md"


def _tree() -> dict[str, set[str]]:
    """Folder → task ids, from the block that starts with ``~/acubench-data/``."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("~/acubench-data/\n"):]
    block = block[: block.index("```")]
    out: dict[str, set[str]] = {}
    for line in block.splitlines()[1:]:
        folder, *rest = line.split()
        ids: set[str] = set()
        for token in rest:
            span = re.fullmatch(r"([TX])(\d\d)(?:–[TX](\d\d))?", token)
            if span is None:
                break
            last = span.group(3) or span.group(2)
            ids |= {f"{span.group(1)}{k:02d}" for k in range(int(span.group(2)), int(last) + 1)}
        out[folder.rstrip("/")] = ids
    return out


def test_readme_tree_matches_the_registered_datasets():
    plugins.reset()
    reg = plugins.registries()
    expected = {d.folder: {t.id for t in reg.tasks if t.dataset == d.id} for d in reg.datasets if not d.generated}
    assert _tree() == expected
