"""The text of leaderboard cells and table lines, shared by the Markdown and terminal renderers."""

from __future__ import annotations

import math

from acubench.leaderboard.aggregate import Cell, Column, ColumnKey, Delta, Leaderboard, ProbeGroup, PublishedRow, Row
from acubench.leaderboard.compare import MEAN_TASK, Comparison

RANDOM_MARK = "†"
SEEN_MARK = "‡"
SIGNIFICANT_MARK = "*"
DELTA_LABEL = "Δ acula"
MEAN_HEADER = "mean AUROC ↑"
RANK_HEADER = "mean rank ↓"
MISSING = "—"
DEFAULT_TITLE = "acubench leaderboard"
COMPARISON_HEADERS = ["encoder", "task", "Δ (+ = better)", "95 % CI of Δ", "p", "p (Holm)", "test"]


def number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def format_interval(value: float | None, ci: tuple[float, float] | None, digits: int = 3) -> str:
    """``"0.812 [0.771, 0.850]"``; the value alone without an interval."""
    if ci is None or value is None or not math.isfinite(value):
        return number(value, digits)
    return f"{number(value, digits)} [{number(ci[0], digits)}, {number(ci[1], digits)}]"


def format_cell(cell: Cell | None) -> str:
    """``"0.812 [0.771, 0.850]"`` (value and 95 % interval); ``" ‡"`` when the task's data was seen in pre-training."""
    if cell is None:
        return MISSING
    text = format_interval(cell.mean, cell.ci)
    return f"{text} {SEEN_MARK}" if cell.seen_in_pretraining else text


def format_delta(value: float | None) -> str:
    """Signed, three decimals: ``"+0.012"``, ``"-0.030"``; a zero shows unsigned."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return "n/a"
    return "0.000" if round(value, 3) == 0 else f"{value:+.3f}"


def format_p(p: float | None) -> str:
    """``"0.012"``; ``"<0.001"`` below a thousandth; ``"—"`` when untested."""
    if p is None or not math.isfinite(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_delta_ci(c: Comparison) -> str:
    """``"[-0.010, +0.051]"``."""
    return f"[{format_delta(c.ci95[0])}, {format_delta(c.ci95[1])}]" if c.ci95 else MISSING


def format_comparison(c: Comparison) -> str:
    """One cell: ``"+0.023 [-0.010, +0.051] p=0.180"``, ``"*"`` when Holm-significant."""
    text = format_delta(c.delta)
    if c.ci95:
        text += f" {format_delta_ci(c)}"
    if c.p_value is not None:
        text += f" p={format_p(c.p_value)}" + (SIGNIFICANT_MARK if c.significant else "")
    return text


def delta_cell(delta: Delta, key: ColumnKey | None) -> str:
    """The Δ acula cell of a column (``None``: the mean AUROC): tested when the runs kept predictions."""
    tested = delta.mean if key is None else delta.comparisons.get(key)
    if tested is not None:
        return format_comparison(tested)
    return format_delta(delta.mean_auroc if key is None else delta.values.get(key))


def label(row: Row) -> str:
    return f"{row.label} {RANDOM_MARK}" if row.random_init else row.label


def show_mean(group: ProbeGroup) -> bool:
    return any(c.metric == "auroc" for c in group.columns)


def show_rank(group: ProbeGroup) -> bool:
    return any(r.mean_rank is not None for r in group.rows)


def group_lines(group: ProbeGroup) -> tuple[list[str], list[list[str]]]:
    """Header and body rows of one probe's wide table (our rows and their Δ rows)."""
    mean, rank = show_mean(group), show_rank(group)
    headers = (["encoder"] + [c.header for c in group.columns] + ([MEAN_HEADER] if mean else [])
               + ([RANK_HEADER] if rank else []))
    body = []
    for row in group.rows:
        line = [label(row)] + [format_cell(row.cells.get(c.key)) for c in group.columns]
        line += [format_interval(row.mean_auroc, row.mean_auroc_ci)] if mean else []
        line += [number(row.mean_rank, 2)] if rank else []
        body.append(line)
        if row.delta is not None:
            line = [DELTA_LABEL] + [delta_cell(row.delta, c.key) for c in group.columns]
            line += [delta_cell(row.delta, None)] if mean else []
            line += [""] if rank else []
            body.append(line)
    return headers, body


def published_cell(prow: PublishedRow, col: Column) -> str:
    if col.key not in prow.cells:
        return MISSING
    mean, std = prow.cells[col.key]
    return f"{mean:.3f} ± {std:.3f}"


def published_columns(board: Leaderboard) -> list[Column]:
    return [c for c in board.columns if any(c.key in r.cells for r in board.reference)]


def published_lines(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    cols = published_columns(board)
    mean = bool(board.reference_mean_columns)
    headers = ["model"] + [c.header for c in cols] + ([MEAN_HEADER] if mean else [])
    body = []
    for prow in board.reference:
        line = [prow.model] + [published_cell(prow, c) for c in cols]
        body.append(line + ([number(prow.mean_auroc)] if mean else []))
    return headers, body


def titles(board: Leaderboard, keys: list) -> str:
    return ", ".join(board.column(k).title for k in keys)


def comparison_task(board: Leaderboard, c: Comparison) -> str:
    return MEAN_TASK if c.column is None else board.column(c.column).header


def comparison_lines(board: Leaderboard, probe: str) -> list[list[str]]:
    """One line per compared row × task of one probe group (columns :data:`COMPARISON_HEADERS`)."""
    return [[c.a, comparison_task(board, c), format_delta(c.delta) + (SIGNIFICANT_MARK if c.significant else ""),
             format_delta_ci(c), format_p(c.p_value), format_p(c.p_holm), c.test or MISSING]
            for c in board.comparisons if c.probe == probe]
