"""The plugin manager and the registry of encoders, datasets, tasks and probe heads.

Built-ins and third-party plugins arrive the same way: through the
``acubench`` entry-point group. The registry is filled once from the hooks,
checked for duplicate ids and aliases, and then read-only.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import pluggy

from acubench import hookspecs
from acubench.errors import AcubenchError
from acubench.specs import SPLIT_OPTIONS, DatasetSpec, EncoderSpec, ProbeSpec, SpecError, TaskSpec

T = TypeVar("T")

ENTRY_POINT_GROUP = "acubench"


class UnknownNameError(AcubenchError, KeyError):
    """An id that no registered plugin provides."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateNameError(AcubenchError, ValueError):
    """Two plugins claim the same id or alias."""


@dataclass
class Registry(Generic[T]):
    """Specs by id and alias, each entry remembering the plugin that gave it."""

    kind: str
    items: dict[str, T]
    owners: dict[str, str]
    aliases: dict[str, str]

    @classmethod
    def build(cls, kind: str, contributions: Iterable[tuple[str, T]]) -> Registry[T]:
        items: dict[str, T] = {}
        owners: dict[str, str] = {}
        aliases: dict[str, str] = {}
        for plugin, spec in contributions:
            sid = spec.id  # type: ignore[attr-defined]
            names = [sid, *getattr(spec, "aliases", ()), getattr(spec, "name", sid)]
            for name in dict.fromkeys(names):
                holder = aliases.get(name)
                if holder is not None and holder != sid:
                    raise DuplicateNameError(
                        f"{kind} name {name!r} is claimed by plugin {owners[holder]!r} ({holder}) "
                        f"and plugin {plugin!r} ({sid}); block one with --disable-plugin"
                    )
            if sid in items:
                raise DuplicateNameError(
                    f"{kind} {sid!r} is registered twice: by plugin {owners[sid]!r} and by {plugin!r}"
                )
            items[sid] = spec
            owners[sid] = plugin
            for name in names:
                aliases[name] = sid
        return cls(kind, items, owners, aliases)

    def get(self, name: str) -> T:
        """The spec for an id or alias; unknown names list close matches."""
        key = self.aliases.get(name) or self.aliases.get(name.lower())
        if key is None:
            close = difflib.get_close_matches(name, list(self.aliases), n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Registered: {', '.join(sorted(self.items)) or 'none'}"
            )
        return self.items[key]

    def __contains__(self, name: str) -> bool:
        return name in self.aliases

    def __iter__(self):
        return iter(self.items.values())

    def __len__(self) -> int:
        return len(self.items)


def _manager(blocked: tuple[str, ...]) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("acubench")
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm


_BLOCKED: tuple[str, ...] = ()


def set_blocked(names: tuple[str, ...]) -> None:
    """Plugins (entry-point names) not to load, e.g. from ``--disable-plugin``."""
    global _BLOCKED
    _BLOCKED = tuple(names)
    reset()


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager (entry points loaded, hooks verified)."""
    return _manager(_BLOCKED)


def _collect(pm: pluggy.PluginManager, hook_name: str, expected: type) -> list[tuple[str, object]]:
    hook = getattr(pm.hook, hook_name)
    out: list[tuple[str, object]] = []
    for impl in hook.get_hookimpls():
        result = impl.function()
        name = pm.get_name(impl.plugin) or repr(impl.plugin)
        for spec in result or ():
            if not isinstance(spec, expected):
                raise TypeError(f"plugin {name!r}: {hook_name} returned {type(spec).__name__}, "
                                f"expected {expected.__name__}")
            out.append((name, spec))
    return sorted(out, key=lambda pair: pair[1].id)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Registries:
    encoders: Registry[EncoderSpec]
    datasets: Registry[DatasetSpec]
    tasks: Registry[TaskSpec]
    probes: Registry[ProbeSpec] = field(default_factory=lambda: Registry.build("probe", []))


def check_probe_options(tasks: Registry[TaskSpec], probes: Registry[ProbeSpec]) -> None:
    """Every task's ``probe_options`` key must be read by a registered probe or by its split scheme.

    Raises
    ------
    SpecError
        Naming the task, its plugin, the unread keys and what would read them.
    """
    declared = frozenset().union(*(p.options for p in probes))
    for task in tasks:
        unread = sorted(set(task.probe_options) - declared - SPLIT_OPTIONS[task.protocol])
        if unread:
            accepted = sorted(declared | SPLIT_OPTIONS[task.protocol])
            raise SpecError(
                f"TaskSpec {task.id!r} (plugin {tasks.owners[task.id]!r}): probe option(s) {', '.join(unread)} are "
                f"read by no registered probe nor by its {task.protocol!r} split; a {task.protocol} task accepts "
                f"{', '.join(accepted) or 'none'} (see `acubench probes`)")


@functools.cache
def registries() -> Registries:
    """All registered specs, built once per process from the plugin hooks; task probe options checked."""
    pm = plugin_manager()
    regs = Registries(
        encoders=Registry.build("encoder", _collect(pm, "acubench_encoders", EncoderSpec)),
        datasets=Registry.build("dataset", _collect(pm, "acubench_datasets", DatasetSpec)),
        tasks=Registry.build("task", _collect(pm, "acubench_tasks", TaskSpec)),
        probes=Registry.build("probe", _collect(pm, "acubench_probes", ProbeSpec)),
    )
    check_probe_options(regs.tasks, regs.probes)
    return regs


def reset() -> None:
    """Forget the cached manager and registries (tests that install a plugin)."""
    plugin_manager.cache_clear()
    registries.cache_clear()


def get_encoder(name: str) -> EncoderSpec:
    return registries().encoders.get(name)


def get_task(name: str) -> TaskSpec:
    return registries().tasks.get(name)


def get_dataset(name: str) -> DatasetSpec:
    return registries().datasets.get(name)


def get_probe(name: str) -> ProbeSpec:
    return registries().probes.get(name)


def on_generated_data(task: TaskSpec) -> bool:
    """Whether ``task`` reads a generated (built-in) dataset, such as the demo suite's."""
    datasets = registries().datasets
    return task.dataset in datasets and datasets.get(task.dataset).generated


def named_tasks(selection: str) -> set[str]:
    """Ids of the tasks a ``--tasks`` value names one by one (not through ``all`` or a suite)."""
    tasks = registries().tasks
    tokens = [t.strip() for t in selection.split(",") if t.strip()]
    return {tasks.get(t).id for t in tokens if t != "all" and not any(t in task.suites for task in tasks)}


def select_tasks(selection: str) -> list[TaskSpec]:
    """Tasks for a ``--tasks`` value: ``all``, a suite name (``demo``), or ``ID,ID,…``.

    ``all`` is every task on real data: tasks of a generated (built-in) dataset, such as the
    demo suite, are left out, whatever suites they name.
    """
    tasks = registries().tasks
    chosen: list[TaskSpec] = []
    for token in [t.strip() for t in selection.split(",") if t.strip()]:
        if token == "all":
            chosen.extend(t for t in tasks if not on_generated_data(t))
        elif any(token in t.suites for t in tasks):
            chosen.extend(t for t in tasks if token in t.suites)
        else:
            chosen.append(tasks.get(token))
    if not chosen:
        raise UnknownNameError(f"--tasks {selection!r} selects no task; try 'demo', 'all' or ids from `acubench tasks`")
    # By id: specs with mapping fields (loader_args, probe_options) are not hashable.
    return list({t.id: t for t in chosen}.values())
