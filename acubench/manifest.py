"""Task manifests: one row per clip, validated, with a leakage check.

A task loader returns a :class:`pandas.DataFrame` with at least the columns
of :data:`MANIFEST_COLUMNS`; :func:`validate_manifest` checks it and every
consumer (extraction, probes, ``acubench data manifest``) reads it through
that check, so a malformed manifest fails loudly in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acubench.errors import AcubenchError, OptionError
from acubench.specs import TaskSpec

#: Columns every manifest has. ``split`` is train/val/test for fixed-split
#: tasks and ``pool`` for leave-one-subject-out tasks.
MANIFEST_COLUMNS = ("clip_id", "path", "label", "subject", "split")
#: Optional segment bounds (s) within the recording; NaN means the whole file.
SEGMENT_COLUMNS = ("start", "end")
#: Optional channel index for multi-channel files (NaN/absent: mix to mono).
CHANNEL_COLUMN = "channel"
SPLITS = ("train", "val", "test")
POOL = "pool"

#: Columns of a dataset's ``recordings()`` table (corpus building). Only
#: ``audio_path``, ``subject`` and ``dataset`` are required; the rest are
#: filled where the publisher's metadata has them (empty otherwise).
RECORDING_COLUMNS = (
    "audio_path", "dataset", "subject", "recording_id", "modality", "age", "sex",
    "device", "site", "diagnosis", "symptoms", "smoker", "adventitious",
    "murmur", "murmur_timing", "murmur_grade", "murmur_pitch", "murmur_shape",
    "murmur_quality", "murmur_locations", "outcome", "respiratory_rate",
    "start", "end",
)


class ManifestError(AcubenchError, ValueError):
    """A manifest that breaks the task's contract (columns, labels, leakage)."""


class DatasetError(AcubenchError, FileNotFoundError):
    """A dataset folder that is missing, incomplete or malformed.

    The message names the file and what was expected, and says how to fix it.
    """


class DatasetMissing(DatasetError):
    """The dataset's folder is not there at all: nothing to load, as opposed to a malformed dataset."""


class TaskOptionError(OptionError):
    """A ``--task-arg`` that no selected task takes, or a value its loader cannot use."""


@dataclass(frozen=True)
class LoadContext:
    """What a task loader receives.

    Parameters
    ----------
    task : TaskSpec
        The task being loaded: one loader serves several tasks by reading
        ``task.loader_args``, ``task.classes``, ``task.kind``…
    data_root : Path
        The user's data root; the dataset lies in ``data_root / <folder>``.
    cache_dir : Path
        acubench's cache (the demo suite generates its audio here).
    protocol : str
        ``"default"`` (corrected protocol) or another name the task offers,
        e.g. ``"reference"``.
    options : dict
        Extra loader options from the command line (``--task-arg k=v``).
    """

    task: TaskSpec
    data_root: Path
    cache_dir: Path
    protocol: str = "default"
    options: dict[str, Any] = field(default_factory=dict)


def check_leakage(df: pd.DataFrame, *, where: str = "manifest") -> None:
    """Fail if any subject appears in more than one of train/val/test.

    Raises
    ------
    ManifestError
        Naming up to five leaking subjects and the splits they sit in.
    """
    fixed = df[df["split"].isin(SPLITS)]
    per_subject = fixed.groupby("subject")["split"].nunique()
    leaking = per_subject[per_subject > 1]
    if len(leaking):
        examples = []
        for subject in list(leaking.index)[:5]:
            splits = sorted(fixed.loc[fixed["subject"] == subject, "split"].unique())
            examples.append(f"{subject} in {'/'.join(splits)}")
        raise ManifestError(
            f"{where}: {len(leaking)} subject(s) appear in more than one split "
            f"(subject-independence broken): {', '.join(examples)}"
        )


