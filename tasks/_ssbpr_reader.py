"""Reading the ssbpr dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.ssbpr`, which imports none of this.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from acubench.datasets import dataset_folder
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import assign_splits, first_existing, group_split, log_dropped
from acubench.tasks.ssbpr import DATASET, DROPPED_POSITION, POSITIONS

log = logging.getLogger(__name__)
SEX_DIRS = ("female", "male")

TEST_FRACTION, VAL_FRACTION, SPLIT_SEED = 0.2, 0.2, 42
_NAME = re.compile(r"^(?P<patient>.+)-(?P<position>\d)\.wav$")


def read_files(folder: Path) -> pd.DataFrame:
    """One row per snore file, parsed from its path, sorted by path; odd names raise.

    Returns
    -------
    DataFrame
        path, clip_id (``<sex>/<sub-folder>/<stem>``), sex, patient, position (0-5), folder.
    """
    first_existing(folder, SEX_DIRS, DATASET, "audio folders female/ and male/")
    rows, odd = [], []
    for sex in SEX_DIRS:
        for path in sorted((folder / sex).glob("*/*.wav")):
            match = _NAME.match(path.name)
            if match is None:
                odd.append(path)
                continue
            rows.append({"path": path, "clip_id": f"{sex}/{path.parent.name}/{path.stem}", "sex": sex,
                         "patient": match["patient"], "position": int(match["position"]),
                         "folder": path.parent.name})
    if odd:
        raise DatasetError(f"{odd[0]}: {len(odd)} file name(s) are not A-B-C.wav with a body position C in 0-5 "
                           f"(e.g. {[p.name for p in odd[:3]]}); remove files that are not part of SSBPR")
    if not rows:
        raise DatasetError(f"{folder}: no SSBPR snores found under female/*/ or male/*/. Request the dataset from "
                           f"{DATASET.url} and unzip it so that {folder} holds: {DATASET.layout}")
    df = pd.DataFrame(rows).sort_values("path").reset_index(drop=True)
    bad = df.loc[df["position"] > DROPPED_POSITION, "path"].tolist()
    if bad:
        raise DatasetError(f"{bad[0]}: body position {df['position'].max()} is not one of 0-5; check the file name")
    return df


def load(ctx: LoadContext) -> pd.DataFrame:
    """X03 manifest: one row per snore, label = body position 0-4.

    Returns
    -------
    DataFrame
        clip_id, path, label, label_name, subject (patient A-B), split, sex, split_seed.
    """
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = read_files(folder)
    prone = df["position"] == DROPPED_POSITION
    log_dropped("X03", {"prone position (5), as in OPERA": int(prone.sum())})
    df = df[~prone].reset_index(drop=True)
    df["label"] = df["position"]
    df["subject"] = df["patient"]
    if ctx.protocol == "reference":
        idx = df.index.to_numpy()
        rest, test = train_test_split(idx, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=df["label"])
        train, val = train_test_split(rest, test_size=VAL_FRACTION / (1 - TEST_FRACTION), random_state=SPLIT_SEED,
                                      stratify=df.loc[rest, "label"])
        df["split"] = "train"
        df.loc[val, "split"] = "val"
        df.loc[test, "split"] = "test"
    else:
        patients = sorted(df["subject"].unique())
        rest, test = group_split(patients, None, test_size=TEST_FRACTION, seed=SPLIT_SEED)
        train, val = group_split(rest, None, test_size=VAL_FRACTION / (1 - TEST_FRACTION), seed=SPLIT_SEED)
        df = assign_splits(df, {**dict.fromkeys(train, "train"), **dict.fromkeys(val, "val"),
                                **dict.fromkeys(test, "test")})
    df["path"] = df["path"].astype(str)
    df["label_name"] = df["label"].map(dict(enumerate(POSITIONS)))
    df["split_seed"] = SPLIT_SEED
    return df[["clip_id", "path", "label", "label_name", "subject", "split", "sex", "split_seed"]]


def check(folder: Path) -> DataCheck:
    """Presence check: snores under female/ and male/ (the publisher fixes no count)."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    missing = [f"missing {d}/" for d in SEX_DIRS if not (folder / d).is_dir()]
    found = sum(1 for d in SEX_DIRS for p in (folder / d).glob("*/*.wav") if _NAME.match(p.name))
    return DataCheck(present=True, found=found, problems=tuple(missing))


def recordings(folder: Path) -> pd.DataFrame:
    """One row per snore: sex (from the folder); then body_position, which RECORDING_COLUMNS lacks."""
    df = read_files(Path(folder).resolve())
    out = pd.DataFrame({
        "audio_path": df["path"].astype(str),
        "dataset": DATASET.id,
        "subject": df["patient"],
        "recording_id": df["clip_id"],
        "modality": "snoring",
        "sex": df["sex"],
    }).reindex(columns=list(RECORDING_COLUMNS))
    out["body_position"] = df["position"].map(dict(enumerate(POSITIONS)))
    return out
