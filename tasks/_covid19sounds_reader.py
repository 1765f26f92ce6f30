"""Reading the covid19sounds dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.covid19sounds`, which imports none of this.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from acubench.datasets import dataset_folder, refuse_escaping
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import check_files, check_vocabulary, read_table, require, require_audio
from acubench.tasks.covid19sounds import AUDIO_DIR, DATASET, FORM_USERS, REFERENCE_TRAIN_STEP, TABLE

log = logging.getLogger(__name__)

SPLITS = {"0": "train", "1": "val", "2": "test"}
LABELS = ("0", "1")

COLUMNS = ("Uid", "Folder Name", "Cough filename", "Breath filename", "split", "label")


def audio_name(uid: str, folder: str, filename: str) -> str:
    """Where a Task 1 file lies under the audio folder: web-form users (Uid "2020…") are filed under
    ``form-app-users``."""
    return f"{FORM_USERS if uid.startswith('2020') else uid}/{folder}/{filename}"


def read_task1(folder: Path) -> pd.DataFrame:
    """The Task 1 table, validated, in file order, with ``breath_path`` and ``cough_path`` columns."""
    audio_dir = require(folder / AUDIO_DIR, DATASET, f"audio folder {AUDIO_DIR}/")
    path = folder / TABLE
    df = read_table(path, DATASET, what="Task 1 table", sep=";", dtype=str, columns=COLUMNS, nonempty=COLUMNS)
    df = df.apply(lambda col: col.str.strip())
    check_vocabulary(df["split"], SPLITS, path, "split", DATASET)
    check_vocabulary(df["label"], LABELS, path, "label", DATASET)
    for column in ("Uid", "Folder Name", "Cough filename", "Breath filename"):  # each is a part of the path
        refuse_escaping(df[column], folder=audio_dir, metadata=path, spec=DATASET, column=column)
    for modality in ("breath", "cough"):
        df[f"{modality}_path"] = [audio_dir / audio_name(u, f, n) for u, f, n in
                                  zip(df["Uid"], df["Folder Name"], df[f"{modality.capitalize()} filename"],
                                      strict=True)]
    return df


def _recording_ids(df: pd.DataFrame, modality: str) -> pd.Series:
    """``<Uid>/<Folder Name>/<file stem>``: the publisher's table has 25 rows whose app session shares its
    folder with another session's files (same Uid and Folder Name, other file names), so the file is part
    of the id."""
    stems = df[f"{modality.capitalize()} filename"].str.rsplit(".", n=1).str[0]
    return df["Uid"] + "/" + df["Folder Name"] + "/" + stems


def load(ctx: LoadContext) -> pd.DataFrame:
    """A COVID-19 Sounds Task 1 manifest: the ``loader_args["sound"]`` recording (X01 ``breath``, X02
    ``cough``) of every Task 1 row, label 1 = COVID-19 positive.

    Returns
    -------
    DataFrame
        clip_id (``<Uid>/<Folder Name>/<file stem>``), path, label, subject (Uid), split, session, label_name,
        split_seed.
    """
    modality = ctx.task.loader_args["sound"]
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = read_task1(folder)
    require_audio(list(df[f"{modality}_path"]), DATASET,
                  fix=f"Unpack the Task 1 audio into {folder / AUDIO_DIR} as distributed")
    df["split"] = df["split"].map(SPLITS)
    if ctx.protocol != "reference":
        # The published split is by participant except for those whose test result changed between sessions:
        # their sessions sit in two splits. All of such a participant's sessions go to test.
        splits = df.groupby("Uid")["split"].nunique()
        straddling = splits.index[splits > 1]
        if len(straddling):
            moved = df["Uid"].isin(straddling)
            log.info("%s: %d participant(s) have sessions in two official splits; their %d session(s) all go to "
                     "test", modality, len(straddling), int(moved.sum()))
            df.loc[moved, "split"] = "test"
    if ctx.protocol == "reference":
        train = df.index[df["split"] == "train"]
        dropped = train.difference(train[::REFERENCE_TRAIN_STEP])
        log.info("%s: reference protocol keeps every %dth training row; %d dropped", modality,
                 REFERENCE_TRAIN_STEP, len(dropped))
        df = df.drop(index=dropped)
    out = pd.DataFrame({
        "clip_id": _recording_ids(df, modality),
        "path": df[f"{modality}_path"].astype(str),
        "label": df["label"].astype(int),
        "subject": df["Uid"],
        "split": df["split"],
        "session": df["Folder Name"],
    })
    out["label_name"] = out["label"].map({0: "negative", 1: "positive"})
    out["split_seed"] = pd.NA  # the official split has no seed; the reference subsample is positional
    return out.reset_index(drop=True)


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
        "recording_id": _recording_ids(df, m),
        "modality": {"breath": "breathing", "cough": "cough"}[m],
        "device": "smartphone or computer microphone (COVID-19 Sounds app)",
        "diagnosis": diagnosis,
    }) for m in ("breath", "cough")]
    return pd.concat(frames, ignore_index=True).reindex(columns=list(RECORDING_COLUMNS))
