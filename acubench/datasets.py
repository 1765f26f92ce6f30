"""Data access: where a dataset lies, and a task's validated manifest.

The first step of every run and of ``acubench data manifest``. It reads the
task plugin only through its spec's lazy ``loader`` and ``prepare``
references, so it belongs to the ground layer, beneath every service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from acubench.errors import OptionError
from acubench.manifest import (
    CHANNEL_COLUMN,
    MANIFEST_COLUMNS,
    SEGMENT_COLUMNS,
    SPLITS,
    DatasetError,
    DatasetMissing,
    LoadContext,
    TaskOptionError,
    validate_manifest,
)
from acubench.paths import atomic_write
from acubench.paths import cache_dir as default_cache_dir
from acubench.reporting import LogReporter, Reporter
from acubench.specs import DatasetSpec, TaskSpec, resolve_ref


def dataset_folder(root: Path, spec: DatasetSpec) -> Path:
    """``root/<spec.folder>``, or a :class:`DatasetError` saying where to get it."""
    folder = Path(root) / spec.folder
    if not folder.is_dir():
        raise DatasetMissing(
            f"{folder}: dataset {spec.name} not found. Download it from {spec.url} "
            f"(licence: {spec.license}) and unpack it so that {folder} holds: {spec.layout}"
        )
    return folder


def _escapes(name: str) -> bool:
    """Whether a file name from metadata points outside the folder it is joined to (absolute, ``..``, a drive)."""
    posix = name.replace("\\", "/")  # a Windows-made table may use either separator
    return posix.startswith("/") or bool(re.match(r"^[A-Za-z]:", posix)) or ".." in posix.split("/")


def member_paths(folder: Path, names: Sequence[object], *, metadata: Path, spec: DatasetSpec,
                 rows: Sequence[object] | None = None, column: str = "") -> list[Path]:
    """``folder / name`` for each file name read from a publisher's metadata file.

    Every loader builds paths from metadata through this function (or checks
    the names with :func:`refuse_escaping` where it builds them otherwise).

    Parameters
    ----------
    folder : Path
        Where the names are relative to (the dataset's audio folder).
    names : sequence
        File names or relative paths, one per metadata row (stripped of spaces).
    metadata, spec, rows, column
        As for :func:`refuse_escaping`.
    """
    names = [str(n).strip() for n in names]
    refuse_escaping(names, folder=folder, metadata=metadata, spec=spec, rows=rows, column=column)
    return [folder / n for n in names]


def refuse_escaping(names: Sequence[object], *, folder: Path, metadata: Path, spec: DatasetSpec,
                    rows: Sequence[object] | None = None, column: str = "") -> None:
    """Refuse file names from metadata that point outside ``folder``.

    Metadata is data: a row naming ``../../elsewhere.wav`` or ``/home/me/x.wav``
    would make acubench read, embed and cache a file outside the dataset. The
    check is on the name itself (absolute, a drive letter, or a ``..`` part,
    with ``\\`` taken as a separator too), so a dataset folder, or a folder
    inside it, that is a symbolic link to another disk still works.

    Parameters
    ----------
    names : sequence
        The names as the metadata gives them.
    folder : Path
        The folder they are meant to lie in, for the message.
    metadata : Path
        The file the names come from.
    spec : DatasetSpec
        The dataset (its download address goes into the fix).
    rows : sequence, optional
        How to point at each row in the message (line numbers or ids, one per
        name); default: the line in a table with one header line (index + 2).
    column : str
        The column the names come from, for the message.

    Raises
    ------
    DatasetError
        Naming the metadata file, the first offending row and value, how many
        rows are affected, and the fix.
    """
    names = [str(n).strip() for n in names]
    bad = [i for i, n in enumerate(names) if _escapes(n)]
    if bad:
        where = f"line {bad[0] + 2}" if rows is None else f"row {rows[bad[0]]}"
        field = f" {column}" if column else ""
        more = f" ({len(bad)} rows do)" if len(bad) > 1 else ""
        raise DatasetError(
            f"{metadata}: {where} names{field} {names[bad[0]]!r}, a path outside the dataset folder {folder}{more}. "
            f"acubench reads only files inside the dataset: restore the publisher's {Path(metadata).name} from "
            f"{spec.url}, or correct the row to a name inside {folder}")


def check_task_options(tasks: Sequence[TaskSpec], options: Mapping[str, Any],
                       datasets: Mapping[str, DatasetSpec]) -> None:
    """Refuse ``--task-arg`` keys that none of ``tasks`` takes (a typo would otherwise change nothing, silently).

    Parameters
    ----------
    tasks : sequence of TaskSpec
        The selected tasks (``--task-arg`` goes to each of them).
    options : mapping
        The ``--task-arg`` keys and values.
    datasets : mapping of str to DatasetSpec
        Dataset id → spec; a dataset declares its loader's options in ``DatasetSpec.options``.

    Raises
    ------
    TaskOptionError
        Naming the unknown key(s) and the options each selected dataset takes.
    """
    takes = {d: dict(datasets[d].options) for d in dict.fromkeys(t.dataset for t in tasks) if d in datasets}
    known = {k for opts in takes.values() for k in opts}
    unknown = sorted(set(options) - known)
    if unknown:
        offered = "; ".join(f"{d}: {', '.join(f'{k} ({v})' for k, v in o.items())}" for d, o in takes.items() if o)
        raise TaskOptionError(f"--task-arg {', '.join(unknown)}: no selected task takes "
                              f"{'this option' if len(unknown) == 1 else 'these options'}. "
                              + (f"Options of the selected datasets: {offered}" if offered else
                                 "The selected tasks take no options") + " (see `acubench data status`)")


def effective_protocol(task: TaskSpec, protocol: str) -> str:
    """The protocol ``task`` actually follows when ``protocol`` is asked for.

    A task without a separate ``reference`` variant follows its one (default)
    protocol under both names; results record this effective protocol.
    """
    if protocol in task.protocols:
        return protocol
    if protocol != "reference":
        raise OptionError(f"task {task.id} offers protocols {list(task.protocols)}, not {protocol!r}")
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
    OptionError
        ``protocol`` is neither ``default`` nor one the task offers.
    """
    protocol = effective_protocol(task, protocol)
    ctx = LoadContext(task=task, data_root=Path(data_root), cache_dir=Path(cache) if cache else default_cache_dir(),
                      protocol=protocol, options=dict(options or {}))
    df = resolve_ref(task.loader)(ctx)
    return validate_manifest(df, task, allow_leakage=protocol == "reference")


def manifest_columns(df: pd.DataFrame) -> list[str]:
    """Column order for a written manifest: the contract columns, segment/channel where used, then metadata."""
    used = [c for c in (*SEGMENT_COLUMNS, CHANNEL_COLUMN) if c in df.columns and df[c].notna().any()]
    rest = [c for c in df.columns if c not in MANIFEST_COLUMNS and c not in (*SEGMENT_COLUMNS, CHANNEL_COLUMN)]
    return [*MANIFEST_COLUMNS, *used, *rest]


def write_manifest(df: pd.DataFrame, path: Path) -> Path:
    """Write a manifest CSV atomically (:func:`~acubench.paths.atomic_write`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, df[manifest_columns(df)].to_csv(index=False))


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


def prepare_dataset(spec: DatasetSpec, root: Path, reporter: Reporter | None = None) -> bool:
    """Run the dataset's preparation step, reporting through ``reporter``; ``False`` when it needs none.

    Raises
    ------
    DatasetError
        The dataset folder does not exist (with where to get the data).
    """
    if spec.prepare is None:
        return False
    resolve_ref(spec.prepare)(dataset_folder(Path(root).absolute(), spec), reporter or LogReporter())
    return True
