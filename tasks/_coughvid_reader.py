"""Reading the coughvid dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.coughvid`, which imports none of this.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from acubench.datasets import dataset_folder, refuse_escaping
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.paths import atomic_path
from acubench.reporting import LogReporter, Reporter
from acubench.specs import DataCheck
from acubench.tasks._common import (
    check_vocabulary,
    first_existing,
    log_dropped,
    read_table,
    reject_unexpected,
    require_audio,
)
from acubench.tasks.coughvid import DATASET, METADATA, SOURCE_DIR, WAV_DIR

log = logging.getLogger(__name__)

SOURCE_SUFFIXES = (".webm", ".ogg")
TARGET_RATE = 16000
GENDERS = {"female": 1, "male": 0}
GENDER_UNLABELLED = ("other", "Other", "pnts")
STATUSES = {"healthy": 0, "COVID-19": 1}
STATUS_UNLABELLED = ("symptomatic", "Other", "pnts")
FFMPEG_HELP = ("Install FFmpeg and re-run `acubench data prepare coughvid`: Debian/Ubuntu `sudo apt-get install "
               "ffmpeg`, conda `conda install -c conda-forge ffmpeg`, macOS `brew install ffmpeg`.")


@dataclass(frozen=True)
class SplitRecipe:
    """The numbers of OPERA's ``coughvid_split.py`` (sizes are recordings)."""

    min_cough_detected: float = 0.8
    test_female: int = 1031
    test_male: int = 1924
    test_seed: int = 0
    val_fraction: float = 0.25
    val_seed: int = 100
    covid_test_healthy: int = 2237
    covid_test_covid: int = 172
    covid_test_seed: int = 0

    def describe(self) -> str:
        return f"test seed {self.test_seed}, val seed {self.val_seed}"


RECIPE = SplitRecipe()


def _metadata_path(folder: Path) -> Path:
    return first_existing(folder, (f"{SOURCE_DIR}/{METADATA}", METADATA), DATASET, METADATA)


def read_metadata(folder: Path) -> pd.DataFrame:
    """``metadata_compiled.csv`` in file order, validated (columns, cough_detected, label vocabularies)."""
    path = _metadata_path(folder)
    df = read_table(path, DATASET, what="metadata", dtype={"uuid": str, "gender": str, "status": str},
                    columns=["uuid", "cough_detected", "gender", "status"], nonempty=["uuid", "cough_detected"])
    score = pd.to_numeric(df["cough_detected"], errors="coerce")
    if score.isna().any():
        bad = df.loc[score.isna(), "uuid"].tolist()[:3]
        raise DatasetError(f"{path}: non-numeric cough_detected for uuid(s) {bad}; re-download it from {DATASET.url}")
    df["cough_detected"] = score
    dup = df["uuid"][df["uuid"].duplicated()]
    if len(dup):
        raise DatasetError(f"{path}: uuid(s) listed twice: {sorted(dup)[:3]}; re-download it from {DATASET.url}")
    # The uuid names the recording's files (<uuid>.webm|ogg|json, wav/<uuid>.wav).
    refuse_escaping(df["uuid"], folder=folder / WAV_DIR, metadata=path, spec=DATASET, column="uuid")
    check_vocabulary(df["gender"].dropna(), (*GENDERS, *GENDER_UNLABELLED), path, "gender", DATASET)
    check_vocabulary(df["status"].dropna(), (*STATUSES, *STATUS_UNLABELLED), path, "status", DATASET)
    return df


