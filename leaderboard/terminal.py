"""The leaderboard in a terminal: the widest layout that fits, never a truncated number.

Three layouts, tried in order against the console's width:

* **wide** — a row per encoder, a column per task (as the Markdown);
* **transposed** — a row per task, a column per encoder (few encoders, many tasks);
* **long** — a line per encoder × task, which fits 80 columns whatever the table.

A layout fits when its narrowest rendering (labels may wrap, numbers may not)
is within the width. Number columns are at least as wide as their longest
number, so a chosen layout shows every number whole; where nothing fits (a very
narrow terminal) numbers fold onto a second line rather than being cut.
Every string goes in as :class:`rich.text.Text`, so labels such as
``"T05 [reference]"`` are shown literally instead of being read as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from acubench.leaderboard.aggregate import Leaderboard
from acubench.leaderboard.notes import notes
from acubench.leaderboard.reference import LABEL
from acubench.leaderboard.text import (
    DEFAULT_TITLE,
    DELTA_LABEL,
    MEAN_HEADER,
    MISSING,
    RANK_HEADER,
    comparison_lines,
    delta_cell,
    format_cell,
    format_interval,
    label,
    number,
    published_lines,
    show_mean,
    show_rank,
)

_Line = tuple[list[str], str | None]  # cells, style


def _styled(text: str, style: str | None = None) -> Text:
    if text and text[0] in "+-" and style is None:
        style = "green" if text[0] == "+" else "red"
    return Text(text, style=style or "")


def _table(headers: list[str], lines: Iterable[_Line], numeric_from: int, *, title: str | None = None,
           sections: Iterable[int] = ()) -> Table:
    """A table whose columns from ``numeric_from`` on hold numbers: right-aligned, never narrower than their text."""
    lines = list(lines)
    table = Table(title=Text(title) if title else None, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for j, head in enumerate(headers):
        if j < numeric_from:
            table.add_column(Text(head), overflow="fold")
        else:
            widest = max([len(cells[j]) for cells, _ in lines if j < len(cells)] + [1])
            table.add_column(Text(head), justify="right", overflow="fold", min_width=widest)
    breaks = set(sections)
    for i, (cells, style) in enumerate(lines):
        if i in breaks:
            table.add_section()
        table.add_row(*(_styled(c, style) if j >= numeric_from and style is None else Text(c, style=style or "")
                        for j, c in enumerate(cells)))
    return table


def _row_series(board: Leaderboard) -> list[tuple[str, dict[str, str], int, bool]]:
    """(name, task header → text, probe group index, is a Δ row) for each row and Δ row, in table order."""
    multi = len(board.groups) > 1
    series = []
    for g, group in enumerate(board.groups):
        for row in group.rows:
            name = label(row) + (f" · {group.probe}" if multi else "")
            values = {c.header: format_cell(row.cells.get(c.key)) for c in group.columns}
            if show_mean(group):
                values[MEAN_HEADER] = format_interval(row.mean_auroc, row.mean_auroc_ci)
            if show_rank(group):
                values[RANK_HEADER] = number(row.mean_rank, 2)
            series.append((name, values, g, False))
            if row.delta is not None:
                delta = {c.header: delta_cell(row.delta, c.key) for c in group.columns}
                if show_mean(group):
                    delta[MEAN_HEADER] = delta_cell(row.delta, None)
                series.append((f"{DELTA_LABEL} ({row.label})", delta, g, True))
    return series


def _task_headers(board: Leaderboard) -> list[str]:
    heads = [c.header for c in board.columns]
    heads += [MEAN_HEADER] if any(show_mean(g) for g in board.groups) else []
    heads += [RANK_HEADER] if any(show_rank(g) for g in board.groups) else []
    return heads


def _group_breaks(series: list) -> list[int]:
    return [i for i in range(1, len(series)) if series[i][2] != series[i - 1][2]]


def _wide(board: Leaderboard) -> Table:
    series, heads = _row_series(board), _task_headers(board)
    lines = [([name] + [values.get(h, "" if delta else MISSING) for h in heads], "italic" if delta else None)
             for name, values, _, delta in series]
    return _table(["encoder"] + heads, lines, 1, sections=_group_breaks(series))


def _transposed(board: Leaderboard) -> Table:
    series = _row_series(board)
    lines = [([head] + [values.get(head, MISSING) for _, values, _, _ in series], None)
             for head in _task_headers(board)]
    return _table(["task"] + [name for name, _, _, _ in series], lines, 1)


def _long(board: Leaderboard) -> Table:
    lines: list[_Line] = []
    sections = []
    for name, values, _, delta in _row_series(board):
        if lines:
            sections.append(len(lines))
        for head in _task_headers(board):
            if head in values:
                value, _, p = values[head].partition(" p=")
                lines.append(([name, head, value, p], "italic" if delta else None))
    return _table(["encoder", "task", "score [95 % CI]", "p"], lines, 2, sections=sections)


def _published(board: Leaderboard) -> list[Table]:
    headers, body = published_lines(board)
    wide = _table(headers, [(line, "dim") for line in body], 1, title=LABEL)
    long_lines = [([line[0], head, value], "dim") for line in body
                  for head, value in zip(headers[1:], line[1:], strict=True)]
    return [wide, _table(["model", "task", "mean ± std"], long_lines, 2, title=LABEL)]


def _comparisons(board: Leaderboard) -> list[Table]:
    # Short headers and no test column (the notes say which test each metric gets), to fit 80 columns.
    heads = ["encoder", "task", "Δ", "95 % CI", "p", "Holm"]
    out = []
    for group in board.groups:
        lines = [(line[:-1], None) for line in comparison_lines(board, group.probe)]
        if lines:
            out.append(_table(heads, lines, 2, title=f"Paired comparisons with {board.compare_with} "
                                                     f"(probe {group.probe})"))
    return out


class LeaderboardView:
    """A renderable that lays a :class:`Leaderboard` out for the width it is given (see the module doc)."""

    def __init__(self, board: Leaderboard, title: str | None = None) -> None:
        self.board, self.title = board, title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[RenderableType]:
        yield Text(self.title or DEFAULT_TITLE, style="bold")
        yield _fitting([_wide(self.board), _transposed(self.board), _long(self.board)], console, options)
        yield from _comparisons(self.board)
        if self.board.reference:
            yield _fitting(_published(self.board), console, options)
        yield Text("\n".join(notes(self.board)), style="dim")


def _fitting(candidates: list[Table], console: Console, options: ConsoleOptions) -> Table:
    # Measured unconstrained: rich clamps a measurement to the width it is given.
    unbounded = options.update_width(1 << 16)
    for table in candidates:
        if Measurement.get(console, unbounded, table).minimum <= options.max_width:
            return table
    return candidates[-1]


def rich_table(board: Leaderboard, *, title: str | None = None) -> RenderableType:
    """The leaderboard for ``console.print``: title, the widest layout that fits, comparisons, published rows, notes."""
    return Group(LeaderboardView(board, title))
