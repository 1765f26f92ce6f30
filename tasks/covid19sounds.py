"""COVID-19 Sounds (NeurIPS 2021 release, Task 1): COVID-19 from breathing (X01) and cough (X02).

OPERA tasks 3 and 4. Data on request (covid-19-sounds.org, data transfer
agreement). Publisher layout (``<data-root>/covid19-sounds/``, as OPERA
expects it): ``data_0426_en_task1.csv`` (``;``-separated; columns ``Uid``,
``Folder Name``, ``Cough filename``, ``Breath filename``, ``split`` — 0
train, 1 validation, 2 test — and ``label``, 1 = COVID-19 positive) and
``0426_EN_used_task1/<Uid>/<Folder Name>/<file>``, where users of the web form
(``Uid`` starting with "2020") sit under ``form-app-users/`` instead of their
Uid.

Split: the official participant-level Task 1 split (one row per participant
session; ``subject`` is the Uid). default: the whole training split.
reference: OPERA's ``task1_downsample(5)``, which keeps every fifth training
row (``train[::5]`` in table order) and all validation and test rows.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from acubench import hookimpl
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck, DatasetSpec, TaskSpec
from acubench.tasks._common import check_files, check_vocabulary, dataset_folder, read_table, require, require_audio

log = logging.getLogger(__name__)

TABLE = "data_0426_en_task1.csv"
AUDIO_DIR = "0426_EN_used_task1"
FORM_USERS = "form-app-users"
SPLITS = {"0": "train", "1": "val", "2": "test"}
LABELS = ("0", "1")
#: OPERA keeps every fifth training row (``task1_downsample(downsampling_factor=5)``).
REFERENCE_TRAIN_STEP = 5
COLUMNS = ("Uid", "Folder Name", "Cough filename", "Breath filename", "split", "label")

DATASET = DatasetSpec(
    id="covid19sounds",
    name="COVID-19 Sounds (Task 1, English, 2021-04-26 release)",
    folder="covid19-sounds",
    url="https://covid-19-sounds.org/blog/neurips_dataset/",
    license="custom data transfer agreement (research use, on request)",
    access="on request",
    layout=(f"{TABLE} (';'-separated Task 1 table) and {AUDIO_DIR}/<Uid>/<Folder Name>/<breath or cough file>, "
            f"web-form users (Uid starting with 2020) under {AUDIO_DIR}/{FORM_USERS}/<Folder Name>/"),
    citation=("Xia T, Spathis D, Ch J et al. COVID-19 Sounds: A Large-Scale Audio Dataset for Digital Respiratory "
              "Screening. NeurIPS Datasets and Benchmarks Track, 2021."),
    check="acubench.tasks.covid19sounds:check",
    recordings="acubench.tasks.covid19sounds:recordings",
)


def _task(task_id: str, modality: str, opera_task: int) -> TaskSpec:
    return TaskSpec(
        id=task_id,
        name=f"covid19sounds-{modality}-covid",
        dataset="covid19sounds",
        loader=f"acubench.tasks.covid19sounds:load_{modality}",
        kind="binary",
        modality=modality,
        target="COVID-19 test result (Task 1 label)",
        classes=("negative", "positive"),
        class_prompts=(
            f"A {modality} recording of a person who tested negative for COVID-19.",
            f"A {modality} recording of a person who tested positive for COVID-19.",
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocols=("default", "reference"),
        protocol_notes=(
            "Official participant-level Task 1 split (split column 0/1/2). default: the whole training split. "
            f"reference: OPERA's downsampling, every {REFERENCE_TRAIN_STEP}th training row in table order "
            "(train[::5]) plus all validation and test rows."
        ),
        suites=("extra", "opera"),
        opera_task=opera_task,
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 1e-5},
        description=f"COVID-19 detection from {modality} recordings of the COVID-19 Sounds app (Task 1).",
    )


TASKS = [_task("X01", "breath", 3), _task("X02", "cough", 4)]


@hookimpl
def acubench_datasets() -> list[DatasetSpec]:
    return [DATASET]


@hookimpl
def acubench_tasks() -> list[TaskSpec]:
    return list(TASKS)


def audio_path(audio_dir: Path, uid: str, folder: str, filename: str) -> Path:
    """Where a Task 1 file lies: web-form users (Uid "2020…") are filed under ``form-app-users``."""
    return audio_dir / (FORM_USERS if uid.startswith("2020") else uid) / folder / filename


def read_task1(folder: Path) -> pd.DataFrame:
    """The Task 1 table, validated, in file order, with ``breath_path`` and ``cough_path`` columns."""
    audio_dir = require(folder / AUDIO_DIR, DATASET, f"audio folder {AUDIO_DIR}/")
    path = folder / TABLE
    df = read_table(path, DATASET, what="Task 1 table", sep=";", dtype=str, columns=COLUMNS, nonempty=COLUMNS)
    df = df.apply(lambda col: col.str.strip())
    check_vocabulary(df["split"], SPLITS, path, "split", DATASET)
    check_vocabulary(df["label"], LABELS, path, "label", DATASET)
    for modality in ("breath", "cough"):
        df[f"{modality}_path"] = [audio_path(audio_dir, u, f, n) for u, f, n in
                                  zip(df["Uid"], df["Folder Name"], df[f"{modality.capitalize()} filename"])]
    return df


def _load(ctx: LoadContext, modality: str) -> pd.DataFrame:
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = read_task1(folder)
    require_audio(list(df[f"{modality}_path"]), DATASET,
                  fix=f"Unpack the Task 1 audio into {folder / AUDIO_DIR} as distributed")
    df["split"] = df["split"].map(SPLITS)
    if ctx.protocol == "reference":
        train = df.index[df["split"] == "train"]
        dropped = train.difference(train[::REFERENCE_TRAIN_STEP])
        log.info("%s: reference protocol keeps every %dth training row; %d dropped", modality,
                 REFERENCE_TRAIN_STEP, len(dropped))
        df = df.drop(index=dropped)
    out = pd.DataFrame({
        "clip_id": df["Uid"] + "/" + df["Folder Name"] + "/" + modality,
        "path": df[f"{modality}_path"].astype(str),
        "label": df["label"].astype(int),
        "subject": df["Uid"],
        "split": df["split"],
        "session": df["Folder Name"],
    })
    out["label_name"] = out["label"].map({0: "negative", 1: "positive"})
    out["split_seed"] = pd.NA  # the official split has no seed; the reference subsample is positional
    return out.reset_index(drop=True)


def load_breath(ctx: LoadContext) -> pd.DataFrame:
    """X01 manifest: one breathing recording per Task 1 row, label 1 = COVID-19 positive.

    Returns
    -------
    DataFrame
        clip_id (``<Uid>/<Folder Name>/breath``), path, label, subject (Uid), split, session, label_name, split_seed.
    """
    return _load(ctx, "breath")


def load_cough(ctx: LoadContext) -> pd.DataFrame:
    """X02 manifest: as :func:`load_breath` for the cough recording."""
    return _load(ctx, "cough")


def check(folder: Path) -> DataCheck:
    """Presence check: the breath and cough files the Task 1 table lists."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    try:
        df = read_task1(folder)
    except DatasetError as exc:
        return DataCheck(present=True, problems=(str(exc),))
    return check_files(folder, list(df["breath_path"]) + list(df["cough_path"]))


def recordings(folder: Path) -> pd.DataFrame:
    """One row per Task 1 breath and cough recording, with the COVID-19 test result as diagnosis."""
    df = read_task1(Path(folder).resolve())
    diagnosis = df["label"].map({"0": "COVID-19 negative", "1": "COVID-19 positive"})
    frames = [pd.DataFrame({
        "audio_path": df[f"{m}_path"].astype(str),
        "dataset": DATASET.id,
        "subject": df["Uid"],
        "recording_id": df["Uid"] + "/" + df["Folder Name"] + "/" + m,
        "modality": {"breath": "breathing", "cough": "cough"}[m],
        "device": "smartphone or computer microphone (COVID-19 Sounds app)",
        "diagnosis": diagnosis,
    }) for m in ("breath", "cough")]
    return pd.concat(frames, ignore_index=True).reindex(columns=list(RECORDING_COLUMNS))