def split_uuids(meta: pd.DataFrame, recipe: SplitRecipe = RECIPE) -> dict[str, set[str]]:
    """The recipe's uuid sets: ``train``, ``val``, ``test`` (sex test set) and ``covid_test``.

    Parameters
    ----------
    meta : DataFrame
        :func:`read_metadata` output, in the file's row order (the draws depend on it).
    """
    kept = meta[meta["cough_detected"] >= recipe.min_cough_detected]
    draws = []
    for gender, n in (("female", recipe.test_female), ("male", recipe.test_male)):
        pool = kept[kept["gender"] == gender]
        if len(pool) < n:
            raise DatasetError(f"{DATASET.name}: only {len(pool)} {gender} recordings with cough_detected >= "
                               f"{recipe.min_cough_detected}, the recipe draws {n}; the recipe needs the 20,072-row "
                               f"metadata of Zenodo record 4048312")
        draws.append(pool.sample(n=n, random_state=recipe.test_seed)["uuid"])
    test = set(pd.concat(draws))
    train, val = train_test_split(kept[~kept["uuid"].isin(test)], test_size=recipe.val_fraction,
                                  random_state=recipe.val_seed)
    in_test = kept[kept["uuid"].isin(test)]
    covid = pd.concat([in_test[in_test["status"] == "healthy"].sample(n=recipe.covid_test_healthy,
                                                                      random_state=recipe.covid_test_seed)["uuid"],
                       in_test[in_test["status"] == "COVID-19"].sample(n=recipe.covid_test_covid,
                                                                       random_state=recipe.covid_test_seed)["uuid"]])
    return {"train": set(train["uuid"]), "val": set(val["uuid"]), "test": test, "covid_test": set(covid)}


def _wav_names(wav_dir: Path) -> set[str]:
    return {e.name for e in os.scandir(wav_dir) if e.name.lower().endswith(".wav")} if wav_dir.is_dir() else set()


def _wav_path(wav_dir: Path, uuid: str, on_disk: set[str]) -> Path:
    """``wav/<uuid>.wav``, or the ``<uuid[:-1]>.wav`` name OPERA's converter gives ``.ogg`` recordings."""
    if f"{uuid}.wav" not in on_disk and f"{uuid[:-1]}.wav" in on_disk:
        return wav_dir / f"{uuid[:-1]}.wav"
    return wav_dir / f"{uuid}.wav"


def _prepare_hint(wav_dir: Path) -> str:
    return f"Run `acubench data prepare coughvid` to convert {SOURCE_DIR}/ into {wav_dir}"


def _wav_folder(folder: Path, meta: pd.DataFrame) -> tuple[Path, set[str]]:
    wav_dir = folder / WAV_DIR
    if not wav_dir.is_dir():
        raise DatasetError(f"{wav_dir}: CoughVID is distributed as webm/ogg; convert it to WAV first with "
                           "`acubench data prepare coughvid` (needs FFmpeg)")
    on_disk = _wav_names(wav_dir)
    known = {f"{u}.wav" for u in meta["uuid"]} | {f"{u[:-1]}.wav" for u in meta["uuid"]}
    reject_unexpected((wav_dir / n for n in on_disk), known, DATASET, wav_dir)
    return wav_dir, on_disk


def load(ctx: LoadContext) -> pd.DataFrame:
    """A CoughVID task's manifest: one row per recording, labelled by ``loader_args["target"]``
    (T03 ``covid``: label 1 = COVID-19, 0 = healthy; T04 ``sex``: label 1 = female, 0 = male).

    Returns
    -------
    DataFrame
        clip_id = subject = uuid, path, label, label_name, split, cough_detected,
        status, sex, age, split_seed (the recipe's seeds).
    """
    target = ctx.task.loader_args["target"]
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    meta = read_metadata(folder)
    wav_dir, on_disk = _wav_folder(folder, meta)
    sets = split_uuids(meta, RECIPE)
    column, mapping = ("status", STATUSES) if target == "covid" else ("gender", GENDERS)
    in_split = meta["uuid"].isin(sets["train"] | sets["val"] | sets["test"])
    labelled = meta[column].isin(list(mapping))
    low_score = meta["cough_detected"] < RECIPE.min_cough_detected
    drops = {f"cough_detected < {RECIPE.min_cough_detected}": int(low_score.sum()),
             f"{column} not one of {sorted(mapping)} (unlabelled)": int((in_split & ~labelled).sum())}
    df = meta[in_split & labelled].copy()
    df["split"] = np.select([df["uuid"].isin(sets["train"]), df["uuid"].isin(sets["val"])], ["train", "val"], "test")
    if target == "covid" and ctx.protocol != "reference":
        outside = (df["split"] == "test") & ~df["uuid"].isin(sets["covid_test"])
        drops["test recordings outside the drawn COVID test set"] = int(outside.sum())
        df = df[~outside]
    log_dropped(ctx.task.id, drops)
    df["path"] = [_wav_path(wav_dir, u, on_disk) for u in df["uuid"]]
    require_audio(list(df["path"]), DATASET, fix=_prepare_hint(wav_dir))
    df["path"] = df["path"].astype(str)
    df["label"] = df[column].map(mapping).astype(int)
    df["label_name"] = df[column]
    df["clip_id"] = df["subject"] = df["uuid"]
    df["sex"] = df["gender"]
    df["split_seed"] = RECIPE.describe()
    cols = ["clip_id", "path", "label", "label_name", "subject", "split", "cough_detected", "status", "sex", "age",
            "split_seed"]
    return df[[c for c in cols if c in df.columns]].reset_index(drop=True)


