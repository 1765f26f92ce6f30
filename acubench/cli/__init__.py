"""The ``acubench`` command line: a thin layer over the Python API.

Each sub-command lives in its own module under ``acubench.cli`` and exposes
``register(subparsers)``; this module only assembles them and turns the
project's expected errors into one clear line and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from acubench import __version__

#: Sub-command modules, in the order ``acubench --help`` lists them.
COMMANDS = ("run", "listing", "embed", "data", "align", "leaderboard_cmd")


class UsageError(Exception):
    """A command-line mistake; printed as one line, exit status 2."""


def _expected_errors() -> tuple[type[BaseException], ...]:
    from acubench.align.presets import AlignConfigError
    from acubench.align.trainer import AlignError
    from acubench.audio import AudioError
    from acubench.checkpoints import CheckpointError
    from acubench.leaderboard.aggregate import LeaderboardError
    from acubench.encoders._hear_model import HearError
    from acubench.manifest import DatasetError, ManifestError, TaskOptionError
    from acubench.paths import OutputError
    from acubench.plugins import DuplicateNameError, UnknownNameError
    from acubench.specs import SpecError
    from acubench.weights import WeightsNotFound

    from acubench.errors import AcubenchError

    return (AcubenchError, UsageError, AudioError, DatasetError, ManifestError, UnknownNameError, DuplicateNameError,
            SpecError, CheckpointError, WeightsNotFound, FileNotFoundError, LeaderboardError, AlignError,
            AlignConfigError, TaskOptionError, OutputError, HearError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acubench",
        description="Benchmark and post-train (AcuLa) cardio-respiratory audio encoders.",
        epilog="Start with `acubench run --encoder opera --tasks demo`. Docs: README.md.",
    )
    parser.add_argument("--version", action="version", version=f"acubench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--disable-plugin", action="append", default=[], metavar="NAME",
                        help="do not load the plugin registered under NAME (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"acubench.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"acubench.cli.{name}":
                continue  # a command group not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.disable_plugin:
        from acubench import plugins

        plugins.set_blocked(tuple(args.disable_plugin))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished work is cached and a re-run resumes", file=sys.stderr)
        return 130
    except _expected_errors() as exc:
        if args.verbose:
            raise
        print(f"acubench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
