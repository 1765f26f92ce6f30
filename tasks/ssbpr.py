"""SSBPR snoring sounds: sleep body position (X03, OPERA task 12).

Data on request (github.com/xiaoli1996/SSBPR). Publisher layout
(``<data-root>/SSBPR/``): ``female/`` and ``male/``, each with sub-folders
holding ``A-B-C.wav``: ``A-B`` identifies the patient, ``C`` the body position
(0 supine, 1 supine with the head turned left, 2 supine with the head turned
right, 3 left lateral, 4 right lateral, 5 prone). Prone snores are dropped, as
in OPERA, which leaves five classes.

Split: OPERA splits the *files* 60/20/20 (sklearn ``train_test_split``, seed
42, stratified by position), so one patient's snores sit in train and test.
default: the same proportions over *patients* (seed 42; unstratified, since
every patient snores in several positions). reference: OPERA's file-level
split over the files in sorted-path order (OPERA used its file system's glob
order, so the sizes match but not necessarily the membership); it leaks
patients and passes only ``validate_manifest(..., allow_leakage=True)``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from acubench import hookimpl
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck, DatasetSpec, TaskSpec
from acubench.tasks._common import assign_splits, dataset_folder, first_existing, group_split, log_dropped

log = logging.getLogger(__name__)

SEX_DIRS = ("female", "male")
POSITIONS = ("supine", "supine, head turned left", "supine, head turned right", "left lateral", "right lateral",
             "prone")
DROPPED_POSITION = 5
TEST_FRACTION, VAL_FRACTION, SPLIT_SEED = 0.2, 0.2, 42
_NAME = re.compile(r"^(?P<patient>.+)-(?P<position>\d)\.wav$")

DATASET = DatasetSpec(
    id="ssbpr",
    name="SSBPR: Snore-based Sleep Body Position Recognition",
    folder="SSBPR",
    url="https://github.com/xiaoli1996/SSBPR",
    license="CC BY 4.0 (on request)",
    access="on request",
    layout="female/ and male/, each with sub-folders of A-B-C.wav snores (A-B: patient, C: body position 0-5)",
    citation=("Xiao L, Yang X, Li X et al. A Snoring Sound Dataset for Body Position Recognition: Collection, "
              "Annotation, and Analysis. Interspeech 2023."),
    check="acubench.tasks.ssbpr:check",
    recordings="acubench.tasks.ssbpr:recordings",
)

TASKS = [
    TaskSpec(
        id="X03",
        name="ssbpr-position",
        dataset="ssbpr",
        loader="acubench.tasks.ssbpr:load_position",
        kind="multiclass",
        modality="snoring",
        target="sleep body position while snoring",
        classes=POSITIONS[:DROPPED_POSITION],
        class_prompts=tuple(f"Snoring of a person sleeping in the {p} position." for p in POSITIONS[:DROPPED_POSITION]),
        protocol="fixed",
        clip_seconds=2.0,
        protocols=("default", "reference"),
        protocol_notes=(
            "Prone (position 5) dropped. default: patient-level 60/20/20 split (sklearn train_test_split over "
            "sorted patient ids, seed 42: 20 % test, then 25 % of the rest validation; unstratified). reference "
            "(known to leak patients): OPERA's file-level split, stratified by position, seed 42, over files in "
            "sorted-path order (OPERA used glob order: same sizes, membership may differ)."
        ),
        suites=("extra", "opera"),
        opera_task=12,
        probe_options={"epochs": 32, "batch_size": 64, "l2_strength": 1e-5, "checkpoint_every_n_epochs": 3},
        description="Sleep body position (5 classes) from snoring sounds.",
    ),
]


@hookimpl
def acubench_datasets() -> list[DatasetSpec]:
    return [DATASET]


@hookimpl
def acubench_tasks() -> list[TaskSpec]:
    return list(TASKS)


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


def load_position(ctx: LoadContext) -> pd.DataFrame:
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
