"""Reading the zchsound dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.zchsound`, which imports none of this.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from acubench.datasets import dataset_folder, member_paths
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import (
    assign_splits,
    check_vocabulary,
    first_existing,
    group_split,
    read_table,
    reject_unexpected,
    require_audio,
)
from acubench.tasks.zchsound import DATASET, SPLIT_SEED, TEST_FRACTION, VAL_FRACTION

log = logging.getLogger(__name__)
#: subset -> (audio folder names, accepted in this order; details table)
SUBSETS = {
    "clean": (("clean Heartsound Data", "Clean Heartsound Data"), "Clean Heartsound Data Details.csv"),
    "noisy": (("Noise Heartsound Data Details", "Noise Heartsound Data", "noise Heartsound Data"),
              "Noise Heartsound Data Details.csv"),
}
N_RECORDINGS = {"clean": 941, "noisy": 318}
DIAGNOSES = {"NORMAL": "Normal", "ASD": "Atrial septal defect", "VSD": "Ventricular septal defect",
             "PFO": "Patent foramen ovale", "PDA": "Patent ductus arteriosus"}
SEXES = {"M": "male", "F": "female"}


def _subset(folder: Path, subset: str) -> pd.DataFrame:
    """One subset's table joined to its audio, validated both ways."""
    audio_names, table_name = SUBSETS[subset]
    audio_dir = first_existing(folder, audio_names, DATASET, f"{subset} audio folder")
    path = folder / table_name
    table = read_table(path, DATASET, what=f"{subset} details table", sep=";", dtype=str,
                       columns=["fileName", "diagnosis"], nonempty=["fileName", "diagnosis"])
    table = table.rename(columns={c: "age_days" for c in table.columns if c.lower().startswith("age")})
    for col in ("fileName", "diagnosis"):
        table[col] = table[col].str.strip()
    check_vocabulary(table["diagnosis"], DIAGNOSES, path, "diagnosis", DATASET)
    dup = sorted(set(table["fileName"][table["fileName"].duplicated()]))
    if dup:
        raise DatasetError(f"{path}: file(s) listed twice: {dup[:5]}; re-download it from {DATASET.url}")
    table["path"] = member_paths(audio_dir, table["fileName"], metadata=path, spec=DATASET, column="fileName")
    require_audio(list(table["path"]), DATASET,
                  fix=f"Put the {subset} recordings listed in {table_name} into {audio_dir}")
    reject_unexpected(audio_dir.glob("*.wav"), set(table["fileName"]), DATASET, audio_dir)
    table["subset"] = subset
    return table


def read_recordings(folder: Path) -> pd.DataFrame:
    """Both subsets, one row per recording sorted by file name.

    Returns
    -------
    DataFrame
        fileName, path, subset (clean/noisy), diagnosis (publisher's code), and gender and age_days
        where the tables have them.
    """
    df = pd.concat([_subset(folder, s) for s in SUBSETS], ignore_index=True)
    shared = sorted(set(df["fileName"][df["fileName"].duplicated()]))
    if shared:
        raise DatasetError(f"{folder / SUBSETS['noisy'][1]}: file(s) {shared[:5]} are listed in both the clean and "
                           "the noisy table; the publisher's file names are unique, so a table was edited")
    return df.sort_values("fileName").reset_index(drop=True)


def load(ctx: LoadContext) -> pd.DataFrame:
    """T18 manifest: one row per recording, label 1 = congenital heart defect, 0 = normal.

    Returns
    -------
    DataFrame
        clip_id (file stem, e.g. ``ZCH0001``), path, label, label_name, subject (= clip_id), split,
        subset (clean/noisy), diagnosis (NORMAL/ASD/VSD/PFO/PDA), split_seed.
    """
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = read_recordings(folder)
    df["clip_id"] = df["fileName"].map(lambda n: Path(n).stem)
    df["subject"] = df["clip_id"]
    df["label"] = (df["diagnosis"] != "NORMAL").astype(int)
    df["label_name"] = df["label"].map({0: "normal", 1: "CHD"})
    strata = (df["subset"] + ":" + df["diagnosis"]).tolist()
    rest, test = group_split(df["subject"].tolist(), strata, test_size=TEST_FRACTION, seed=SPLIT_SEED)
    by_subject = dict(zip(df["subject"], strata, strict=True))
    train, val = group_split(rest, [by_subject[s] for s in rest], test_size=VAL_FRACTION, seed=SPLIT_SEED)
    mapping = {**dict.fromkeys(train, "train"), **dict.fromkeys(val, "val"), **dict.fromkeys(test, "test")}
    df = assign_splits(df, mapping)
    df["path"] = df["path"].astype(str)
    df["split_seed"] = SPLIT_SEED
    cols = ["clip_id", "path", "label", "label_name", "subject", "split", "subset", "diagnosis", "split_seed"]
    return df[cols].reset_index(drop=True)


def check(folder: Path) -> DataCheck:
    """Presence check: both details tables and the 1259 recordings of both subsets."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    problems, found = [], 0
    for subset, (audio_names, table_name) in SUBSETS.items():
        if not (folder / table_name).is_file():
            problems.append(f"missing {table_name}")
        audio_dir = next((folder / d for d in audio_names if (folder / d).is_dir()), None)
        if audio_dir is None:
            problems.append(f"missing the {subset} audio folder '{audio_names[0]}/'")
        else:
            found += sum(1 for _ in audio_dir.glob("*.wav"))
    return DataCheck(present=True, found=found, expected=sum(N_RECORDINGS.values()), problems=tuple(problems))


def age_text(days: float) -> str | None:
    """A child's age from days, in the unit a clinician would use: ``"12 days"``, ``"5 months"``, ``"7 years"``."""
    if pd.isna(days):
        return None
    if days < 31:
        return f"{int(days)} day{'s' if int(days) != 1 else ''}"
    if days < 2 * 365.25:
        months = int(days // 30.4375)
        return f"{months} month{'s' if months != 1 else ''}"
    return f"{int(days // 365.25)} years"


def recordings(folder: Path) -> pd.DataFrame:
    """One row per recording: diagnosis (spelled out), age (as text, e.g. "5 months"), sex;
    then age_days and the subset (clean/noisy), which :data:`RECORDING_COLUMNS` has no column for."""
    df = read_recordings(Path(folder).resolve())
    age_days = pd.to_numeric(df["age_days"], errors="coerce") if "age_days" in df else pd.Series(float("nan"), df.index)
    sex = df["gender"].str.strip().map(SEXES) if "gender" in df else None
    out = pd.DataFrame({
        "audio_path": df["path"].astype(str),
        "dataset": DATASET.id,
        "subject": df["fileName"].map(lambda n: Path(n).stem),
        "recording_id": df["fileName"].map(lambda n: Path(n).stem),
        "modality": "heart sounds",
        "age": age_days.map(age_text),
        "sex": sex,
        "device": "electronic stethoscope",
        "diagnosis": df["diagnosis"].map(DIAGNOSES),
    }).reindex(columns=list(RECORDING_COLUMNS))
    out["age_days"] = age_days
    out["subset"] = df["subset"]
    return out
