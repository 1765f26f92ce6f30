"""Reading the coswara dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.coswara`, which imports none of this.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from acubench.datasets import dataset_folder
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import carve_val, check_vocabulary, log_dropped, read_table, require, require_audio
from acubench.tasks.coswara import (
    ANNOTATIONS,
    AUDIO_DIR,
    DATASET,
    METADATA,
    TEST_DRAWS,
    VAL_FRACTION,
    VAL_SEED,
    GoogleSplit,
)

log = logging.getLogger(__name__)

SOUNDS = ("breathing-deep", "breathing-shallow", "cough-heavy", "cough-shallow")
QUALITIES = ("0", "1", "2")
#: Participants whose audio does not decode (all sounds), per OPERA.
BROKEN = frozenset({"C7Km0KttQRMMM6UoyocajfgZAOB3", "kgjTguvo3vZJTO7F1qO9GxEicbA3"})
#: (participant, sound) pairs the publisher does not ship (no file, no quality rating).
NOT_RECORDED = frozenset({("9hftEYixyhP1Neeq3fB7ZwITQC53", "cough-shallow")})
SEXES = {"female": 1, "male": 0}
SEX_UNLABELLED = ("other", "Other", "pnts")
SMOKER = {"y": 1, "True": 1, "TRUE": 1, "n": 0, "False": 0, "FALSE": 0}


def read_participants(folder: Path) -> pd.DataFrame:
    """``combined_data.csv`` in file order, all values as stripped strings ('' for empty)."""
    path = folder / METADATA
    df = read_table(path, DATASET, what="participant metadata", dtype=str, keep_default_na=False,
                    columns=["id", "a", "g", "smoker"], nonempty=["id"])
    df = df.apply(lambda col: col.str.strip())
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        raise DatasetError(f"{path}: participant(s) listed twice: {sorted(dup)[:3]}; re-download {METADATA}")
    check_vocabulary(df.loc[df["g"] != "", "g"], (*SEXES, *SEX_UNLABELLED), path, "g (gender)", DATASET)
    check_vocabulary(df.loc[df["smoker"] != "", "smoker"], SMOKER, path, "smoker", DATASET)
    return df


def read_quality(folder: Path, sound: str) -> dict[str, str]:
    """``annotations/<sound>_labels.csv`` as participant id → quality ('0', '1' or '2')."""
    path = folder / ANNOTATIONS / f"{sound}_labels.csv"
    table = read_table(path, DATASET, what=f"{sound} quality annotations", dtype=str,
                       columns=["FILENAME", "QUALITY"], nonempty=["FILENAME", "QUALITY"])
    names = table["FILENAME"].str.strip()
    quality = table["QUALITY"].str.strip()
    check_vocabulary(quality, QUALITIES, path, "QUALITY", DATASET)
    suffix = f"_{sound}"
    bad = names[~names.str.endswith(suffix)].tolist()
    if bad:
        raise DatasetError(f"{path}: FILENAME value(s) {bad[:3]} do not end in {suffix!r}; is this the right file?")
    return dict(zip(names.str[: -len(suffix)], quality, strict=True))


def participant_folders(folder: Path, known: set[str]) -> dict[str, Path]:
    """``Extracted_data/<date>/<id>/`` by participant id; unknown or duplicated ids raise."""
    audio_dir = require(folder / AUDIO_DIR, DATASET, f"{AUDIO_DIR}/ (run the repository's extract_data.py)")
    found: dict[str, Path] = {}
    for date in sorted((e for e in os.scandir(audio_dir) if e.is_dir()), key=lambda e: e.name):
        for entry in os.scandir(date.path):
            if not entry.is_dir():
                continue
            if entry.name in found:
                raise DatasetError(f"{entry.path}: participant {entry.name} also in {found[entry.name]}; "
                                   "remove the duplicate extraction")
            found[entry.name] = Path(entry.path)
    unknown = sorted(set(found) - known)
    if unknown:
        raise DatasetError(f"{found[unknown[0]]}: {len(unknown)} participant folder(s) under {audio_dir} are not in "
                           f"{METADATA} (e.g. {unknown[:3]}); the audio and the metadata come from different "
                           "checkouts of the repository")
    return found


def _sound_rows(folder: Path, people: pd.DataFrame, dirs: dict[str, Path], sound: str,
                drops: Counter[str]) -> pd.DataFrame:
    """Participants with a usable ``sound`` recording (not broken, rated > 0), in file order, with its path."""
    quality = read_quality(folder, sound)
    keep = []
    for pid in people["id"]:
        if pid in BROKEN or (pid, sound) in NOT_RECORDED:
            drops[f"{sound}: known broken or missing audio"] += 1
            continue
        if pid not in quality:
            raise DatasetError(f"{folder / ANNOTATIONS / f'{sound}_labels.csv'}: no quality rating for {pid}_{sound}; "
                               f"the annotations and {METADATA} come from different checkouts")
        if quality[pid] == "0":
            drops[f"{sound}: rated bad quality (0)"] += 1
            continue
        keep.append(pid)
    rows = people.set_index("id").loc[keep].reset_index()
    rows["quality"] = [quality[p] for p in keep]
    missing_dir = [p for p in keep if p not in dirs]
    if missing_dir:
        raise DatasetError(f"{folder / AUDIO_DIR}: no folder for {len(missing_dir)} participant(s) with a rated "
                           f"{sound} recording (e.g. {missing_dir[:3]}); run extract_data.py again")
    rows["path"] = [dirs[p] / f"{sound}.wav" for p in keep]
    return rows


def google_split(labels: np.ndarray, draw: GoogleSplit) -> np.ndarray:
    """OPERA's HeAR-aligned test draw over ``labels`` (0/1): a boolean test mask.

    ``np.random.seed(draw.seed)``, shuffle the positive indices, then the
    negative ones, and take the first ``n_positive`` / ``n_negative``.
    """
    rng = np.random.RandomState(draw.seed)
    positive, negative = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if len(positive) < draw.n_positive or len(negative) < draw.n_negative:
        raise DatasetError(f"{DATASET.name}: {len(positive)} positive / {len(negative)} negative participants, but the "
                           f"test draw takes {draw.n_positive} / {draw.n_negative}; the metadata is incomplete")
    rng.shuffle(positive)
    rng.shuffle(negative)
    test = np.zeros(len(labels), dtype=bool)
    test[positive[: draw.n_positive]] = True
    test[negative[: draw.n_negative]] = True
    return test


def load(ctx: LoadContext) -> pd.DataFrame:
    """A Coswara task's manifest: one shallow cough per participant, labelled by ``loader_args["target"]``
    (T06 ``smoker``: label 1 = smoker; T07 ``sex``: label 1 = female).

    Returns
    -------
    DataFrame
        clip_id (``<id>_cough-shallow``), path, label, label_name, subject (participant id),
        split, record_date, age, sex, smoker, quality, split_seed.
    """
    target = ctx.task.loader_args["target"]
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    people = read_participants(folder)
    dirs = participant_folders(folder, set(people["id"]))
    column, mapping = ("g", SEXES) if target == "sex" else ("smoker", SMOKER)
    drops: Counter[str] = Counter()
    labelled = people[people[column].isin(list(mapping))]
    drops[f"no {target} label ({column} empty, other or pnts)"] = len(people) - len(labelled)
    heavy = _sound_rows(folder, labelled, dirs, "cough-heavy", drops)
    df = _sound_rows(folder, labelled, dirs, "cough-shallow", drops)
    aligned = df["id"].isin(set(heavy["id"]))
    drops["no usable heavy cough (OPERA keeps participants with both coughs)"] = int((~aligned).sum())
    df = df[aligned].reset_index(drop=True)
    log_dropped(ctx.task.id, drops)
    require_audio(list(df["path"]), DATASET, fix="Run the repository's extract_data.py to unpack the dated archives")
    df["label"] = df[column].map(mapping).astype(int)
    test = google_split(df["label"].to_numpy(), TEST_DRAWS[target])
    df["split"] = np.where(test, "test", "train")
    df = carve_val(df, fraction=VAL_FRACTION, seed=VAL_SEED, by_subject=False)
    df["label_name"] = df["label"].map(dict(enumerate(ctx.task.classes)))
    df["clip_id"] = df["id"] + "_cough-shallow"
    df["subject"] = df["id"]
    df["path"] = df["path"].astype(str)
    df["record_date"] = [Path(p).parent.parent.name for p in df["path"]]
    df["age"] = pd.to_numeric(df["a"], errors="coerce")
    df["sex"] = df["g"]
    df["split_seed"] = f"test={TEST_DRAWS[target].seed};val={VAL_SEED}"
    cols = ["clip_id", "path", "label", "label_name", "subject", "split", "record_date", "age", "sex", "smoker",
            "quality", "split_seed"]
    return df[cols]


def check(folder: Path) -> DataCheck:
    """Presence check: one extracted WAV per rated recording in ``annotations/``."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    problems = []
    if not (folder / METADATA).is_file():
        problems.append(f"missing {METADATA}")
    missing_ann = [s for s in SOUNDS if not (folder / ANNOTATIONS / f"{s}_labels.csv").is_file()]
    if missing_ann:
        problems.append(f"missing {ANNOTATIONS}/{missing_ann[0]}_labels.csv")
    audio_dir = folder / AUDIO_DIR
    if not audio_dir.is_dir():
        problems.append(f"no {AUDIO_DIR}/: run the repository's extract_data.py")
    if problems:
        return DataCheck(present=True, problems=tuple(problems))
    try:
        ratings = {sound: read_quality(folder, sound) for sound in SOUNDS}
    except DatasetError as exc:
        return DataCheck(present=True, problems=(str(exc),))
    dirs = {e.name: Path(e.path) for d in os.scandir(audio_dir) if d.is_dir() for e in os.scandir(d.path) if e.is_dir()}
    expected = [dirs.get(pid, audio_dir / "?" / pid) / f"{sound}.wav"
                for sound, rated in ratings.items() for pid in rated]
    found = sum(1 for p in expected if p.is_file())
    if found < len(expected):
        problems.append(f"{len(expected) - found} of {len(expected)} rated recordings not extracted yet "
                        "(run the repository's extract_data.py)")
    return DataCheck(present=True, found=found, expected=len(expected), problems=tuple(problems))