def validate_manifest(df: pd.DataFrame, task: TaskSpec, *, allow_leakage: bool = False) -> pd.DataFrame:
    """Check a loader's manifest against its task and return a normalised copy.

    Parameters
    ----------
    df : DataFrame
        The loader's output.
    task : TaskSpec
        The task it claims to implement.
    allow_leakage : bool, default False
        Only for ``--protocol reference`` of tasks whose published split is
        known to leak subjects (documented per task); the leak is then
        reported, not raised.

    Returns
    -------
    DataFrame
        With ``clip_id``/``subject``/``split`` as str, ``label`` as int64
        (classification) or float64 (regression), and ``start``/``end`` present.
    """
    where = f"task {task.id} manifest"
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"{where}: missing column(s) {missing}; a manifest needs {list(MANIFEST_COLUMNS)}")
    if df.empty:
        raise ManifestError(f"{where}: no clips")
    out = df.copy()
    for col in ("clip_id", "subject", "split", "path"):
        out[col] = out[col].astype(str)
    dup = out["clip_id"][out["clip_id"].duplicated()]
    if len(dup):
        raise ManifestError(f"{where}: duplicate clip_id(s) {list(dup.unique()[:5])}")
    # LOSO: every "pool" subject is a test fold once; "train" rows belong to subjects that only ever train
    # (as the reference's fixed fold lists leave some participants out of the folds).
    allowed = set(SPLITS) if task.protocol == "fixed" else {POOL, "train"}
    bad = sorted(set(out["split"]) - allowed)
    if bad:
        raise ManifestError(f"{where}: split values {bad} not allowed for protocol {task.protocol!r}; "
                            f"use {sorted(allowed)}")
    if task.protocol == "fixed":
        present = set(out["split"])
        for split in ("train", "test"):
            if split not in present:
                raise ManifestError(f"{where}: no {split!r} clips")
    labels = pd.to_numeric(out["label"], errors="coerce")
    if labels.isna().any():
        rows = out.loc[labels.isna(), "clip_id"].tolist()[:5]
        raise ManifestError(f"{where}: missing or non-numeric labels for clips {rows}")
    if task.kind == "regression":
        out["label"] = labels.astype("float64")
        if not np.isfinite(out["label"]).all():
            raise ManifestError(f"{where}: non-finite regression targets")
    else:
        if not np.all(labels == np.round(labels)):
            raise ManifestError(f"{where}: classification labels must be integers 0..{len(task.classes) - 1}")
        out["label"] = labels.astype("int64")
        outside = sorted(set(out["label"]) - set(range(len(task.classes))))
        if outside:
            raise ManifestError(f"{where}: labels {outside} outside 0..{len(task.classes) - 1} ({task.classes})")
    for col in SEGMENT_COLUMNS:
        if col not in out.columns:
            out[col] = np.nan
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    seg = out[out["start"].notna() & out["end"].notna()]
    if (seg["end"] <= seg["start"]).any():
        empty = seg.loc[seg["end"] <= seg["start"], "clip_id"].tolist()[:5]
        raise ManifestError(f"{where}: segments with end <= start: {empty}")
    if task.protocol == "fixed":
        try:
            check_leakage(out, where=where)
        except ManifestError:
            if not allow_leakage:
                raise
    else:
        both = sorted(set(out.loc[out["split"] == POOL, "subject"]) & set(out.loc[out["split"] == "train", "subject"]))
        if both:
            raise ManifestError(f"{where}: subject(s) {both[:5]} are both folds ('pool') and training-only ('train')")
        if not (out["split"] == POOL).any():
            raise ManifestError(f"{where}: no 'pool' clips: leave-one-subject-out needs subjects to hold out")
    return out.reset_index(drop=True)


def split_counts(df: pd.DataFrame) -> dict[str, int]:
    """Clip counts per split value, in train/val/test/pool order."""
    counts = df["split"].value_counts().to_dict()
    order = [*SPLITS, POOL]
    return {k: int(counts[k]) for k in order if k in counts}