def check(folder: Path) -> DataCheck:
    """Presence check: one WAV (after ``prepare``) per metadata row."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    try:
        meta = read_metadata(folder)
    except DatasetError as exc:
        return DataCheck(present=True, problems=(str(exc),))
    on_disk = _wav_names(folder / WAV_DIR)
    found = sum(1 for u in meta["uuid"] if f"{u}.wav" in on_disk or f"{u[:-1]}.wav" in on_disk)
    problems = []
    if found < len(meta):
        problems.append(f"{len(meta) - found} of {len(meta)} recordings not converted to WAV yet: run "
                        "`acubench data prepare coughvid` (needs FFmpeg)")
    return DataCheck(present=True, found=found, expected=len(meta), problems=tuple(problems))


def _flagged(meta: pd.DataFrame, stem: str) -> pd.Series:
    """True where any of the expert columns ``<stem>_1..3`` is set."""
    cols = [c for c in meta.columns if c.startswith(f"{stem}_")]
    if not cols:
        return pd.Series(False, meta.index)
    return meta[cols].astype(str).isin(("True", "true", "1", "1.0")).any(axis=1)


def _expert_values(meta: pd.DataFrame, stem: str) -> pd.Series:
    """The distinct non-empty values of the expert columns ``<stem>_1..3``, joined ("dry", "lower_infection")."""
    cols = [c for c in meta.columns if c.startswith(f"{stem}_")]
    if not cols:
        return pd.Series("", meta.index)
    return meta[cols].apply(lambda row: ", ".join(dict.fromkeys(str(v).replace("_", " ") for v in row
                                                                 if pd.notna(v) and str(v).strip())), axis=1)


def recordings(folder: Path) -> pd.DataFrame:
    """One row per converted recording with ``cough_detected >= 0.8``: status, symptoms and expert annotations."""
    folder = Path(folder).resolve()
    meta = read_metadata(folder)
    wav_dir, on_disk = _wav_folder(folder, meta)
    meta = meta[meta["cough_detected"] >= RECIPE.min_cough_detected].copy()
    paths = [_wav_path(wav_dir, u, on_disk) for u in meta["uuid"]]
    require_audio(paths, DATASET, fix=_prepare_hint(wav_dir))
    status = meta["status"].map({"healthy": "healthy (self-reported)", "COVID-19": "COVID-19 (self-reported)",
                                 "symptomatic": "symptomatic, no COVID-19 diagnosis (self-reported)"}).fillna("")
    experts = _expert_values(meta, "diagnosis")
    diagnosis = status.str.cat(("; expert assessment: " + experts).where(experts != "", ""))
    condition = meta.get("respiratory_condition", pd.Series("", meta.index)).astype(str) == "True"
    diagnosis = diagnosis.where(~condition, diagnosis + "; pre-existing respiratory condition").str.lstrip("; ")
    fever = meta.get("fever_muscle_pain", pd.Series("", meta.index)).astype(str) == "True"
    flags = {"fever or muscle pain": fever, "dyspnea": _flagged(meta, "dyspnea"), "choking": _flagged(meta, "choking"),
             "nasal congestion": _flagged(meta, "congestion")}
    cough_type = _expert_values(meta, "cough_type")
    symptoms = [", ".join([t for t, f in zip(flags, row, strict=True) if f] + ([f"{kind} cough"] if kind else []))
                for row, kind in zip(zip(*flags.values(), strict=True), cough_type, strict=True)]
    adventitious = [", ".join(t for t, f in zip(("wheezing", "stridor"), row, strict=True) if f)
                    for row in zip(_flagged(meta, "wheezing"), _flagged(meta, "stridor"), strict=True)]
    out = pd.DataFrame({
        "audio_path": [str(p) for p in paths],
        "dataset": DATASET.id,
        "subject": meta["uuid"].to_numpy(),
        "recording_id": meta["uuid"].to_numpy(),
        "modality": "cough",
        "age": pd.to_numeric(meta["age"], errors="coerce").to_numpy() if "age" in meta else None,
        "sex": meta["gender"].to_numpy(),
        "device": "smartphone or computer microphone (web app)",
        "diagnosis": diagnosis.to_numpy(),
        "symptoms": symptoms,
        "adventitious": adventitious,
    })
    return out.reindex(columns=list(RECORDING_COLUMNS))


# --- conversion (acubench data prepare coughvid) ------------------------------------------------


class _ConversionFailed(Exception):
    """ffmpeg's last error line, raised inside the atomic write so that nothing is renamed."""


