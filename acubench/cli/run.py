"""``acubench run``: benchmark encoders on tasks."""

from __future__ import annotations

import argparse

from acubench.cli.align import add_aligned_args, align_options
from acubench.cli.common import (
    RegistryHelpFormatter,
    add_encoder_args,
    add_task_args,
    csv_list,
    encoder_options,
    reporter,
    task_options,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="benchmark encoders on tasks (frozen embeddings + probes)",
        description="Embed every clip of the selected tasks with each encoder (cached), fit probe\n"
                    "heads over several seeds, and write to a run folder: config.json, results.jsonl\n"
                    "(each score with its 95 % subject-bootstrap interval), predictions.parquet (every\n"
                    "test clip's score) and the leaderboard (.md, .csv, .json, .png).",
        epilog="examples:\n  acubench run --encoder opera --tasks demo\n"
               "  acubench run --encoder opera --aligned\n"
               "  acubench run --encoder opera --aligned --align-loss cka --lambda-mam 0\n"
               "  acubench run --encoder opera-gt --aligned-checkpoint runs/align/acula_final.pt\n"
               "  acubench run --encoder opera-ct,clap --tasks all --data-root ~/data --probe linear,lightgbm",
        formatter_class=RegistryHelpFormatter,
    )
    p.add_argument("--encoder", "-e", required=True, type=csv_list, metavar="NAME[,NAME]",
                   help="encoder id(s) or alias(es), see `acubench encoders` (e.g. opera, logmel,opera-ct)")
    add_run_args(p)
    add_aligned_args(p)
    p.set_defaults(func=_run)


def add_run_args(p: argparse.ArgumentParser) -> None:
    """Tasks, probes, seeds, outputs and encoder loading: what `run` and `sweep` share."""
    add_task_args(p)
    p.add_argument("--probe", default=["linear"], type=csv_list, metavar="HEAD[,HEAD]",
                   help="probe heads (default linear): {probes}; see `acubench probes` (reference-linear is "
                        "the OPERA protocol)")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="seeds per probe (default 5)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="subject-bootstrap resamples behind every score's 95 %% interval (default 1000; 0: none)")
    p.add_argument("--out", "-o", default=None, metavar="DIR", help="run folder (default: a new folder under runs/)")
    p.add_argument("--runs-dir", default="runs", metavar="DIR", help="parent of new run folders (default runs/)")
    p.add_argument("--overwrite", action="store_true",
                   help="let --out replace a finished run (the old files go only once the new ones are complete)")
    add_encoder_args(p)
    p.add_argument("--skip-bad-audio", action="store_true",
                   help="skip unreadable/empty/silent/NaN recordings with a warning (counted in the results) "
                        "instead of stopping at the first")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    p.add_argument("--reference", action="store_true", help="add the published OPERA numbers as reference rows")


def _run(args: argparse.Namespace) -> int:
    run_from_args(args, args.encoder, align_options(args))
    return 0


def run_from_args(args: argparse.Namespace, encoders: list[str], align) -> None:
    """:func:`acubench.api.run` with the shared flags of :func:`add_run_args`; prints the board."""
    from acubench.api import run
    from acubench.cli import UsageError
    from acubench.leaderboard.render import rich_table

    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap {args.bootstrap}: must be >= 0 (0 turns intervals off)")
    report = reporter()
    result = run(encoders, tasks=args.tasks, probes=args.probe, seeds=args.seeds, out=args.out,
                 runs_dir=args.runs_dir, data_root=args.data_root, protocol=args.protocol,
                 task_options=task_options(args.task_arg), encoder_options=encoder_options(args),
                 skip_bad_audio=args.skip_bad_audio, use_cache=not args.no_cache, aligned=align is not None,
                 align_options=align, reference_rows=args.reference, bootstrap=args.bootstrap,
                 overwrite=args.overwrite, reporter=report)
    if result.board is None:  # a torchrun rank other than 0: rank 0 prints and writes
        return 0
    # The board the files were rendered from, reference rows included: terminal and files agree.
    report.console.print(rich_table(result.board))
    report.note(f"wrote {', '.join(str(p) for p in result.files.values())}")
