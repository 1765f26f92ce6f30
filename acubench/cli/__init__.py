"""The ``acubench`` command line: a thin layer over the Python API.

Each sub-command lives in its own module under ``acubench.cli`` and exposes
``register(subparsers)``; this module only assembles them and turns the
project's own errors (:class:`~acubench.errors.AcubenchError`) into one clear
line and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from collections.abc import Sequence

from acubench._version import __version__
from acubench.errors import AcubenchError

#: Sub-command modules, in the order ``acubench --help`` lists them.
COMMANDS = ("run", "listing", "embed", "data", "align", "sweep", "leaderboard_cmd")


class UsageError(AcubenchError):
    """A command-line mistake; printed as one line, exit status 2."""


#: OS errors that describe the machine (space, quota, permissions, read-only file systems), reported in one line.
_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})


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
        importlib.import_module(f"acubench.cli.{name}").register(sub)
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
    except AcubenchError as exc:
        if args.verbose:
            raise
        print(f"acubench: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A full disk, a quota, a read-only mount or a permission: the machine's state, never acubench's bug.
        if args.verbose or exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"acubench: error: {where}{exc.strerror}. Free space or fix the permissions, or point acubench "
              f"elsewhere ($ACUBENCH_CACHE, --out, -o)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