def _convert(ffmpeg: str, source: Path, target: Path) -> str | None:
    """Convert one recording to 16 kHz mono WAV atomically; the error text on failure."""
    try:
        with atomic_path(target) as tmp:
            cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                   "-ac", "1", "-ar", str(TARGET_RATE), "-f", "wav", str(tmp)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0 or not tmp.is_file():
                lines = (proc.stderr or proc.stdout).strip().splitlines()
                raise _ConversionFailed(lines[-1][:200] if lines else f"ffmpeg exit status {proc.returncode}")
    except _ConversionFailed as exc:
        return str(exc)
    return None


def prepare(folder: Path, reporter: Reporter | None = None) -> None:
    """Convert ``public_dataset/*.webm|*.ogg`` to ``wav/<uuid>.wav`` (16 kHz mono) with FFmpeg.

    Resumable: existing outputs are skipped, and each output is written to a
    temporary name and renamed, so an interrupted run leaves no partial WAV.

    Parameters
    ----------
    folder : Path
        The dataset folder (``<data-root>/coughvid``).
    reporter : Reporter, optional
        Where progress goes (default: the log).

    Raises
    ------
    DatasetError
        No source recordings, FFmpeg not on PATH (nothing is converted), or
        some conversions failed (the others are kept).
    """
    reporter = reporter or LogReporter()
    folder = Path(folder)
    source_dir = folder / SOURCE_DIR
    sources = (sorted(p for p in source_dir.glob("*") if p.suffix.lower() in SOURCE_SUFFIXES) if source_dir.is_dir()
               else [])
    if not sources:
        raise DatasetError(f"{source_dir}: no .webm/.ogg recordings found. Download public_dataset.zip from "
                           f"{DATASET.url} and unzip it into {folder}")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise DatasetError(f"FFmpeg not found on PATH, so nothing was converted. {FFMPEG_HELP}")
    wav_dir = folder / WAV_DIR
    wav_dir.mkdir(exist_ok=True)
    todo = [(s, wav_dir / f"{s.stem}.wav") for s in sources if not (wav_dir / f"{s.stem}.wav").is_file()]
    if not todo:
        reporter.note(f"All {len(sources)} CoughVID recordings are already converted in {wav_dir}.")
        return
    reporter.note(f"Converting {len(todo)} of {len(sources)} CoughVID recordings to {TARGET_RATE} Hz mono WAV "
                  f"in {wav_dir} ({len(sources) - len(todo)} already done)")
    failures: list[tuple[Path, str]] = []
    with reporter.progress("ffmpeg", len(todo)) as advance, ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {pool.submit(_convert, ffmpeg, s, t): s for s, t in todo}
        for future in as_completed(futures):
            error = future.result()
            if error is not None:
                failures.append((futures[future], error))
            advance(1)
    if failures:
        first, why = sorted(failures)[0]
        raise DatasetError(f"{first}: {len(failures)} of {len(todo)} recording(s) could not be converted "
                           f"(first error: {why}). The others are done; re-running converts only what is missing")
    reporter.note(f"Converted {len(todo)} recordings into {wav_dir}.")
