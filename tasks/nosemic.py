"""NoseMic: respiratory rate from nasal breathing sounds (T16, OPERA task 19).

Publisher layout (``<data-root>/nosemic/``, the Google Drive folder linked
from OPERA's ``datasets/nosemic/README.md``): the ``audio/`` folder with one
recording per file, named ``<uid>_<x>_<y>_<rate>.wav``, where ``uid`` is the
participant, ``x`` and ``y`` identify the recording within the participant's
session (kept verbatim in ``recording``) and ``rate`` is the reference
respiratory rate (breaths per minute, a decimal number) — the regression
target. No metadata table.

Protocol: leave-one-subject-out over participants (manifest split ``pool``).
OPERA folds over the 16 uids 4–14 and 17–21; every one of them must be
present. A uid outside that list is a training-only subject, as in OPERA
(manifest split ``train``: never a test fold; the loader logs it).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from pathlib import Path

import pandas as pd

from acubench import hookimpl
from acubench.manifest import POOL, RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import ClipPolicy, DataCheck, DatasetSpec, TaskSpec
from acubench.tasks._common import dataset_folder, first_existing

log = logging.getLogger(__name__)

AUDIO_DIR = "audio"
#: The participants OPERA's linear evaluation leaves out one at a time (``linear_eval.py``).
REFERENCE_UIDS = ("4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "17", "18", "19", "20", "21")
#: OPERA's validation carve-out inside each fold: a random 20 % of the training rows, seed 42.
REFERENCE_VAL_FRACTION, REFERENCE_VAL_SEED = 0.2, 42

DATASET = DatasetSpec(
    id="nosemic",
    name="NoseMic nasal breathing sounds",
    folder="nosemic",
    url="https://drive.google.com/drive/folders/1uVcfw8Us3IwUYRGLxJyp6lOLmaXlJmcT",
    license="custom licence, (c) 2024 University of Cambridge, all rights reserved (see the download)",
    access="public",
    layout=f"the folder {AUDIO_DIR}/ with the recordings <uid>_<x>_<y>_<respiratory rate>.wav",
    citation=("Distributed with: Zhang Y, Xia T, Han J, Wu Y, Rizos G, Liu Y, Mosuily M, Chauhan J, Mascolo C. "
              "Towards Open Respiratory Acoustic Foundation Models: Pretraining and Benchmarking. NeurIPS 2024 "
              "Datasets and Benchmarks Track (OPERA)."),
    check="acubench.tasks.nosemic:check",
    recordings="acubench.tasks.nosemic:recordings",
)

#: OPERA's per-encoder inputs for NoseMic: CE the whole clip repeat-padded to >= 1 s (clip_seconds),
#: CT repeat-padded to >= 30 s, GT 8 s windows with 50 % overlap, the tail padded.
_CLIPS = {
    "opera-ct": ClipPolicy(min_seconds=30.0, pad="repeat"),
    "opera-gt": ClipPolicy(pad="repeat", window_seconds=8.0, last_window="pad"),
}

TASKS = [
    TaskSpec(
        id="T16",
        name="nosemic-respiratory-rate",
        dataset="nosemic",
        loader="acubench.tasks.nosemic:load_rate",
        kind="regression",
        modality="nasal breathing",
        target="respiratory rate (breaths per minute)",
        protocol="loso",
        clip_seconds=1.0,
        clip_overrides=dict(_CLIPS),
        protocol_notes=(
            "Leave-one-subject-out over the participants (uid = first file-name field); OPERA's folds are the 16 "
            f"uids {', '.join(REFERENCE_UIDS)}, all required. Validation inside a fold: OPERA takes a random "
            f"{REFERENCE_VAL_FRACTION:.0%} of the training rows (sklearn train_test_split, random_state="
            f"{REFERENCE_VAL_SEED}), so a participant's rows straddle train and validation; the default here carves "
            f"{REFERENCE_VAL_FRACTION:.0%} of the training participants (probe option val_split=rows gives the "
            "reference's row-level carve-out with acubench's seeds). OPERA-CE: whole clip, repeat-padded to 1 s; "
            "OPERA-CT: repeat-padded to 30 s; OPERA-GT: 8 s windows, 50 % overlap. Score: mean MAE over folds."
        ),
        suites=("acula18", "opera"),
        opera_task=19,
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 0.1, "val_fraction": REFERENCE_VAL_FRACTION},
        description="Respiratory rate estimation from nasal breathing sounds, leave-one-subject-out.",
    ),
]


@hookimpl
def acubench_datasets() -> list[DatasetSpec]:
    return [DATASET]


@hookimpl
def acubench_tasks() -> list[TaskSpec]:
    return list(TASKS)


def _parse(name: str) -> dict[str, object] | None:
    """``<uid>_<x>_<y>_<rate>.wav`` → fields, or ``None`` if the name does not fit."""
    path = Path(name)
    if path.suffix.lower() != ".wav":
        return None
    parts = path.stem.split("_")
    if len(parts) != 4 or not all(parts):
        return None
    uid, x, y, rate = parts
    try:
        value = float(rate)
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return {"uid": uid, "recording": f"{x}_{y}", "rate": value}


def read_files(folder: Path) -> pd.DataFrame:
    """One row per recording in ``audio/``, sorted by file name (OPERA's ``sorted(os.listdir)``).

    Every visible file must be a ``<uid>_<x>_<y>_<rate>.wav`` recording (the
    reference reads every file of the folder), and each of OPERA's 16 uids
    must have at least one.

    Returns
    -------
    DataFrame
        path, stem, uid, recording (``<x>_<y>``), rate (breaths/min, float).
    """
    audio = first_existing(folder, (AUDIO_DIR,), DATASET, "audio folder")
    files = sorted((p for p in audio.iterdir() if p.is_file() and not p.name.startswith(".")), key=lambda p: p.name)
    rows, odd = [], []
    for path in files:
        fields = _parse(path.name)
        if fields is None:
            odd.append(path.name)
        else:
            rows.append({"path": path, "stem": path.stem, **fields})
    if odd:
        raise DatasetError(f"{audio / odd[0]}: {len(odd)} file(s) are not recordings named "
                           f"<uid>_<x>_<y>_<respiratory rate>.wav with a positive rate (e.g. {odd[:3]}); remove "
                           "files that are not part of the NoseMic download")
    if not rows:
        raise DatasetError(f"{audio}: no NoseMic recordings found. Download the audio folder from {DATASET.url} "
                           f"into {folder}")
    df = pd.DataFrame(rows)
    absent = [u for u in REFERENCE_UIDS if u not in set(df["uid"])]
    if absent:
        raise DatasetError(f"{audio}: no recordings of participant(s) {absent} (files {absent[0]}_*_*_*.wav); the "
                           f"NoseMic download has all of {list(REFERENCE_UIDS)}. Re-download the complete audio "
                           f"folder from {DATASET.url}")
    return df


def load_rate(ctx: LoadContext) -> pd.DataFrame:
    """T16 manifest: one row per recording, label = respiratory rate (breaths/min), split ``pool``.

    Returns
    -------
    DataFrame
        clip_id (file stem), path, label (float), subject (uid), split (``pool``), recording (``<x>_<y>``).
    """
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = read_files(folder)
    extra = sorted(set(df["uid"]) - set(REFERENCE_UIDS), key=lambda u: (len(u), u))
    if extra:
        log.info("T16: participant(s) %s are not among OPERA's 16 LOSO folds: training-only, as in OPERA", extra)
    df["clip_id"] = df["stem"]
    df["path"] = df["path"].astype(str)
    df["label"] = df["rate"]
    df["subject"] = df["uid"]
    # Outside the reference's 16 folds a participant only ever trains, as in OPERA.
    df["split"] = np.where(df["uid"].isin(REFERENCE_UIDS), POOL, "train")
    cols = ["clip_id", "path", "label", "subject", "split", "recording"]
    return df[cols].reset_index(drop=True)


def check(folder: Path) -> DataCheck:
    """Presence check: the audio folder, recognisable file names, and OPERA's 16 participants."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    audio = folder / AUDIO_DIR
    if not audio.is_dir():
        return DataCheck(present=True, problems=(f"missing the audio folder '{AUDIO_DIR}/'",))
    names = [p.name for p in audio.iterdir() if p.is_file() and not p.name.startswith(".")]
    parsed = [f for f in map(_parse, names) if f is not None]
    problems = []
    if len(parsed) < len(names):
        problems.append(f"{len(names) - len(parsed)} file name(s) not of the form <uid>_<x>_<y>_<rate>.wav")
    absent = sorted(set(REFERENCE_UIDS) - {f["uid"] for f in parsed}, key=int)
    if absent:
        problems.append(f"no recordings of participant(s) {absent}")
    return DataCheck(present=True, found=len(parsed), expected=None, problems=tuple(problems))


def recordings(folder: Path) -> pd.DataFrame:
    """One row per recording with its respiratory rate (breaths/min)."""
    df = read_files(Path(folder).resolve())
    out = pd.DataFrame({
        "audio_path": df["path"].astype(str),
        "dataset": DATASET.id,
        "subject": df["uid"],
        "recording_id": df["stem"],
        "modality": "nasal breathing",
        "respiratory_rate": df["rate"],
    })
    return out.reindex(columns=list(RECORDING_COLUMNS))
