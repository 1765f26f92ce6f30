"""Small helpers shared by the dataset loaders: layout checks and seeded splits.

Loaders stay declarative: they name files, columns and recipes; the checking
and the splitting mechanics live here, once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from acubench.manifest import DatasetError
from acubench.specs import DataCheck, DatasetSpec

log = logging.getLogger("acubench.tasks")

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".webm")


def require(path: Path, spec: DatasetSpec, what: str) -> Path:
    """``path`` if it exists, else a :class:`DatasetError` naming it and the expected layout."""
    if not path.exists():
        raise DatasetError(f"{path}: missing {what} of {spec.name}. Expected layout under the dataset folder: "
                           f"{spec.layout}")
    return path


def audio_files(folder: Path, pattern: str = "**/*") -> list[Path]:
    """Audio files under ``folder`` matching ``pattern``, sorted for determinism."""
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def missing_files(paths: Iterable[Path]) -> list[Path]:
    return [p for p in paths if not Path(p).is_file()]


def check_files(folder: Path, expected: Sequence[Path] | None, *, found: int | None = None,
                problems: Sequence[str] = ()) -> DataCheck:
    """A :class:`DataCheck` from the files a dataset should have."""
    if not folder.is_dir():
        return DataCheck(present=False)
    probs = list(problems)
    if expected is not None:
        absent = missing_files(expected)
        if absent:
            probs.append(f"{len(absent)} of {len(expected)} audio files missing, e.g. {absent[0]}")
        return DataCheck(present=True, found=len(expected) - len(absent), expected=len(expected), problems=tuple(probs))
    return DataCheck(present=True, found=found or 0, expected=None, problems=tuple(probs))


def group_split(
    groups: Sequence[str],
    labels: Sequence | None,
    *,
    test_size: float,
    seed: int,
) -> tuple[list[str], list[str]]:
    """Split *groups* (subjects) into two sets, stratified by a per-group label.

    Parameters
    ----------
    groups : sequence of str
        One entry per group (unique subject ids), in a fixed order.
    labels : sequence or None
        One label per group for stratification (``None``: unstratified).
    test_size : float
        Fraction of groups in the second set.
    seed : int
        ``random_state`` of :func:`sklearn.model_selection.train_test_split`.
    """
    from sklearn.model_selection import train_test_split  # scikit-learn loads only when a split is drawn

    groups = list(groups)
    strat = list(labels) if labels is not None else None
    first, second = train_test_split(groups, test_size=test_size, random_state=seed, stratify=strat)
    return list(first), list(second)


def subject_labels(df: pd.DataFrame) -> pd.Series:
    """One label per subject (the most frequent, ties to the smallest), in sorted subject order."""
    return df.groupby("subject")["label"].agg(lambda s: s.value_counts().sort_index().idxmax()).sort_index()


def assign_splits(df: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """Set ``split`` from a subject → split mapping; every subject must be mapped."""
    out = df.copy()
    out["split"] = out["subject"].map(mapping)
    if out["split"].isna().any():
        missing = out.loc[out["split"].isna(), "subject"].unique()[:5]
        raise ValueError(f"subjects without a split: {list(missing)}")
    return out


def stratified_subject_split(
    df: pd.DataFrame,
    *,
    test_size: float,
    val_size: float,
    seed: int,
) -> pd.DataFrame:
    """Subject-independent train/val/test split, stratified by each subject's label.

    ``val_size`` is a fraction of the subjects left after the test carve-out.
    Subjects are sorted first, so the result depends only on the data and the seed.
    """
    labels = subject_labels(df)
    subjects = list(labels.index)
    strat = labels.values if labels.value_counts().min() >= 2 else None
    rest, test = group_split(subjects, strat, test_size=test_size, seed=seed)
    rest_labels = labels.loc[rest]
    strat2 = rest_labels.values if rest_labels.value_counts().min() >= 2 else None
    train, val = group_split(rest, strat2, test_size=val_size, seed=seed)
    mapping = {**{s: "train" for s in train}, **{s: "val" for s in val}, **{s: "test" for s in test}}
    return assign_splits(df, mapping)


def carve_val(df: pd.DataFrame, *, fraction: float, seed: int, by_subject: bool = True) -> pd.DataFrame:
    """Move a stratified ``fraction`` of the train split to val (by subject by default)."""
    out = df.copy()
    train = out[out["split"] == "train"]
    if by_subject:
        labels = subject_labels(train)
        strat = labels.values if labels.value_counts().min() >= 2 else None
        _, val_subjects = group_split(list(labels.index), strat, test_size=fraction, seed=seed)
        out.loc[out["subject"].isin(val_subjects) & (out["split"] == "train"), "split"] = "val"
    else:
        from sklearn.model_selection import train_test_split

        idx = train.index.to_numpy()
        strat = train["label"].to_numpy() if train["label"].value_counts().min() >= 2 else None
        _, val_idx = train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
        out.loc[np.asarray(val_idx), "split"] = "val"
    return out


# --- reading publisher layouts strictly ------------------------------


def first_existing(folder: Path, candidates: Sequence[str], spec: DatasetSpec, what: str) -> Path:
    """The first of ``folder/<candidate>`` that exists, else a :class:`DatasetError` listing them all."""
    for name in candidates:
        path = folder / name
        if path.exists():
            return path
    tried = ", ".join(str(folder / c) for c in candidates)
    raise DatasetError(f"{folder / candidates[0]}: missing {what} of {spec.name} (looked for {tried}). "
                       f"Get it from {spec.url}; expected layout under the dataset folder: {spec.layout}")


def read_table(path: Path, spec: DatasetSpec, *, what: str, columns: Sequence[str] = (),
               nonempty: Sequence[str] = (), **read_csv: object) -> pd.DataFrame:
    """Read a publisher's metadata table strictly.

    A UTF-8 byte-order mark is ignored; a malformed row, a missing column or an
    empty value in a ``nonempty`` column raises a :class:`DatasetError` naming
    the file (and the first offending line).

    Parameters
    ----------
    path : Path
        The table.
    what : str
        Its role, for messages ("diagnosis list").
    columns : sequence of str
        Columns that must be present.
    nonempty : sequence of str
        Columns that must have a value on every row.
    **read_csv
        Passed to :func:`pandas.read_csv` (``sep``, ``header``, ``names``, ``dtype``…).
    """
    require(path, spec, what)
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", **read_csv)  # type: ignore[arg-type]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{path}: cannot read the {what} of {spec.name} ({detail}). "
                           f"Re-download the original file from {spec.url}") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: the {what} of {spec.name} lacks column(s) {missing} "
                           f"(found {list(df.columns)[:12]}). "
                           f"Use the publisher's file from {spec.url}")
    for col in nonempty:
        blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if blank.any():
            # +2: one for the header line (when there is one), one for 1-based numbering.
            offset = 1 if read_csv.get("header", "infer") is None else 2
            lines = [int(i) + offset for i in np.flatnonzero(blank.to_numpy())[:5]]
            raise DatasetError(f"{path}: {int(blank.sum())} row(s) of the {what} have no {col!r} (line(s) {lines}). "
                               f"The file looks truncated or edited; re-download it from {spec.url}")
    return df


def check_vocabulary(values: Iterable[object], known: Collection[str], path: Path, column: str,
                     spec: DatasetSpec) -> None:
    """Raise a :class:`DatasetError` if ``values`` hold a string outside ``known``."""
    bad = sorted({str(v) for v in values} - set(known))
    if bad:
        raise DatasetError(f"{path}: unknown {column} value(s) {bad[:5]} in {spec.name}; expected one of "
                           f"{sorted(known)}. acubench will not guess a label; check the file against {spec.url}")


def require_audio(paths: Sequence[Path], spec: DatasetSpec, *, fix: str = "") -> None:
    """Raise a :class:`DatasetError` if any of ``paths`` is not a file."""
    absent = missing_files(paths)
    if absent:
        examples = ", ".join(p.name for p in absent[:3])
        raise DatasetError(f"{absent[0]}: {len(absent)} of {len(paths)} audio file(s) of {spec.name} are missing "
                           f"(e.g. {examples}). {fix or f'Expected layout under the dataset folder: {spec.layout}'}")


def reject_unexpected(found: Iterable[Path], expected_names: Collection[str], spec: DatasetSpec, folder: Path) -> None:
    """Raise a :class:`DatasetError` for audio files the publisher's metadata does not list."""
    extra = sorted(p for p in found if p.name not in expected_names)
    if extra:
        raise DatasetError(f"{extra[0]}: {len(extra)} audio file(s) in {folder} are not in the metadata of {spec.name} "
                           f"(e.g. {', '.join(p.name for p in extra[:3])}). Remove them or restore the publisher's "
                           f"metadata files; a mixed-up folder would give a silently different task")


def log_dropped(task: str, counts: Mapping[str, int]) -> None:
    """Log, per reason, how many rows a published recipe drops on purpose."""
    for reason, n in counts.items():
        if n:
            log.info("%s: dropped %d row(s): %s", task, n, reason)