#: combined_data.csv True/False columns, as words for reports.
SYMPTOMS = {"cough": "cough", "fever": "fever", "cold": "cold", "bd": "breathing difficulties", "st": "sore throat",
            "ftg": "fatigue", "mp": "muscle pain", "loss_of_smell": "loss of smell and taste", "diarrhoea": "diarrhoea"}
CONDITIONS = {"asthma": "asthma", "cld": "chronic lung disease", "pneumonia": "pneumonia", "ht": "hypertension",
              "diabetes": "diabetes", "ihd": "ischemic heart disease", "others_resp": "other respiratory illness",
              "others_preexist": "other pre-existing condition"}


def _words(people: pd.DataFrame, names: dict[str, str]) -> pd.Series:
    cols = [c for c in names if c in people.columns]
    flags = people[cols].isin(("True", "TRUE", "y"))
    return flags.apply(lambda row: ", ".join(names[c] for c in cols if row[c]), axis=1)


def recordings(folder: Path) -> pd.DataFrame:
    """One row per usable breathing/cough recording (rated > 0) with COVID status, symptoms and comorbidities."""
    folder = Path(folder).resolve()
    people = read_participants(folder)
    dirs = participant_folders(folder, set(people["id"]))
    status = people["covid_status"].str.replace("_", " ") if "covid_status" in people else pd.Series("", people.index)
    conditions = _words(people, CONDITIONS)
    diagnosis = ("COVID-19 status: " + status).where(status != "", "")
    diagnosis = diagnosis.str.cat(("; comorbidities: " + conditions).where(conditions != "", "")).str.lstrip("; ")
    extra = people.assign(diagnosis=diagnosis, symptoms=_words(people, SYMPTOMS))
    frames = []
    for sound in SOUNDS:
        rows = _sound_rows(folder, extra, dirs, sound, Counter())
        require_audio(list(rows["path"]), DATASET,
                      fix="Run the repository's extract_data.py to unpack the dated archives")
        frames.append(pd.DataFrame({
            "audio_path": rows["path"].astype(str), "dataset": DATASET.id, "subject": rows["id"],
            "recording_id": rows["id"] + f"_{sound}", "modality": sound.replace("-", " "),
            "age": pd.to_numeric(rows["a"], errors="coerce"), "sex": rows["g"],
            "device": "smartphone or computer microphone (web app)", "diagnosis": rows["diagnosis"],
            "symptoms": rows["symptoms"],
            "smoker": rows["smoker"].map({k: "yes" if v else "no" for k, v in SMOKER.items()}),
        }))
    return pd.concat(frames, ignore_index=True).reindex(columns=list(RECORDING_COLUMNS))
