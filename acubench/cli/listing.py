"""``acubench encoders``, ``tasks``, ``probes``, ``plugins``: what is registered."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from acubench.cli.tables import print_rows


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encoders", help="list registered encoders and whether their weights are present",
                       description="Registered encoders (built-in and plugins), their input rate, embedding size, "
                                   "and whether released weights were found locally (nothing is downloaded). "
                                   "Given names, shows those; an adapter such as hear:MODULE is loaded to show the "
                                   "wrapped model's own name, rate and size.",
                       epilog="example: acubench encoders hear:hearbaseline")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these encoders (ids, aliases or hear:MODULE)")
    p.set_defaults(func=_encoders)
    p = sub.add_parser("tasks", help="list registered tasks and whether their data is present",
                       description="Registered tasks with dataset, modality, target, metric and split protocol, and "
                                   "whether the data is present under the data root.")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="datasets folder (default $ACUBENCH_DATA or ~/acubench-data)")
    p.add_argument("--suite", default=None, help="only tasks of this suite (demo, acula18, opera, extra)")
    p.set_defaults(func=_tasks)
    p = sub.add_parser("probes", help="list registered probe heads and what they declare",
                       description="Registered probe heads (built-in and plugins): the task kinds they handle, whether "
                                   "features are standardised, whether one fit serves every seed, whether they train, "
                                   "and the task probe options they read.")
    p.set_defaults(func=_probes)
    p = sub.add_parser("plugins", help="list loaded plugins and the distributions that provide them")
    p.set_defaults(func=_plugins)


def _encoders(args: argparse.Namespace) -> int:
    from acubench.plugins import registries
    from acubench.weights import locate_weights

    reg = registries().encoders
    rows = []
    for name in args.names or [spec.id for spec in reg]:
        base, _, arg = name.partition(":")
        spec = reg.get(base)
        if spec.weights is None:
            status = "[dim]none needed[/]" if spec.random_init else "[dim]the wrapped model's own[/]"
        else:
            found = locate_weights(spec)
            where = spec.weights.filename or spec.weights.hf_repo or ""
            status = (f"[green]found[/] {found}" if found
                      else f"[yellow]not found[/] ({where}; random init only with --random-init)")
        label, rate, dim = spec.id, str(spec.sample_rate or "from model"), str(spec.embed_dim or "from model")
        if arg:  # an adapter's instance: only the wrapped model knows its rate and size
            from acubench.loading import load_encoder

            encoder = load_encoder(name)
            label, rate, dim = f"{spec.id}:{arg}", str(encoder.sample_rate), str(encoder.embed_dim)
            status = encoder.weights_info.source or status
        rows.append((label, ", ".join(spec.aliases), spec.family, rate, dim,
                     "yes" if spec.supports_alignment else "no", status, reg.owners[spec.id]))
    print_rows("Registered encoders", ("id", "aliases", "family", "rate (Hz)", "dim", "AcuLa", "weights", "plugin"),
               rows)
    return 0


def _tasks(args: argparse.Namespace) -> int:
    from acubench.paths import data_root
    from acubench.plugins import registries
    from acubench.specs import resolve_ref

    reg = registries()
    suites = sorted({s for t in reg.tasks for s in t.suites})
    if args.suite and args.suite not in suites:
        from acubench.cli import UsageError

        raise UsageError(f"--suite {args.suite}: no such suite; choose from {', '.join(suites)}")
    root = data_root(args.data_root)
    checks: dict[str, str] = {}
    rows = []
    for task in sorted(reg.tasks, key=lambda t: (t.suites[:1] != ("demo",), t.id)):
        if args.suite and args.suite not in task.suites:
            continue
        if task.dataset not in checks:
            checks[task.dataset] = _data_state(reg, task.dataset, root, resolve_ref)
        metric = "AUROC ↑" if task.metric == "auroc" else "MAE ↓"
        if task.kind == "multiclass":
            metric += f" (macro OvR, {len(task.classes)} classes)"
        split = "leave-one-subject-out" if task.protocol == "loso" else "train/val/test"
        rows.append((task.id, task.name, task.dataset, task.modality, task.target, metric, split,
                     ", ".join(task.suites), checks[task.dataset]))
    print_rows(f"Registered tasks (data root {root})",
               ("id", "name", "dataset", "modality", "target", "metric", "split", "suites", "data"), rows)
    Console(stderr=True).print("Details and download instructions: `acubench data status`.")
    return 0


def _data_state(reg, dataset_id: str, root, resolve_ref) -> str:
    try:
        spec = reg.datasets.get(dataset_id)
    except KeyError:
        return "[red]no dataset spec[/]"
    if spec.generated:
        return "[green]built in[/] (generated on first use)"
    if not (root / spec.folder).is_dir():
        return "[yellow]absent[/]"  # without importing the plugin's check (and its readers)
    if spec.check is None:
        return "[green]present[/]"
    check = resolve_ref(spec.check)(root / spec.folder)
    if not check.present:
        return "[yellow]absent[/]"
    if check.complete:
        return f"[green]complete[/] ({check.found} files)"
    expected = f"/{check.expected}" if check.expected else ""
    return f"[red]incomplete[/] ({check.found}{expected} files)"


def _probes(args: argparse.Namespace) -> int:
    from acubench.plugins import registries

    reg = registries().probes
    rows = []
    for spec in reg:
        kinds = "all kinds" if len(spec.kinds) == 3 else ", ".join(spec.kinds)
        declares = [kinds, "standardised features" if spec.standardise else "raw features",
                    "one fit for every seed" if spec.deterministic else "a fit per seed",
                    "trains" if spec.trains else "does not train (scorer)"]
        if spec.aligned_only:
            declares.append("aligned encoders only")
        if spec.options:
            declares += ["task options:", *sorted(spec.options)]
        rows.append((spec.id, spec.description, declares + [f"plugin: {reg.owners[spec.id]}"]))
    table = Table(title="Registered probe heads", title_justify="left", show_lines=True)
    table.add_column("id", no_wrap=True)  # what users copy into --probe
    table.add_column("description", ratio=1)
    # Option names are what users type into task specs: as wide as the longest, never cut.
    table.add_column("declares", min_width=max(len(line) for *_, declares in rows for line in declares))
    for probe_id, description, declares in rows:
        table.add_row(probe_id, description, "\n".join(declares))
    Console().print(table)
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from acubench.plugins import plugin_manager

    pm = plugin_manager()
    table = Table(title="Loaded acubench plugins", title_justify="left")
    table.add_column("name")
    table.add_column("module")
    table.add_column("distribution")
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda x: x[0]):
        dist = dists.get(id(plugin))
        table.add_row(name, getattr(plugin, "__name__", repr(plugin)),
                      f"{dist.project_name} {dist.version}" if dist else "")
    Console().print(table)
    return 0
