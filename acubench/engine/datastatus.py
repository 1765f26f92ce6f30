"""The service behind ``acubench data status``: which datasets are present, and where the others go.

It reads the registered specs and calls a dataset plugin's own check only
when the dataset's folder exists, so on a machine without the data it imports
no plugin code (and no torch, scikit-learn or pandas) and answers at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from acubench.paths import DATA_ENV
from acubench.specs import DataCheck, DatasetSpec, TaskSpec, resolve_ref

State = Literal["built-in", "complete", "incomplete", "present", "absent", "error"]


@dataclass(frozen=True)
class DatasetStatus:
    """Whether one dataset is ready under the data root.

    Attributes
    ----------
    id : str
        Dataset id (``"icbhi"``).
    spec : DatasetSpec or None
        ``None`` for a task whose plugin registers no dataset spec.
    folder : Path or None
        Where the dataset must lie (``<data-root>/<spec.folder>``).
    tasks : tuple of TaskSpec
        Registered tasks reading this dataset, by id.
    state : {"built-in", "complete", "incomplete", "present", "absent", "error"}
        ``present``: the folder exists but the plugin offers no check.
    check : DataCheck or None
        The plugin's check result.
    problems : tuple of str
        One-line problems (from the check, or why it could not run).
    """

    id: str
    spec: DatasetSpec | None
    folder: Path | None
    tasks: tuple[TaskSpec, ...]
    state: State
    check: DataCheck | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ready(self) -> bool:
        return self.state in ("built-in", "complete", "present")

    def as_dict(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "id": self.id,
            "name": spec.name if spec else self.id,
            "state": self.state,
            "ready": self.ready,
            "folder": str(self.folder) if self.folder else None,
            "found": self.check.found if self.check else None,
            "expected": self.check.expected if self.check else None,
            "problems": list(self.problems),
            "url": spec.url if spec else None,
            "license": spec.license if spec else None,
            "access": spec.access if spec else None,
            "layout": spec.layout if spec else None,
            "options": dict(spec.options) if spec else {},
            "tasks": [{"id": t.id, "name": t.name, "suites": list(t.suites)} for t in self.tasks],
        }


def root_source(override: str | os.PathLike | None) -> str:
    """Where the data root came from: ``--data-root``, ``$ACUBENCH_DATA`` or the default."""
    if override:
        return "--data-root"
    if os.environ.get(DATA_ENV):
        return f"${DATA_ENV}"
    return "default"


def _check(spec: DatasetSpec, folder: Path) -> tuple[State, DataCheck | None, tuple[str, ...]]:
    if not folder.is_dir():
        return "absent", (None if spec.check is None else DataCheck(present=False)), ()
    if spec.check is None:
        return "present", None, ()
    try:
        result = resolve_ref(spec.check)(folder)
    except Exception as exc:  # a plugin's check must not take the whole status page down
        return "error", None, (f"the presence check of plugin dataset {spec.id!r} failed: {type(exc).__name__}: {exc}",)
    if not result.present:
        return "absent", result, ()
    return ("complete" if result.complete else "incomplete"), result, tuple(result.problems)


def dataset_statuses(root: Path, datasets: Mapping[str, DatasetSpec], tasks: list[TaskSpec]) -> list[DatasetStatus]:
    """One :class:`DatasetStatus` per dataset that has a spec or a task, sorted by id.

    Parameters
    ----------
    root : Path
        The data root.
    datasets : mapping of str to DatasetSpec
        Registered dataset specs by id.
    tasks : list of TaskSpec
        Registered tasks.
    """
    by_dataset: dict[str, list[TaskSpec]] = {}
    for task in sorted(tasks, key=lambda t: t.id):
        by_dataset.setdefault(task.dataset, []).append(task)
    out = []
    for ds_id in sorted(set(datasets) | set(by_dataset)):
        its_tasks = tuple(by_dataset.get(ds_id, ()))
        spec = datasets.get(ds_id)
        if spec is not None and spec.generated:
            # Generated into the cache on first use: never "missing" under the data root.
            out.append(DatasetStatus(ds_id, spec, None, its_tasks, "built-in"))
            continue
        if spec is None:
            out.append(DatasetStatus(ds_id, None, None, its_tasks, "error",
                                     problems=(f"no plugin registers a dataset spec for {ds_id!r}",)))
            continue
        folder = (Path(root) / spec.folder).absolute()
        state, result, problems = _check(spec, folder)
        out.append(DatasetStatus(ds_id, spec, folder, its_tasks, state, result, problems))
    return out


def status_report(root: Path, statuses: list[DatasetStatus], *, source: str) -> dict[str, Any]:
    """The machine-readable status (``acubench data status --json``)."""
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s.state] = counts.get(s.state, 0) + 1
    ready_tasks = sorted(t.id for s in statuses if s.ready for t in s.tasks)
    return {
        "data_root": str(Path(root).absolute()),
        "data_root_source": source,
        "data_root_exists": Path(root).is_dir(),
        "summary": {"datasets": counts, "tasks_ready": ready_tasks,
                    "tasks_total": sum(len(s.tasks) for s in statuses)},
        "datasets": [s.as_dict() for s in statuses],
    }
