"""The command line's reporter: rich lines and transient progress bars on stderr."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from acubench.reporting import Level

_STYLE = {"heading": "bold", "warning": "yellow", "error": "bold red"}


class RichReporter:
    """A :class:`~acubench.reporting.Reporter` that writes to a rich console (stderr by default).

    Parameters
    ----------
    console : rich.console.Console, optional
        Where to write; stdout stays free for tables and pipes.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)

    def note(self, message: str, *, level: Level = "info") -> None:
        style = _STYLE.get(level)
        text = escape(message)  # file names and task ids are not markup
        self.console.print(f"[{style}]{text}[/]" if style else text)

    @contextlib.contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=self.console, transient=True) as bar:
            job = bar.add_task(escape(description), total=total)
            yield lambda n: bar.advance(job, n)
