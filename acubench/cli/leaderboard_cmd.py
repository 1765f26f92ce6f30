"""``acubench leaderboard``: merge run folders into one table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acubench.cli.common import console, csv_list

#: Output suffix → what is written.
FORMATS = (".md", ".csv", ".json", ".png")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="merge run folders into one leaderboard (Markdown, CSV, JSON or PNG)",
        description="Read results.jsonl and predictions.parquet from each run folder and merge\n"
                    "them (identical records counted once; conflicting results for the same encoder,\n"
                    "task, probe and seed are an error). Every cell gets its 95 % subject-bootstrap\n"
                    "interval; aligned rows are tested against their base, and with --compare ROW\n"
                    "every row against ROW. The table is printed in the layout that fits the\n"
                    "terminal and written to FILE, or as complete Markdown to stdout.",
        epilog="examples:\n  acubench leaderboard runs/a runs/b -o board.md\n"
               "  acubench leaderboard runs/* --reference --probe linear -o board.csv\n"
               "  acubench leaderboard runs/a --compare logmel -o board.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="DIR",
                   help="run folder(s) holding results.jsonl (or the files themselves)")
    p.add_argument("-o", "--out", default=None, metavar="FILE",
                   help="output file; the suffix picks the format: .md, .csv, .json (tidy long table) or .png")
    p.add_argument("--reference", action="store_true", help="add the published OPERA-paper numbers as reference rows")
    p.add_argument("--probe", default=None, type=csv_list, metavar="HEAD[,HEAD]",
                   help="only these probes (e.g. linear)")
    p.add_argument("--title", default=None, help="table title (default 'acubench leaderboard')")
    p.add_argument("--compare", default=None, metavar="ROW",
                   help="compare every other row with ROW (an encoder label) on each task's test clips: Δ, its "
                        "95 %% paired-bootstrap interval, DeLong or paired-bootstrap p-values, Holm-adjusted")
    p.add_argument("--bootstrap", type=int, default=None, metavar="N",
                   help="subject-bootstrap resamples for intervals (default: what the runs recorded, 1000; 0: none)")
    p.set_defaults(func=_leaderboard)


def _leaderboard(args: argparse.Namespace) -> int:
    from acubench.cli import UsageError
    from acubench.leaderboard.aggregate import LeaderboardError, board_from_runs
    from acubench.leaderboard.render import rich_table, to_csv, to_json, to_markdown
    from acubench.paths import atomic_write, check_writable_file
    from acubench.records.results import RecordError, read_run

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix not in FORMATS:
        raise UsageError(f"-o {out}: unknown format {out.suffix!r}; use one of {', '.join(FORMATS)}")
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"-o {out}: folder {out.parent} does not exist")
    if out is not None:
        check_writable_file(out, what="leaderboard file (-o)", fix="choose another -o")
    if args.bootstrap is not None and args.bootstrap < 0:
        raise UsageError(f"--bootstrap {args.bootstrap}: must be >= 0 (0 turns intervals off)")
    try:
        runs = [read_run(run) for run in args.runs]
    except RecordError as exc:  # a malformed line or file: the message names it
        raise UsageError(str(exc)) from None
    try:
        board = board_from_runs(runs, reference=args.reference, bootstrap=args.bootstrap, probes=args.probe,
                                compare=args.compare)
    except LeaderboardError as exc:
        raise UsageError(str(exc)) from None

    console().print(rich_table(board, title=args.title))
    if out is None:
        sys.stdout.write(to_markdown(board, title=args.title))
        return 0
    render = {".md": lambda: to_markdown(board, title=args.title), ".csv": lambda: to_csv(board),
              ".json": lambda: to_json(board), ".png": lambda: _png(board, args.title)}
    atomic_write(out, render[out.suffix]())
    console().print(f"wrote {out}")
    return 0


def _png(board, title: str | None) -> bytes:
    from acubench.leaderboard.plots import render_png  # matplotlib: imported only for a .png

    return render_png(board, title=title)
