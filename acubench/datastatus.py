"""The service behind ``acubench data``: which datasets are present, task manifests, preparation.

Everything here reads the registry and the dataset plugins' own checks and
loaders; nothing imports torch, so ``acubench data …`` answers quickly.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import pandas as pd

from acubench.manifest import CHANNEL_COLUMN, MANIFEST_COLUMNS, SEGMENT_COLUMNS, SPLITS, LoadContext, validate_manifest
from acubench.paths import DATA_ENV
from acubench.paths import cache_dir as default_cache_dir
from acubench.specs import DataCheck, DatasetSpec, TaskSpec, resolve_ref
from acubench.tasks._common import dataset_folder

State = Literal["built-in", "complete", "incomplete", "present", "absent", "error"]

#: Suite whose tasks generate their own data (no dataset folder).
BUILT_IN_SUITE = "demo"


@dataclass(frozen=True)
class DatasetStatus:
    """Whether one dataset is ready under the data root.

    Attributes
    ----------
    id : str
        Dataset id (``"icbhi"``).
    spec : DatasetSpec or None
        ``None`` for built-in data (the demo suite) or a task whose plugin
        registers no dataset spec.
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
    if spec.check is None:
        return ("present" if folder.is_dir() else "absent"), None, ()
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
        if its_tasks and all(BUILT_IN_SUITE in t.suites for t in its_tasks):
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


def effective_protocol(task: TaskSpec, protocol: str) -> str:
    """The protocol ``task`` actually follows when ``protocol`` is asked for.

    A task without a separate ``reference`` variant follows its one (default)
    protocol under both names; results record this effective protocol.
    """
    if protocol in task.protocols:
        return protocol
    if protocol != "reference":
        raise ValueError(f"task {task.id} offers protocols {list(task.protocols)}, not {protocol!r}")
    return "default"


def load_manifest(task: TaskSpec, *, data_root: Path, protocol: str = "default",
                  options: Mapping[str, Any] | None = None, cache: Path | None = None) -> pd.DataFrame:
    """The validated manifest of ``task`` under ``protocol``.

    A task that offers no ``reference`` protocol follows its one protocol for
    both names (its reference is its default). The leakage check is relaxed
    only for ``reference``, whose published split may leak (documented per task).

    Raises
    ------
    DatasetError
        The dataset is absent or malformed (the message says how to fix it).
    ValueError
        ``protocol`` is neither ``default`` nor one the task offers.
    """
    protocol = effective_protocol(task, protocol)
    ctx = LoadContext(data_root=Path(data_root), cache_dir=Path(cache) if cache else default_cache_dir(),
                      protocol=protocol, options=dict(options or {}))
    df = resolve_ref(task.loader)(ctx)
    return validate_manifest(df, task, allow_leakage=protocol == "reference")


def manifest_columns(df: pd.DataFrame) -> list[str]:
    """Column order for a written manifest: the contract columns, segment/channel where used, then metadata."""
    used = [c for c in (*SEGMENT_COLUMNS, CHANNEL_COLUMN) if c in df.columns and df[c].notna().any()]
    rest = [c for c in df.columns if c not in MANIFEST_COLUMNS and c not in (*SEGMENT_COLUMNS, CHANNEL_COLUMN)]
    return [*MANIFEST_COLUMNS, *used, *rest]


def write_manifest(df: pd.DataFrame, path: Path) -> Path:
    """Write a manifest CSV atomically (temporary file in the same folder, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            df[manifest_columns(df)].to_csv(fh, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class SplitCount:
    """Clips, per-class counts and subjects of one split, with the published number when known."""

    split: str
    clips: int
    per_class: dict[str, int]
    subjects: int
    expected: int | None


def split_summary(df: pd.DataFrame, task: TaskSpec) -> list[SplitCount]:
    """Per split (train/val/test or pool): clips, clips per class, subjects, and ``task.expected_counts``."""
    expected = dict(task.expected_counts or {})
    order = [s for s in (*SPLITS, "pool") if s in set(df["split"])]
    out = []
    for split in order:
        part = df[df["split"] == split]
        if task.kind == "regression":
            per_class: dict[str, int] = {}
        else:
            counts = part["label"].value_counts()
            per_class = {name: int(counts.get(i, 0)) for i, name in enumerate(task.classes)}
        out.append(SplitCount(split, len(part), per_class, int(part["subject"].nunique()), expected.get(split)))
    return out


def compares_to_expected(task: TaskSpec, protocol: str) -> bool:
    """Whether the published counts apply to ``protocol`` (they are counts of the reference protocol)."""
    return protocol == "reference" or "reference" not in task.protocols


def prepare_dataset(spec: DatasetSpec, root: Path, console: Any) -> bool:
    """Run the dataset's preparation step; ``False`` when it needs none.

    Raises
    ------
    DatasetError
        The dataset folder does not exist (with where to get the data).
    """
    if spec.prepare is None:
        return False
    resolve_ref(spec.prepare)(dataset_folder(Path(root).absolute(), spec), console)
    return True

