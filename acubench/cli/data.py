"""``acubench data status | manifest | prepare``: where the datasets go, what a task reads, conversions."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from acubench.cli.common import add_task_option_arg, reporter, task_options
from acubench.cli.common import console as stderr_console
from acubench.cli.tables import print_rows

_STATE_STYLE = {
    "complete": "[green]✓ complete[/]",
    "present": "[green]✓ present[/] (not checked)",
    "built-in": "[cyan]built in[/]",
    "incomplete": "[red]✗ incomplete[/]",
    "absent": "[yellow]– not downloaded[/]",
    "error": "[red]✗ error[/]",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset status, task manifests, dataset preparation",
                       description="Where each dataset must lie under the data root and whether it is there; the "
                                   "exact clip list of a task; conversion steps some datasets need.")
    actions = p.add_subparsers(dest="data_action", metavar="ACTION")
    p.set_defaults(func=lambda args: _help(p))

    s = actions.add_parser("status", help="which datasets are present, and where to put the missing ones",
                           description="For every registered task, grouped by dataset: whether its data is present "
                                       "and complete under the data root, and if not where to download it and the "
                                       "exact folder and layout to unpack it into.")
    _add_root(s)
    s.add_argument("--json", action="store_true", help="print the status as JSON (for scripts)")
    s.set_defaults(func=_status)

    m = actions.add_parser("manifest", help="the validated clip list of a task (CSV), with split counts",
                           description="Load a task from the data root, validate it (labels, splits, subject "
                                       "independence) and write its manifest: clip_id, path, label, subject, split "
                                       "(+ start, end, channel where used, + metadata). Prints the split counts and, "
                                       "where published, the reference counts.",
                           epilog="example: acubench data manifest T05 --data-root ~/data -o icbhi.csv")
    m.add_argument("task", metavar="TASK", help="task id or name (see `acubench tasks`)")
    _add_root(m)
    m.add_argument("-o", "--output", default=None, metavar="FILE", help="write the CSV here (default: stdout)")
    m.add_argument("--protocol", default="default", choices=("default", "reference"),
                   help="split protocol: the corrected default, or 'reference' to reproduce the OPERA code exactly")
    add_task_option_arg(m)
    m.set_defaults(func=_manifest)

    r = actions.add_parser("prepare", help="run a dataset's conversion step (e.g. CoughVID webm/ogg → WAV)",
                           description="Run the preparation a dataset needs before its tasks can load, e.g. the "
                                       "FFmpeg conversion of CoughVID. Resumable: finished files are kept.")
    r.add_argument("dataset", metavar="DATASET", help="dataset id (see `acubench data status`)")
    _add_root(r)
    r.set_defaults(func=_prepare)


def _add_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="datasets folder (default $ACUBENCH_DATA, else ~/acubench-data)")


def _help(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 0


# --- status ---------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    from acubench.engine.datastatus import dataset_statuses, root_source, status_report
    from acubench.paths import data_root
    from acubench.plugins import registries

    root = data_root(args.data_root).absolute()
    reg = registries()
    statuses = dataset_statuses(root, reg.datasets.items, list(reg.tasks))
    source = root_source(args.data_root)
    if args.json:
        print(json.dumps(status_report(root, statuses, source=source), indent=2))
        return 0
    out = Console()
    where = {"--data-root": "from --data-root",
             "default": "the default; set $ACUBENCH_DATA or --data-root to change it"}
    out.print(f"Data root: [bold]{root}[/] ({where.get(source, 'from ' + source)})"
              + ("" if root.is_dir() else " — [yellow]does not exist yet[/]"))
    external = [s for s in statuses if s.state != "built-in"]
    if not any(s.state != "absent" for s in external):
        _first_contact(out, root, statuses)
        return 0
    rows = []
    for s in statuses:
        files = "" if s.check is None or not s.check.present else (
            f"{s.check.found}/{s.check.expected}" if s.check.expected is not None else str(s.check.found))
        name = s.id if s.spec is None else f"{s.id}\n[dim]{s.spec.name}[/]"
        rows.append((name, _task_list(s.tasks), _STATE_STYLE[s.state], files, str(s.folder or "")))
    print_rows("Datasets and their tasks", ("dataset", "tasks", "status", "files", "folder"), rows, console=out)
    for s in statuses:
        if s.state in ("incomplete", "error"):
            out.print(f"\n[bold]{s.id}[/]: {_STATE_STYLE[s.state]}")
            for problem in s.problems:
                out.print(f"  • {problem}")
            if s.spec is not None:
                out.print(f"  Expected in {s.folder}: {s.spec.layout}")
                out.print(f"  Source: {s.spec.url} ({s.spec.access}, licence {s.spec.license})")
    absent = [s for s in statuses if s.state == "absent"]
    if absent:
        out.print("\nNot downloaded yet (each is optional; a task runs once its dataset is in place):")
        _print_where(out, absent)
    with_options = [s for s in statuses if s.spec is not None and s.spec.options]
    if with_options:
        out.print("\nLoader options (--task-arg KEY=VALUE):")
        for s in with_options:
            out.print(f"  {s.id}: " + "; ".join(f"[bold]{k}[/] — {escape(v)}" for k, v in s.spec.options.items()))
    ready = sorted(t.id for s in statuses if s.ready and s.state != "built-in" for t in s.tasks)
    total = sum(len(s.tasks) for s in external)
    out.print(f"\n{len(ready)} of {total} dataset tasks have their data"
              + (f" ({', '.join(ready)}): run them with `acubench run --encoder opera --tasks all`." if ready else "."))
    return 0


def _task_list(tasks) -> str:
    return "\n".join(t.id if t.name == t.id else f"{t.id} {t.name}" for t in tasks) or "[dim]none[/]"


def _print_where(out: Console, statuses) -> None:
    rows = []
    for s in statuses:
        spec = s.spec
        access = "[green]public[/]" if spec.access == "public" else f"[yellow]{spec.access}[/]"
        rows.append((f"{s.id}\n[dim]{spec.name}[/]", _task_list(s.tasks),
                     f"{spec.url}\n{access}, licence {spec.license}",
                     f"[bold]{s.folder}[/]\n[dim]holding: {spec.layout}[/]"))
    print_rows("", ("dataset", "tasks", "get it from", "put it in"), rows, console=out, show_lines=True)


def _first_contact(out: Console, root: Path, statuses) -> None:
    built_in = [t for s in statuses if s.state == "built-in" for t in s.tasks]
    external = [s for s in statuses if s.state != "built-in"]
    out.print("\nNo dataset is in place yet — that is fine for a first try:")
    steps = []
    if built_in:
        steps.append(f"Run the built-in synthetic suite ({len(built_in)} tasks, generated on first use, nothing to "
                     "download):\n     [bold]acubench run --encoder opera --tasks demo[/]")
    steps.append("For the real benchmark, download any dataset below and unpack it into the folder shown, keeping "
                 "the publisher's file names; then run [bold]acubench data status[/] again.")
    for i, step in enumerate(steps, 1):
        out.print(f"  {i}. {step}")
    if external:
        _print_where(out, external)


# --- manifest --------------------------------------------------------------------------


def _manifest(args: argparse.Namespace) -> int:
    from acubench.datasets import (
        check_task_options,
        compares_to_expected,
        load_manifest,
        manifest_columns,
        split_summary,
        write_manifest,
    )
    from acubench.paths import cache_dir, check_writable_file, data_root
    from acubench.plugins import get_task, registries

    task = get_task(args.task)
    if args.output:
        check_writable_file(args.output, what="manifest file (-o)", fix="choose another -o")
    options = task_options(args.task_arg)
    check_task_options([task], options, {d.id: d for d in registries().datasets})
    root = data_root(args.data_root).absolute()
    if args.protocol == "reference" and "reference" not in task.protocols:
        stderr_console().print(f"{task.id} has one protocol; its reference protocol is the default.")
    df = load_manifest(task, data_root=root, protocol=args.protocol, options=options, cache=cache_dir())
    if args.output:
        path = write_manifest(df, Path(args.output))
        report = Console()
        report.print(f"Wrote {len(df)} clips of {task.id} ({task.name}, protocol {args.protocol}) to {path}")
    else:
        try:
            df[manifest_columns(df)].to_csv(sys.stdout, index=False)
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader has what it wanted; say nothing more
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        report = stderr_console()
    compare = compares_to_expected(task, args.protocol)
    table = Table(title=f"{task.id} {task.name}: split counts ({args.protocol} protocol)", title_justify="left")
    for col in ("split", "clips", *(f"{c}" for c in task.classes), "subjects"):
        table.add_column(col, justify="right")
    if task.expected_counts:
        table.add_column("published" if compare else "published (reference protocol)", justify="right")
    mismatches = []
    for row in split_summary(df, task):
        cells = [row.split, str(row.clips), *(str(row.per_class.get(c, 0)) for c in task.classes), str(row.subjects)]
        if task.expected_counts:
            if row.expected is None:
                cells.append("")
            elif compare:
                ok = row.expected == row.clips
                cells.append(f"{row.expected} {'[green]✓[/]' if ok else '[red]✗[/]'}")
                if not ok:
                    mismatches.append(row.split)
            else:
                cells.append(str(row.expected))
        table.add_row(*cells)
    report.print(table)
    if mismatches:
        report.print(f"[red]✗[/] {', '.join(mismatches)} differ from the published counts; is this the dataset "
                     f"release the reference used? ({task.protocol_notes or 'see the task description'})")
    elif task.expected_counts and not compare:
        report.print("The published counts are those of --protocol reference; see `acubench tasks` for how the "
                     "default protocol differs.")
    return 0


# --- prepare ---------------------------------------------------------------------------


def _prepare(args: argparse.Namespace) -> int:
    from acubench.datasets import prepare_dataset
    from acubench.paths import data_root
    from acubench.plugins import get_dataset

    spec = get_dataset(args.dataset)
    report = reporter()
    if not prepare_dataset(spec, data_root(args.data_root), report):
        report.note(f"{spec.id} ({spec.name}) needs no preparation: its tasks read the files as published.")
    return 0
