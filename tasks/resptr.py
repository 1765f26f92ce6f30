"""RespiratoryDatabase@TR: COPD severity 0–4 from 12-channel lung sounds (T09, OPERA task 11).

Publisher layout (``<data-root>/RespiratoryDatabase@TR/``, Mendeley Data
p9z4h98s6j v1): the 504 lung-sound files ``H0xx_<channel>.wav``, 42 patients ×
12 auscultation channels ``L1``–``L6`` (left) and ``R1``–``R6`` (right), one
mono file per channel; they may sit directly in the folder or in the
``RespiratoryDatabase@TR/`` folder the archive unzips to. Next to them the
label table ``Labels.csv`` (header ``Patient ID,Diagnosis,`` with a UTF-8 BOM
and a trailing empty column, rows such as ``H002,COPD4,``; the OPERA repository
ships it as ``datasets/copd/Labels.csv`` next to ``Labels.xlsx``, sheet
"Sayfa1", with the same data). ``Labels.xlsx`` alone is read when the optional
``openpyxl`` package is installed.

Labels: ``COPD<k>`` → class ``k`` (0–4), the patient's COPD severity grade,
given to each of the patient's 12 channel files.

Split: OPERA's patient-level recipe, which is subject-independent and so is
the default protocol as it stands. Patients in ``Labels.csv`` order,
``train_test_split(test_size=0.2, random_state=1337, stratify=grade)``, then
the same call (0.2, seed 1337, stratified) on the remainder for validation:
26/7/9 patients, 312/84/108 files on the full data.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import pandas as pd

from acubench import hookimpl
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck, DatasetSpec, TaskSpec
from acubench.tasks._common import (assign_splits, check_vocabulary, dataset_folder, group_split, read_table,
                                    reject_unexpected, require_audio)

log = logging.getLogger(__name__)

AUDIO_SUBDIR = "RespiratoryDatabase@TR"
LABELS_CSV = "Labels.csv"
LABELS_XLSX = "Labels.xlsx"
PATIENT_COLUMN, DIAGNOSIS_COLUMN = "Patient ID", "Diagnosis"
GRADES = tuple(f"COPD{k}" for k in range(5))
CHANNELS = tuple(f"{side}{i}" for side in "LR" for i in range(1, 7))
N_PATIENTS = 42
N_RECORDINGS = N_PATIENTS * len(CHANNELS)
_PATIENT = re.compile(r"^H\d{3}$")
_FILE = re.compile(r"^(?P<patient>H\d{3})_(?P<channel>[LR][1-6])\.wav$")

#: OPERA's two-stage patient split: test fraction of all patients, validation fraction of the rest, seed.
TEST_FRACTION, VAL_FRACTION, SPLIT_SEED = 0.2, 0.2, 1337

DATASET = DatasetSpec(
    id="resptr",
    name="RespiratoryDatabase@TR",
    folder="RespiratoryDatabase@TR",
    url="https://data.mendeley.com/datasets/p9z4h98s6j/1",
    license="CC BY 4.0",
    access="public",
    layout=(f"the 504 lung-sound files H0xx_<L1..L6|R1..R6>.wav (42 patients x 12 channels), directly in the "
            f"folder or in its {AUDIO_SUBDIR}/ subfolder, and the label table {LABELS_CSV} (columns "
            f"'{PATIENT_COLUMN}', '{DIAGNOSIS_COLUMN}' with COPD0..COPD4, as in OPERA's datasets/copd/), or "
            f"{LABELS_XLSX} with the same columns when openpyxl is installed"),
    citation=("Altan G, Kutlu Y, Garbi Y, Pekmezci AO, Nural S. Multimedia Respiratory Database "
              "(RespiratoryDatabase@TR): Auscultation Sounds and Chest X-rays. Natural and Engineering Sciences "
              "2(3):59-72, 2017."),
    check="acubench.tasks.resptr:check",
    recordings="acubench.tasks.resptr:recordings",
)

TASKS = [
    TaskSpec(
        id="T09",
        name="resptr-copd-severity",
        dataset="resptr",
        loader="acubench.tasks.resptr:load_severity",
        kind="multiclass",
        modality="lung sounds",
        target="COPD severity grade 0-4 (patient diagnosis, per auscultation channel)",
        classes=GRADES,
        class_prompts=(
            "Lung sounds of a person at COPD severity grade 0, without airflow limitation.",
            "Lung sounds of a patient with mild COPD (severity grade 1).",
            "Lung sounds of a patient with moderate COPD (severity grade 2).",
            "Lung sounds of a patient with severe COPD (severity grade 3), with diminished breath sounds or wheezes.",
            "Lung sounds of a patient with very severe COPD (severity grade 4), with markedly diminished breath "
            "sounds, wheezes or crackles.",
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocol_notes=(
            "OPERA's patient-level split, reproduced exactly: patients in Labels.csv order, sklearn "
            f"train_test_split(test_size={TEST_FRACTION}, random_state={SPLIT_SEED}, stratified by grade), then "
            f"{VAL_FRACTION} of the rest as validation (same seed, stratified): 26/7/9 patients, all 12 channel "
            "files of a patient in one split. Each channel file is a clip; macro one-vs-rest AUROC over 5 grades."
        ),
        expected_counts={"train": 312, "val": 84, "test": 108},
        suites=("acula18", "opera"),
        opera_task=11,
        probe_options={"epochs": 64, "batch_size": 32, "l2_strength": 1e-5},
        description="COPD severity (grades 0-4) from 12-channel chest-wall lung sounds of 42 patients.",
    ),
]


@hookimpl
def acubench_datasets() -> list[DatasetSpec]:
    return [DATASET]


@hookimpl
def acubench_tasks() -> list[TaskSpec]:
    return list(TASKS)


def audio_dir(folder: Path) -> Path:
    """Where the wav files lie: the archive's ``RespiratoryDatabase@TR/`` subfolder if present, else ``folder``."""
    nested = folder / AUDIO_SUBDIR
    return nested if nested.is_dir() else folder


def _read_xlsx(path: Path) -> pd.DataFrame:
    # pandas reads .xlsx through openpyxl, an optional package
    if importlib.util.find_spec("openpyxl") is None:
        raise DatasetError(f"{path}: found {LABELS_XLSX} but no {LABELS_CSV}; reading .xlsx needs the optional "
                           f"package openpyxl. Either `pip install openpyxl`, or save the sheet as CSV "
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
    grade = dict(zip(patients, grades))
    train, val = group_split(rest, [grade[p] for p in rest], test_size=VAL_FRACTION, seed=SPLIT_SEED)
    return {**dict.fromkeys(train, "train"), **dict.fromkeys(val, "val"), **dict.fromkeys(test, "test")}


def load_severity(ctx: LoadContext) -> pd.DataFrame:
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
