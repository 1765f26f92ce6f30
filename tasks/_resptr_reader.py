"""Reading the resptr dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.resptr`, which imports none of this.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import pandas as pd

from acubench.datasets import dataset_folder
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import (
    assign_splits,
    check_vocabulary,
    group_split,
    read_table,
    reject_unexpected,
    require_audio,
)
from acubench.tasks.resptr import (
    AUDIO_SUBDIR,
    DATASET,
    DIAGNOSIS_COLUMN,
    GRADES,
    LABELS_CSV,
    LABELS_XLSX,
    PATIENT_COLUMN,
    SPLIT_SEED,
    TEST_FRACTION,
    VAL_FRACTION,
)

log = logging.getLogger(__name__)

CHANNELS = tuple(f"{side}{i}" for side in "LR" for i in range(1, 7))
N_PATIENTS = 42
N_RECORDINGS = N_PATIENTS * len(CHANNELS)
_PATIENT = re.compile(r"^H\d{3}$")
_FILE = re.compile(r"^(?P<patient>H\d{3})_(?P<channel>[LR][1-6])\.wav$")


def audio_dir(folder: Path) -> Path:
    """Where the wav files lie: the archive's ``RespiratoryDatabase@TR/`` subfolder if present, else ``folder``."""
    nested = folder / AUDIO_SUBDIR
    return nested if nested.is_dir() else folder


def _read_xlsx(path: Path) -> pd.DataFrame:
    # pandas reads .xlsx through openpyxl, an optional package
    if importlib.util.find_spec("openpyxl") is None:
        raise DatasetError(f"{path}: found {LABELS_XLSX} but no {LABELS_CSV}; reading .xlsx needs the optional "
                           f"package openpyxl. Either `pip install 'acubench[xls]'`, or save the sheet as CSV "
                           f"({path.with_name(LABELS_CSV)}) from any spreadsheet program")
    try:
        return pd.read_excel(path, dtype=str)
    except (ValueError, OSError) as exc:
        raise DatasetError(f"{path}: cannot read the label table of {DATASET.name} ({exc}); re-download it "
                           f"from {DATASET.url}") from None


def read_labels(folder: Path) -> pd.DataFrame:
    """The patient → grade table in the publisher's row order (the order the split recipe depends on).

    Returns
    -------
    DataFrame
        patient (``H0xx``), diagnosis (``COPD0``…``COPD4``), grade (int 0–4), one row per patient.
    """
    path = folder / LABELS_CSV
    if path.is_file() or not (folder / LABELS_XLSX).is_file():
        table = read_table(path, DATASET, what="label table", dtype=str, columns=[PATIENT_COLUMN, DIAGNOSIS_COLUMN],
                           nonempty=[PATIENT_COLUMN, DIAGNOSIS_COLUMN])
    else:
        path = folder / LABELS_XLSX
        table = _read_xlsx(path)
        table.columns = [str(c).strip() for c in table.columns]
        missing = [c for c in (PATIENT_COLUMN, DIAGNOSIS_COLUMN) if c not in table.columns]
        if missing:
            raise DatasetError(f"{path}: the label table lacks column(s) {missing}; use the publisher's file "
                               f"from {DATASET.url}")
        table = table.dropna(how="all")
    df = pd.DataFrame({"patient": table[PATIENT_COLUMN].astype(str).str.strip(),
                       "diagnosis": table[DIAGNOSIS_COLUMN].astype(str).str.strip()})
    odd = [p for p in df["patient"] if not _PATIENT.match(p)]
    if odd:
        raise DatasetError(f"{path}: patient id(s) {odd[:5]} are not of the form H0xx; re-download the "
                           f"label table from {DATASET.url}")
    dup = sorted(set(df["patient"][df["patient"].duplicated()]))
    if dup:
        raise DatasetError(f"{path}: patient(s) listed twice: {dup[:5]}; re-download it from {DATASET.url}")
    check_vocabulary(df["diagnosis"], GRADES, path, DIAGNOSIS_COLUMN, DATASET)
    df["grade"] = df["diagnosis"].str[-1].astype(int)
    return df.reset_index(drop=True)


