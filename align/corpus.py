"""The alignment corpus: one (recording, report) pair per row, built from dataset metadata.

Building (``acubench corpus``)
    Every registered dataset that has a ``recordings`` loader and is present
    under the data root contributes one row per recording, with a report
    written from its metadata (:mod:`acubench.align.reports`). The synthetic
    demo dataset joins only when asked for by name.

Test exclusion (the default)
    Post-training on a recording that a downstream task later scores would
    leak the test set into the encoder. So, for every registered task on the
    dataset, and for every split protocol the task offers, the task manifest
    is loaded and the corpus drops

    * every recording whose file is in the task's test split (for
      leave-one-subject-out tasks every pooled recording is tested in some
      fold, so all of them), and
    * every other recording of a subject who has any test recording: the
      remaining recordings of a test patient carry the same patient-level
      facts (diagnosis, demographics) and often the same sounds, so aligning
      on them teaches the encoder that patient's test labels all the same.

    Subject ids are compared within one dataset; they come from the same
    dataset module for its manifests and its recordings. ``include_test``
    switches the exclusion off, only to reproduce AcuLa's corpus.

Reading (``acubench align --corpus FILE.csv``)
    Columns ``audio_path`` and ``report`` (AcuLa's ``Gen_Report`` is accepted
    for ``report``), optionally ``dataset``, ``subject``, ``recording_id``,
    ``start``, ``end`` (seconds). Relative paths are taken relative to the CSV.
    Bad rows are counted per reason (:data:`BAD_REASONS`) and either stop the
    run (default) or, with ``skip_bad``, are left out and reported.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from acubench.align.reports import ReportGenerator, TemplateReports
from acubench.manifest import POOL, DatasetError, LoadContext, validate_manifest
from acubench.paths import atomic_write
from acubench.plugins import registries
from acubench.specs import DatasetSpec, resolve_ref

#: Columns of a corpus CSV written by :func:`write_corpus`.
CORPUS_COLUMNS = ("audio_path", "report", "dataset", "subject", "recording_id", "start", "end")
#: Reasons a corpus row is unusable, in the order they are checked.
BAD_REASONS = ("empty report", "missing audio", "bad segment", "unreadable audio")
#: ``--corpus`` names besides a CSV path: the demo's recordings, or those of every dataset present.
DEMO_CORPUS = "demo"
PRESENT_CORPUS = "datasets"


class CorpusError(DatasetError):
    """A corpus that cannot be used as it is; the message names the file, the rows and the fix."""


@dataclass
class Exclusion:
    """What the test exclusion removed from one dataset.

    Attributes
    ----------
    recordings : int
        Recordings the dataset listed.
    test_recordings : int
        Recordings whose file is in some task's test split (or LOSO pool).
    test_subject_recordings : int
        Further recordings removed because their subject has test recordings.
    tasks : list of str
        ``task@protocol`` manifests consulted.
    """

    recordings: int = 0
    test_recordings: int = 0
    test_subject_recordings: int = 0
    tasks: list[str] = field(default_factory=list)

    @property
    def excluded(self) -> int:
        return self.test_recordings + self.test_subject_recordings


@dataclass
class CorpusBuild:
    """Result of :func:`build_corpus`.

    Attributes
    ----------
    corpus : DataFrame
        Columns :data:`CORPUS_COLUMNS`, one row per kept recording.
    exclusions : dict of str to Exclusion
        Per dataset id.
    skipped : dict of str to str
        Datasets left out, with the reason (not present, test split unknown…).
    generator : dict
        The report generator's settings.
    """

    corpus: pd.DataFrame
    exclusions: dict[str, Exclusion]
    skipped: dict[str, str]
    generator: dict[str, Any]


@dataclass
class Corpus:
    """A checked corpus.

    Attributes
    ----------
    frame : DataFrame
        Usable rows, columns :data:`CORPUS_COLUMNS` (``start``/``end`` float, NaN = whole file).
    bad : dict of str to int
        Rows left out per reason (only with ``skip_bad``; otherwise bad rows raise).
    source : str
        The CSV path, ``"demo"`` or ``"datasets"``.
    info : dict
        Provenance for ``alignment.json``: test exclusions of a built corpus
        (per dataset), and the leak check (:mod:`acubench.align.leakcheck`).
    """

    frame: pd.DataFrame
    bad: dict[str, int]
    source: str
    info: dict[str, Any] = field(default_factory=dict)


def _dataset_folder(spec: DatasetSpec, data_root: Path, cache_dir: Path) -> Path:
    """Where a dataset lies: under the cache for generated (built-in) data, else under the data root."""
    return Path(cache_dir if spec.generated else data_root) / spec.folder


def _real(path: Any) -> str:
    return os.path.realpath(str(path))


def tested_members(spec: DatasetSpec, *, data_root: Path, cache_dir: Path,
                   options: dict[str, Any] | None = None) -> tuple[set[str], set[str], list[str]]:
    """Files and subjects that any registered task on ``spec`` tests on, under any of its protocols.

    ``options`` are the task loader options of the evaluation (``--task-arg``):
    a variant such as UK COVID-19's ``subset=full`` has other test
    participants, and the exclusion must be the evaluation's.

    Returns
    -------
    paths : set of str
        Resolved paths of recordings in a test split or a LOSO pool.
    subjects : set of str
        Their subjects.
    consulted : list of str
        ``task@protocol`` manifests read.

    Raises
    ------
    DatasetError
        If a task's default manifest cannot be loaded: without it the test
        split is unknown and nothing of the dataset can safely be used.
    """
    paths: set[str] = set()
    subjects: set[str] = set()
    consulted: list[str] = []
    tasks = sorted((t for t in registries().tasks if t.dataset == spec.id), key=lambda t: t.id)
    for task in tasks:
        for protocol in task.protocols:
            ctx = LoadContext(task=task, data_root=Path(data_root), cache_dir=Path(cache_dir), protocol=protocol,
                              options=dict(options or {}))
            try:
                df = validate_manifest(resolve_ref(task.loader)(ctx), task, allow_leakage=True)
            except Exception as exc:
                if protocol == "default":
                    raise DatasetError(f"dataset {spec.id}: cannot load task {task.id}'s manifest to find its test "
                                       f"split ({type(exc).__name__}: {exc})") from None
                continue  # a variant needing extra options (--task-arg); the default split is covered
            consulted.append(f"{task.id}@{protocol}")
            tested = df[df["split"].isin(["test", POOL])]
            paths.update(_real(p) for p in tested["path"])
            subjects.update(str(s) for s in tested["subject"])
    return paths, subjects, consulted


def build_corpus(
    data_root: str | os.PathLike,
    *,
    datasets: Sequence[str] | None = None,
    include_test: bool = False,
    generator: ReportGenerator | None = None,
    cache_dir: str | os.PathLike | None = None,
    options: dict[str, Any] | None = None,
) -> CorpusBuild:
    """Recordings and their reports from every dataset present (see the module docstring).

    Parameters
    ----------
    data_root : path-like
        Folder holding one folder per dataset.
    datasets : sequence of str, optional
        Dataset ids to use; default every registered dataset with a
        ``recordings`` loader except the synthetic demo.
    include_test : bool
        Keep recordings of test splits and test subjects (reproduces AcuLa; leaks).
    generator : ReportGenerator, optional
        Default :class:`~acubench.align.reports.TemplateReports` (seed 0).
    cache_dir : path-like, optional
        acubench cache (the demo's audio; task loaders).
    options : dict, optional
        Task loader options of the evaluation (``--task-arg``), applied when finding test splits.

    Raises
    ------
    CorpusError
        If a named dataset is unknown or has no ``recordings`` loader, or no dataset is present.
    """
    from acubench.paths import cache_dir as default_cache

    root = Path(data_root)
    cache = default_cache(cache_dir)
    generator = generator or TemplateReports()
    registered = registries().datasets
    if datasets:
        specs = []
        for name in datasets:
            spec = registered.get(name)
            if spec.recordings is None:
                raise CorpusError(f"dataset {spec.id} has no recordings loader, so it cannot contribute reports; "
                                  f"datasets with one: {', '.join(s.id for s in registered if s.recordings)}")
            specs.append(spec)
    else:
        specs = [s for s in registered if s.recordings and not s.generated]
    frames, exclusions, skipped = [], {}, {}
    for spec in specs:
        folder = _dataset_folder(spec, root, cache)
        if not spec.generated and not folder.is_dir():  # generated data is made on first use
            skipped[spec.id] = f"not present ({folder})"
            continue
        try:
            rec = _recordings(spec, folder)
            if include_test:
                keep, info = np.ones(len(rec), dtype=bool), Exclusion(recordings=len(rec))
            else:
                keep, info = _exclude_test(spec, rec, root, cache, options)
        except DatasetError as exc:
            skipped[spec.id] = str(exc)
            continue
        exclusions[spec.id] = info
        kept = rec[keep].reset_index(drop=True)
        kept["report"] = generator.reports(kept.to_dict("records"))
        frames.append(kept.reindex(columns=list(CORPUS_COLUMNS)))
    if not frames:
        where = "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "no dataset has a recordings loader"
        raise CorpusError(f"no dataset for the corpus under {root} ({where}). See `acubench data status` for "
                          f"where each dataset goes, or use the built-in demo corpus (--corpus demo).")
    corpus = pd.concat(frames, ignore_index=True)
    return CorpusBuild(corpus, exclusions, skipped, generator.describe())


def _recordings(spec: DatasetSpec, folder: Path) -> pd.DataFrame:
    rec = resolve_ref(spec.recordings)(folder)
    missing = [c for c in ("audio_path", "subject") if c not in rec.columns]
    if missing:
        raise DatasetError(f"dataset {spec.id}: recordings() lacks column(s) {missing}")
    rec = rec.copy()
    rec["dataset"] = spec.id
    rec["subject"] = rec["subject"].astype(str)
    for col in ("start", "end"):
        rec[col] = pd.to_numeric(rec[col], errors="coerce") if col in rec.columns else np.nan
    return rec.reset_index(drop=True)


def _exclude_test(spec: DatasetSpec, rec: pd.DataFrame, root: Path, cache: Path,
                  options: dict[str, Any] | None) -> tuple[np.ndarray, Exclusion]:
    paths, subjects, consulted = tested_members(spec, data_root=root, cache_dir=cache, options=options)
    in_test = np.array([_real(p) in paths for p in rec["audio_path"]], dtype=bool)
    of_test_subject = rec["subject"].isin(subjects).to_numpy() & ~in_test
    info = Exclusion(recordings=len(rec), test_recordings=int(in_test.sum()),
                     test_subject_recordings=int(of_test_subject.sum()), tasks=consulted)
    return ~(in_test | of_test_subject), info


def write_corpus(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a corpus CSV atomically (:func:`~acubench.paths.atomic_write`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, frame.reindex(columns=list(CORPUS_COLUMNS)).to_csv(index=False))


def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _bad_reason(row: pd.Series) -> str | None:
    if not str(row["report"]).strip():
        return "empty report"
    path = Path(row["audio_path"])
    if not path.is_file():
        return "missing audio"
    start, end = row["start"], row["end"]
    if (not math.isnan(start) and start < 0) or (not math.isnan(start) and not math.isnan(end) and end <= start):
        return "bad segment"
    try:
        info = sf.info(str(path))
    except Exception:
        return "unreadable audio"
    duration = info.frames / info.samplerate if info.samplerate else 0.0
    if info.frames == 0 or (not math.isnan(start) and start >= duration):
        return "unreadable audio"
    return None


def check_corpus(frame: pd.DataFrame, *, source: str, skip_bad: bool = False) -> Corpus:
    """Normalise a corpus table and count its bad rows.

    Parameters
    ----------
    frame : DataFrame
        At least ``audio_path`` and ``report`` (paths already absolute).
    source : str
        Where it came from, for messages.
    skip_bad : bool
        Leave bad rows out (and count them) instead of raising.

    Raises
    ------
    CorpusError
        If columns are missing, the corpus is empty, or (without ``skip_bad``)
        any row is bad: the message gives counts per reason and examples.
    """
    missing = [c for c in ("audio_path", "report") if c not in frame.columns]
    if missing:
        raise CorpusError(f"{source}: missing column(s) {missing}; a corpus needs audio_path and report "
                          f"(or AcuLa's Gen_Report)")
    out = frame.copy()
    out["audio_path"] = out["audio_path"].astype(str)
    out["report"] = out["report"].fillna("").astype(str).str.strip()
    if "subject" not in out.columns:
        out["subject"] = ""
    out["subject"] = out["subject"].fillna("").astype(str)
    # Without subjects every recording is its own subject for the held-out split.
    out.loc[out["subject"] == "", "subject"] = out["audio_path"]
    for col in ("dataset", "recording_id"):
        out[col] = out[col].fillna("").astype(str) if col in out.columns else ""
    for col in ("start", "end"):
        out[col] = out[col].map(_number) if col in out.columns else np.nan
    out = out.reindex(columns=list(CORPUS_COLUMNS)).reset_index(drop=True)
    if out.empty:
        raise CorpusError(f"{source}: the corpus has no rows; build one with `acubench corpus`, or add rows")
    reasons = [_bad_reason(row) for _, row in out.iterrows()]
    bad = {r: sum(1 for x in reasons if x == r) for r in BAD_REASONS if r in reasons}
    if bad and not skip_bad:
        examples = [f"row {i + 2} ({r}): {out.at[i, 'audio_path']}" for i, r in enumerate(reasons) if r][:5]
        counts = ", ".join(f"{n} {r}" for r, n in bad.items())
        raise CorpusError(f"{source}: {sum(bad.values())} bad row(s) — {counts}. E.g. {'; '.join(examples)}. "
                          f"Fix them or drop those rows, or align with `acubench align --skip-bad` to leave them "
                          f"out (they are counted in the log).")
    good = out[[r is None for r in reasons]].reset_index(drop=True)
    if good.empty:
        raise CorpusError(f"{source}: no usable row ({', '.join(f'{n} {r}' for r, n in bad.items())})")
    return Corpus(good, bad, source)


def read_corpus(path: str | os.PathLike, *, skip_bad: bool = False) -> Corpus:
    """Read and check a corpus CSV (see the module docstring).

    Raises
    ------
    CorpusError
        If the file is missing or unreadable, or as :func:`check_corpus`.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: corpus file not found; build one with `acubench corpus --data-root DIR -o {path}`")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise CorpusError(f"{path}: not a readable CSV ({type(exc).__name__}: {exc})") from None
    if "report" not in frame.columns and "Gen_Report" in frame.columns:
        frame = frame.rename(columns={"Gen_Report": "report"})
    if "audio_path" in frame.columns:
        base = path.resolve().parent
        frame["audio_path"] = [str(p if Path(p).is_absolute() else base / p) for p in frame["audio_path"]]
    return check_corpus(frame, source=str(path), skip_bad=skip_bad)


def corpus_hash(frame: pd.DataFrame) -> str:
    """Content fingerprint of a corpus: its rows in order and each audio file's size and mtime.

    A rewritten audio file (even of the same size) changes the hash, so an
    aligned checkpoint is never reused for different audio.
    """
    digest = hashlib.sha256()
    cols = ["audio_path", "report", "subject", "start", "end"]
    digest.update(frame[cols].to_csv(index=False).encode())
    for p in frame["audio_path"]:
        try:
            st = os.stat(p)
            digest.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            digest.update(b"-")
    return digest.hexdigest()[:20]
