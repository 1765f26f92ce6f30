"""Reading the nosemic dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.nosemic`, which imports none of this.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from acubench.datasets import dataset_folder
from acubench.manifest import POOL, RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import first_existing
from acubench.tasks.nosemic import AUDIO_DIR, DATASET, REFERENCE_UIDS

log = logging.getLogger(__name__)


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


def load(ctx: LoadContext) -> pd.DataFrame:
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
