"""How services tell the user what they are doing: a small reporter interface.

The runner, extraction and data preparation report through a :class:`Reporter`
and never print. The command line passes a rich one (tables, progress bars on
stderr, :class:`acubench.cli.reporting.RichReporter`); the Python API defaults
to :class:`LogReporter`, which only logs, so ``acubench.run(...)`` in a
notebook or a script stays quiet unless logging is switched on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Literal, Protocol

Level = Literal["info", "heading", "warning", "error"]

log = logging.getLogger("acubench")


class Reporter(Protocol):
    """What a service may say while it works."""

    def note(self, message: str, *, level: Level = "info") -> None:
        """One line for the user: ``heading`` opens a stage, ``warning`` flags something skipped or odd,
        ``error`` something that failed while the work goes on (a task left out of a run)."""

    def progress(self, description: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
        """A progress display for ``total`` items; the context yields ``advance(n)``."""


class LogReporter:
    """The quiet default: lines go to the ``acubench`` logger, progress is not shown."""

    def note(self, message: str, *, level: Level = "info") -> None:
        log.log({"warning": logging.WARNING, "error": logging.ERROR}.get(level, logging.INFO), "%s", message)

    @contextlib.contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda n: None
