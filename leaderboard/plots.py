"""Leaderboard figures: per-task scores per encoder, and the AcuLa effect per task.

Drawn on matplotlib's Agg canvas through the object API (no pyplot state), so
rendering works headless and never changes the caller's backend.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from acubench.leaderboard.aggregate import Leaderboard, Row

#: AUROC bars start at chance, so small differences between encoders stay visible.
AUROC_CHANCE = 0.5
_PANELS_PER_LINE = 4


def _series_label(row: Row, multi_probe: bool) -> str:
    label = f"{row.label} †" if row.random_init else row.label
    return f"{label} · {row.probe}" if multi_probe else label


def render_png(board: Leaderboard, *, title: str | None = None, dpi: int = 130) -> bytes:
    """A PNG: one panel per task (bar = value, whisker = 95 % interval, or std without one; a bar per encoder × probe),
    plus a panel of per-task Δ acula (positive = better) when aligned pairs exist.

    Parameters
    ----------
    board : Leaderboard
    title : str, optional
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    bytes
        The encoded PNG.
    """
    rows = board.rows
    multi_probe = len(board.groups) > 1
    pairs = [r for r in rows if r.delta is not None]
    columns = board.columns
    n_lines = math.ceil(len(columns) / _PANELS_PER_LINE)
    n_cols = min(len(columns), _PANELS_PER_LINE)
    heights = [2.6] * n_lines + ([3.0] if pairs else [])
    fig = Figure(figsize=(3.4 * n_cols + 1.0, sum(heights) + 1.2), layout="constrained")
    grid = fig.add_gridspec(len(heights), n_cols, height_ratios=heights)
    colours = [f"C{i % 10}" for i in range(len(rows))]
    width = 0.8 / max(len(rows), 1)

    for i, col in enumerate(columns):
        ax = fig.add_subplot(grid[i // n_cols, i % n_cols])
        base = AUROC_CHANCE if col.metric == "auroc" else 0.0
        for j, row in enumerate(rows):
            cell = row.cells.get(col.key)
            if cell is None or not math.isfinite(cell.mean):
                continue
            # Whiskers: the 95 % interval where the cell has one, else the spread over seeds/folds.
            err = [[cell.mean - cell.ci[0]], [cell.ci[1] - cell.mean]] if cell.ci else cell.std
            ax.bar(j * width, cell.mean - base, width=width * 0.9, bottom=base, color=colours[j],
                   hatch="//" if row.random_init else None, yerr=err, capsize=2, error_kw={"lw": 0.8})
        ax.set_title(f"{col.title}\n{col.metric_label}", fontsize=9)
        ax.set_xticks([])
        ax.set_xlim(-width / 2, (len(rows) - 0.5) * width)  # each encoder keeps its slot in every panel
        ax.tick_params(labelsize=8)
        ax.axhline(base, color="0.4", lw=0.6)
        if col.metric == "auroc":
            ax.set_ylabel("AUROC (bars from chance)", fontsize=8)

    if pairs:
        ax = fig.add_subplot(grid[n_lines, :])
        keys = [c.key for c in columns if any(c.key in p.delta.values for p in pairs)]
        x = np.arange(len(keys))
        step = min(0.8 / len(pairs), 0.35)
        for j, row in enumerate(pairs):
            values = [row.delta.values.get(k, np.nan) for k in keys]
            ax.bar(x + (j - (len(pairs) - 1) / 2) * step, values, width=step * 0.9,
                   color=colours[rows.index(row)], label=f"{_series_label(row, multi_probe)} vs {row.delta.base}")
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xticks(x, [f"{board.column(k).title}\n{board.column(k).metric_label}" for k in keys], fontsize=8)
        ax.set_ylabel("Δ acula (+ = better)", fontsize=8)
        ax.set_title("AcuLa effect per task: aligned − base for ↑ metrics, base − aligned for ↓ (metric units)",
                     fontsize=9)
        ax.legend(fontsize=8, loc="best")

    handles = [Patch(facecolor=colours[j], hatch="//" if row.random_init else None) for j, row in enumerate(rows)]
    fig.legend(handles, [_series_label(r, multi_probe) for r in rows], loc="outside lower center",
               ncols=min(len(rows), 4), fontsize=8)
    fig.suptitle(title or "acubench leaderboard", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
