"""Leaderboard → Markdown (tabulate), tidy CSV/JSON, and the files of a run.

Markdown is for papers and READMEs: one table per probe, the AcuLa effect
("Δ acula", with its paired test) under each aligned pair, the paired
comparisons of ``--compare``, published rows in a block of their own, and notes
that say what every number and mark means. Markdown always holds the complete
table (the terminal falls back to narrower layouts, see
:mod:`acubench.leaderboard.terminal`). CSV and JSON hold the same tidy long
table (one row per encoder × probe × task) for users' own plotting;
:func:`read_long_table` loads either back with the right types; the JSON also
lists every comparison.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from acubench.errors import PathNotFound
from acubench.leaderboard.aggregate import Column, Leaderboard
from acubench.leaderboard.notes import notes
from acubench.leaderboard.reference import CITATION, ENCODERS, LABEL
from acubench.leaderboard.terminal import rich_table  # noqa: F401  (the terminal view, importable from here too)
from acubench.leaderboard.text import (
    COMPARISON_HEADERS,
    DEFAULT_TITLE,
    comparison_lines,
    group_lines,
    published_lines,
)
from acubench.paths import atomic_write

#: The tidy long table: column → pandas dtype (nullable, so absent values survive CSV and JSON alike).
LONG_COLUMNS: dict[str, str] = {
    "source": "string", "encoder": "string", "encoder_id": "string", "encoder_fingerprint": "string",
    "probe": "string", "aligned": "boolean", "random_init": "boolean", "weights": "string",
    "task": "string", "task_name": "string", "task_version": "string", "protocol": "string", "kind": "string",
    "metric": "string", "higher_is_better": "boolean", "split": "string", "mean": "Float64", "std": "Float64",
    "ci_low": "Float64", "ci_high": "Float64", "n_seeds": "Int64", "n_folds": "Int64",
    "seen_in_pretraining": "boolean", "n_bad_audio": "Int64", "base_encoder": "string", "delta_vs_base": "Float64",
    "citation": "string",
}


# -- Markdown ---------------------------------------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(headers: list[str], body: list[list[str]], labels: int = 1) -> str:
    """A pipe table: the first ``labels`` columns left-aligned, the numbers right-aligned."""
    return tabulate([[_md(x) for x in line] for line in body], headers=[_md(h) for h in headers], tablefmt="pipe",
                    disable_numparse=True, colalign=("left",) * labels + ("right",) * (len(headers) - labels))


def to_markdown(board: Leaderboard, *, title: str | None = None) -> str:
    """The leaderboard as Markdown: a table per probe, its comparisons, the published block, then the notes."""
    parts = [f"# {title or DEFAULT_TITLE}"]
    for group in board.groups:
        parts.append(f"Probe: **{group.probe}**")
        parts.append(_md_table(*group_lines(group)))
    for group in board.groups:
        lines = comparison_lines(board, group.probe)
        if lines:
            parts.append(f"Paired comparisons with **{board.compare_with}** (probe {group.probe})")
            parts.append(_md_table(COMPARISON_HEADERS, lines, labels=2))
    if board.reference:
        parts.append(f"**{LABEL[0].upper() + LABEL[1:]}** — reported numbers, not re-run here.")
        parts.append(_md_table(*published_lines(board)))
    parts.append("\n".join(f"- {n}" for n in notes(board)))
    return "\n\n".join(parts) + "\n"


# -- tidy long table --------------------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _task_fields(col: Column) -> dict[str, Any]:
    return {"task": col.task, "task_name": col.task_name, "task_version": col.task_version, "protocol": col.protocol,
            "kind": col.kind, "metric": col.metric, "higher_is_better": col.higher_is_better,
            "split": "loso" if col.loso else "fixed"}


def long_records(board: Leaderboard) -> list[dict[str, Any]]:
    """One dict per encoder × probe × task (then per published model × task), keys :data:`LONG_COLUMNS`.

    ``mean`` is the cell value, ``ci_low``/``ci_high`` its 95 % interval, ``std``
    the spread over seeds (or folds). ``delta_vs_base`` (aligned rows only) is positive when the aligned encoder
    is better, whatever the metric's direction. Absent values are ``None``.
    """
    out = []
    for row in board.rows:
        for col in board.columns:
            cell = row.cells.get(col.key)
            if cell is None:
                continue
            delta = row.delta.values.get(col.key) if row.delta else None
            out.append({
                "source": "acubench", "encoder": row.label, "encoder_id": row.encoder_id,
                "encoder_fingerprint": row.fingerprint or None, "probe": row.probe, "aligned": row.aligned,
                "random_init": row.random_init, "weights": row.weights or None, **_task_fields(col),
                "mean": _finite(cell.mean), "std": _finite(cell.std),
                "ci_low": _finite(cell.ci[0]) if cell.ci else None, "ci_high": _finite(cell.ci[1]) if cell.ci else None,
                "n_seeds": cell.n_seeds,
                "n_folds": cell.n_folds, "seen_in_pretraining": cell.seen_in_pretraining,
                "n_bad_audio": cell.n_bad_audio, "base_encoder": row.delta.base if row.delta else None,
                "delta_vs_base": _finite(delta), "citation": None,
            })
    for prow in board.reference:
        for col in board.columns:
            if col.key not in prow.cells:
                continue
            mean, std = prow.cells[col.key]
            out.append({
                "source": "published", "encoder": prow.model, "encoder_id": ENCODERS.get(prow.model),
                "encoder_fingerprint": None,
                "probe": None, "aligned": False, "random_init": False, "weights": None, **_task_fields(col),
                "mean": mean, "std": std, "ci_low": None, "ci_high": None, "n_seeds": None, "n_folds": None,
                "seen_in_pretraining": None, "n_bad_audio": None, "base_encoder": None, "delta_vs_base": None,
                "citation": CITATION,
            })
    return [{k: rec.get(k) for k in LONG_COLUMNS} for rec in out]


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=list(LONG_COLUMNS)).astype(LONG_COLUMNS)


def to_csv(board: Leaderboard) -> str:
    """The tidy long table as CSV (absent values are empty)."""
    return _frame(long_records(board)).to_csv(index=False)


def comparison_records(board: Leaderboard) -> list[dict[str, Any]]:
    """Every paired test of the board (``--compare`` and aligned pairs), once each, as JSON objects."""
    seen: dict[tuple, dict[str, Any]] = {}
    for c in board.all_comparisons:
        entry = c.to_dict()
        seen.setdefault((entry["probe"], entry["a"], entry["b"], entry["task"], entry["task_version"],
                         entry["protocol"]), entry)
    return list(seen.values())


def to_json(board: Leaderboard) -> str:
    """``{"table": [...], "comparisons": [...]}``: the tidy long table (absent values ``null``) and the paired tests.

    Each comparison: ``task``, ``probe``, rows ``a`` and ``b``, ``delta`` (positive: ``a`` better),
    ``ci95``, ``p_value``, ``p_holm``, ``test`` (``"delong"`` or ``"paired-bootstrap"``; null when
    untested, with ``reason``), and which per-clip ``scores`` were compared.
    """
    return json.dumps({"table": long_records(board), "comparisons": comparison_records(board)}, indent=1,
                      ensure_ascii=False, allow_nan=False) + "\n"


def read_long_table(path: str | os.PathLike) -> pd.DataFrame:
    """Load a ``leaderboard.csv`` or ``leaderboard.json`` with the dtypes of :data:`LONG_COLUMNS`."""
    path = Path(path)
    if path.suffix == ".csv":
        # Only empty fields are absent: a task named "NA" stays a name.
        return pd.read_csv(path, dtype=LONG_COLUMNS, keep_default_na=False, na_values=[""])
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return _frame(data["table"] if isinstance(data, dict) else data)  # a list: acubench 0.1's layout
    raise ValueError(f"{path}: expected a .csv or .json leaderboard")


# -- files ------------------------------------------------------------------------------------------------------


def write_leaderboard(board: Leaderboard, out_dir: Path, *, title: str | None = None) -> dict[str, Path]:
    """Render a board into ``out_dir``: leaderboard.md, .csv, .json, and .png when there is something to compare.

    Parameters
    ----------
    board : Leaderboard
        From :func:`~acubench.leaderboard.aggregate.aggregate` or ``board_from_runs``.
    out_dir : Path
        Existing directory.
    title : str, optional
        Table and figure title (default "acubench leaderboard").

    Returns
    -------
    dict
        ``{"markdown", "csv", "json"[, "plot"]}`` → written path. The plot is
        drawn when the board has at least two rows or an aligned pair.

    Everything is rendered before the first file is written, so a failure
    leaves no partial set; each file is replaced atomically.
    """
    from acubench.leaderboard.plots import render_png

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise PathNotFound(f"{out_dir}: output folder does not exist (create it first)")
    outputs: dict[str, tuple[Path, str | bytes]] = {
        "markdown": (out_dir / "leaderboard.md", to_markdown(board, title=title)),
        "csv": (out_dir / "leaderboard.csv", to_csv(board)),
        "json": (out_dir / "leaderboard.json", to_json(board)),
    }
    if len(board.rows) >= 2 or any(r.delta is not None for r in board.rows):
        outputs["plot"] = (out_dir / "leaderboard.png", render_png(board, title=title))
    for path, data in outputs.values():
        atomic_write(path, data)
    return {name: path for name, (path, _) in outputs.items()}
