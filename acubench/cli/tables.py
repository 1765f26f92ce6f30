"""Terminal tables that stay readable at any width.

A rich table squeezed below its minimum width folds every cell into a few letters per line
(at 80 columns the task list read ``demo- / cough``). Where the table does not fit, the
same rows are printed as records instead: the row's id as a heading, then one
``column: value`` line per non-empty cell, wrapped at word boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def print_rows(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    console: Console | None = None,
    show_lines: bool = False,
) -> None:
    """Print ``rows`` as a table where it fits the console, else as one record per row.

    Parameters
    ----------
    title : str
        Printed above the table (or above the records).
    headers : sequence of str
        Column names; the first column is the row's id (never folded: users copy it).
    rows : sequence of sequences of str
        One cell per header; cells may hold rich markup and newlines.
    console : rich.console.Console, optional
        Where to print (default: standard output).
    show_lines : bool
        Rule lines between table rows (for multi-line cells).
    """
    console = console or Console()
    table = Table(title=title or None, title_justify="left", show_lines=show_lines)
    table.add_column(headers[0], no_wrap=True)
    for header in headers[1:]:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    # The minimum is the width at which every cell still breaks only between words.
    if Measurement.get(console, console.options.update_width(10**6), table).minimum <= console.width:
        console.print(table)
        return
    if title:
        console.print(Text(title, style="bold"))
    label_width = max(len(h) for h in headers[1:]) + 1
    for row in rows:
        console.print()
        console.print(Text.from_markup(row[0], style="bold"))
        for header, cell in zip(headers[1:], row[1:], strict=True):
            if not cell:
                continue
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=label_width + 2, style="dim", no_wrap=True)
            grid.add_column(ratio=1)
            grid.add_row(f"  {header}:", Text.from_markup(cell.replace("\n", "; "), overflow="fold"))
            console.print(grid, width=console.width, crop=False)
