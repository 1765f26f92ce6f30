"""Reading the hflung dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.hflung`, which imports none of this.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from acubench.datasets import dataset_folder
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import carve_val, check_vocabulary, first_existing, require
from acubench.tasks.hflung import DATASET, VAL_FRACTION, VAL_SEED

log = logging.getLogger(__name__)
RELEASE_DIRS = ("HF_Lung_V1-master", "HF_Lung_V1")
SPLITS = ("train", "test")
N_RECORDINGS = {"train": 7809, "test": 1956}
EVENT_TYPES = {"I": "inhalation", "E": "exhalation", "D": "crackles", "Wheeze": "wheeze", "Stridor": "stridor",
               "Rhonchi": "rhonchi"}
CAS = ("Wheeze", "Stridor", "Rhonchi")
DEVICES = {"steth": "Littmann 3200 electronic stethoscope", "trunc": "HF-Type-1 multichannel lung sound recorder"}

_LINE = re.compile(r"^(?P<type>\S+)\s+(?P<start>\d+:\d+:\d+(?:\.\d+)?)\s+(?P<end>\d+:\d+:\d+(?:\.\d+)?)$")
_DATE = re.compile(r"^(?:steth_(?P<a>\d{8})_|trunc_(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})-)")


def read_events(path: Path) -> list[str]:
    """The event types of one ``<stem>_label.txt``, in file order; malformed lines raise."""
    types = []
    for k, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None:
            raise DatasetError(f"{path}: line {k} {line.strip()!r} is not '<type> <hh:mm:ss.fff> <hh:mm:ss.fff>'; "
                               f"re-download the annotations from {DATASET.url}")
        types.append(match["type"])
    check_vocabulary(types, EVENT_TYPES, path, "event type", DATASET)
    return types


def reference_label(types: list[str]) -> str:
    """OPERA's metadata label: the one continuous adventitious sound present, "Both" for several, "None" for none."""
    present = [t for t in CAS if t in types]
    return "Both" if len(present) > 1 else (present[0] if present else "None")


def recording_date(stem: str) -> str:
    """``YYYYMMDD`` of a recording from its name (the stem itself when the name carries no date)."""
    match = _DATE.match(stem)
    if match is None:
        return stem
    return match["a"] or f"{match['y']}{match['m']}{match['d']}"


def read_recordings(folder: Path) -> pd.DataFrame:
    """One row per recording of both official folders, sorted by split then stem.

    Returns
    -------
    DataFrame
        recording_id (stem), path, split (train/test), events (list of event types), reference_label,
        date (YYYYMMDD), device.
    """
    release = first_existing(folder, RELEASE_DIRS, DATASET, "HF_Lung_V1 release folder")
    rows = []
    for split in SPLITS:
        split_dir = require(release / split, DATASET, f"{split} folder {release.name}/{split}/")
        labels = sorted(split_dir.glob("*_label.txt"))
        stems = {p.name[:-len("_label.txt")] for p in labels}
        wavs = {p.stem for p in split_dir.glob("*.wav")}
        for missing, what, fix in ((sorted(stems - wavs), "annotation(s) without a recording", ".wav"),
                                   (sorted(wavs - stems), "recording(s) without an annotation", "_label.txt")):
            if missing:
                raise DatasetError(f"{split_dir / (missing[0] + fix)}: missing; {len(missing)} {what} in "
                                   f"{split_dir} (e.g. {missing[:3]}). Re-download the release from {DATASET.url}")
        for path in labels:
            stem = path.name[:-len("_label.txt")]
            events = read_events(path)
            rows.append({"recording_id": stem, "path": split_dir / f"{stem}.wav", "split": split, "events": events,
                         "reference_label": reference_label(events), "date": recording_date(stem),
                         "device": DEVICES.get(stem.split("_")[0])})
    if not rows:
        raise DatasetError(f"{release}: no recordings in train/ or test/; download the release from {DATASET.url}")
    return pd.DataFrame(rows)


def load(ctx: LoadContext) -> pd.DataFrame:
    """X06 manifest: one row per recording, label 1 = wheeze, stridor or rhonchi annotated.

    Returns
    -------
    DataFrame
        clip_id (stem), path, label, label_name, subject (= clip_id), split, reference_label (OPERA's
        None/Wheeze/Stridor/Rhonchi/Both), crackles (bool), date, split_seed.
    """
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = read_recordings(folder)
    df["label"] = (df["reference_label"] != "None").astype(int)
    df["crackles"] = df["events"].map(lambda types: "D" in types)
    # carve validation by recording date: one session's recordings stay together
    df["subject"] = df["date"]
    df = carve_val(df, fraction=VAL_FRACTION, seed=VAL_SEED, by_subject=True)
    df["clip_id"] = df["recording_id"]
    df["subject"] = df["recording_id"]
    df["path"] = df["path"].astype(str)
    df["label_name"] = df["label"].map({0: "none", 1: "CAS"})
    df["split_seed"] = VAL_SEED
    cols = ["clip_id", "path", "label", "label_name", "subject", "split", "reference_label", "crackles", "date",
            "split_seed"]
    return df[cols].reset_index(drop=True)


def check(folder: Path) -> DataCheck:
    """Presence check: the 9765 recordings of train/ and test/."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    release = next((folder / d for d in RELEASE_DIRS if (folder / d).is_dir()), None)
    if release is None:
        return DataCheck(present=True, expected=sum(N_RECORDINGS.values()),
                         problems=(f"missing the release folder {RELEASE_DIRS[0]}/",))
    problems = [f"missing {release.name}/{s}/" for s in SPLITS if not (release / s).is_dir()]
    found = sum(1 for s in SPLITS for _ in (release / s).glob("*.wav"))
    return DataCheck(present=True, found=found, expected=sum(N_RECORDINGS.values()), problems=tuple(problems))


def _adventitious(types: list[str]) -> str:
    """``"crackles in 2 and wheeze in 1 annotated events"`` or ``"none"``."""
    counts = Counter(t for t in types if t not in ("I", "E"))
    if not counts:
        return "none"
    parts = [f"{EVENT_TYPES[t]} in {n}" for t, n in sorted(counts.items(), key=lambda kv: EVENT_TYPES[kv[0]])]
    return (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]) + " annotated events"


def recordings(folder: Path) -> pd.DataFrame:
    """One row per HF_Lung_V1 recording: device and the adventitious sounds annotated in it."""
    df = read_recordings(Path(folder).resolve())
    out = pd.DataFrame({
        "audio_path": df["path"].astype(str),
        "dataset": DATASET.id,
        "subject": df["recording_id"],
        "recording_id": df["recording_id"],
        "modality": "lung sounds",
        "device": df["device"],
        "adventitious": df["events"].map(_adventitious),
    })
    return out.reindex(columns=list(RECORDING_COLUMNS))