def read_recordings(folder: Path) -> pd.DataFrame:
    """One row per channel file of every labelled patient, validated against the audio folder.

    Every patient of the label table must have all 12 channel files, and the
    audio folder may hold no other ``.wav``.

    Returns
    -------
    DataFrame
        path, stem, patient, channel (``L1``…``R6``), diagnosis, grade; patients in label-table
        order, channels in ``L1``…``L6``, ``R1``…``R6`` order.
    """
    labels = read_labels(folder)
    where = audio_dir(folder)
    rows = [{"path": where / f"{p}_{c}.wav", "patient": p, "channel": c} for p in labels["patient"] for c in CHANNELS]
    df = pd.DataFrame(rows)
    require_audio(list(df["path"]), DATASET, fix=f"Each patient of {LABELS_CSV} needs its 12 channel files "
                  f"<patient>_<L1..L6|R1..R6>.wav in {where}; unzip the complete archive from {DATASET.url}")
    found = [p for p in where.iterdir() if p.is_file() and p.suffix.lower() == ".wav"]
    reject_unexpected(found, {p.name for p in df["path"]}, DATASET, where)
    df["stem"] = [p.stem for p in df["path"]]
    return df.merge(labels, on="patient", how="left", validate="many_to_one")


def split_patients(patients: list[str], grades: list[int]) -> dict[str, str]:
    """OPERA's two-stage stratified patient split (seed 1337): patient → train/val/test.

    Parameters
    ----------
    patients, grades : list
        One entry per patient, in the label table's row order (the result depends on it).
    """
    rest, test = group_split(patients, grades, test_size=TEST_FRACTION, seed=SPLIT_SEED)
    grade = dict(zip(patients, grades, strict=True))
    train, val = group_split(rest, [grade[p] for p in rest], test_size=VAL_FRACTION, seed=SPLIT_SEED)
    return {**dict.fromkeys(train, "train"), **dict.fromkeys(val, "val"), **dict.fromkeys(test, "test")}


def load(ctx: LoadContext) -> pd.DataFrame:
    """T09 manifest: one row per channel file (12 per patient), label = COPD grade 0–4.

    Returns
    -------
    DataFrame
        clip_id (file stem, e.g. ``H002_L1``), path, label, label_name (``COPD0``…), subject (patient),
        split, location (channel code ``L1``…``R6``), split_seed.
    """
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = read_recordings(folder)
    patients = df.drop_duplicates("patient")
    df["subject"] = df["patient"]
    try:
        mapping = split_patients(patients["patient"].tolist(), patients["grade"].tolist())
    except ValueError as exc:  # sklearn: too few patients per grade to stratify
        raise DatasetError(f"{folder / LABELS_CSV}: cannot make the stratified patient split ({exc}); the "
                           f"publisher's table lists {N_PATIENTS} patients with every grade at least 5 times, "
                           f"re-download it from {DATASET.url}") from None
    df = assign_splits(df, mapping)
    df["clip_id"] = df["stem"]
    df["path"] = df["path"].astype(str)
    df["label"] = df["grade"]
    df["label_name"] = df["diagnosis"]
    df["location"] = df["channel"]
    df["split_seed"] = SPLIT_SEED
    cols = ["clip_id", "path", "label", "label_name", "subject", "split", "location", "split_seed"]
    return df[cols].reset_index(drop=True)


def check(folder: Path) -> DataCheck:
    """Presence check: the label table and the 504 channel files."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    problems = []
    if not (folder / LABELS_CSV).is_file() and not (folder / LABELS_XLSX).is_file():
        problems.append(f"missing the label table {LABELS_CSV}")
    names = [p.name for p in audio_dir(folder).glob("*.wav")]
    found = sum(1 for n in names if _FILE.match(n))
    if found < len(names):
        problems.append(f"{len(names) - found} wav file name(s) not of the form H0xx_<L1..L6|R1..R6>.wav")
    return DataCheck(present=True, found=found, expected=N_RECORDINGS, problems=tuple(problems))


def recordings(folder: Path) -> pd.DataFrame:
    """One row per channel file: patient, COPD severity grade as the diagnosis, channel as the site."""
    df = read_recordings(Path(folder).resolve())
    side = df["channel"].str[0].map({"L": "left", "R": "right"})
    out = pd.DataFrame({
        "audio_path": df["path"].astype(str),
        "dataset": DATASET.id,
        "subject": df["patient"],
        "recording_id": df["stem"],
        "modality": "lung sounds",
        "site": side + " chest-wall channel " + df["channel"],
        "diagnosis": "COPD severity grade " + df["grade"].astype(str) + " of 0-4",
    })
    return out.reindex(columns=list(RECORDING_COLUMNS))
