"""Reading the sprsound dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.sprsound`, which imports none of this.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from acubench.datasets import dataset_folder
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import carve_val, check_vocabulary, log_dropped, read_table, require
from acubench.tasks.sprsound import DATASET, RELEASE, SUMMARY, VAL_FRACTION, VAL_SEED

log = logging.getLogger(__name__)

#: part -> (audio folder, annotation folder), under RELEASE
PARTS = {"train": ("train2022_wav", "train2022_json"),
         "inter_test": ("test2022_wav", "test2022_json/inter_test_json"),
         "intra_test": ("test2022_wav", "test2022_json/intra_test_json")}
N_RECORDINGS = 1949 + 355 + 379

RECORD_LABELS = {"Normal": 0, "CAS": 1, "DAS": 1, "CAS & DAS": 1, "Poor Quality": None}
RECORD_WORDS = {"Normal": "normal", "CAS": "continuous adventitious sounds",
                "DAS": "discontinuous adventitious sounds",
                "CAS & DAS": "continuous and discontinuous adventitious sounds",
                "Poor Quality": "poor-quality recording"}
EVENT_TYPES = ("Normal", "Rhonchi", "Wheeze", "Stridor", "Coarse Crackle", "Fine Crackle", "Wheeze+Crackle")
LOCATIONS = {"p1": "left posterior", "p2": "left lateral", "p3": "right posterior", "p4": "right lateral"}
SEXES = {"0": "male", "1": "female"}

_NAME = re.compile(r"^(?P<patient>\d+)_(?P<age>\d+(?:\.\d+)?)_(?P<sex>[01])_(?P<loc>p[1-4])_(?P<number>\d+)$")


def read_annotation(path: Path) -> tuple[str, list[dict]]:
    """(record-level label, events) of one JSON; events have start/end in seconds and a type."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        record = data.get("record_annotation", data.get("recording_annotation"))
        events = [{"start": float(e["start"]) / 1000, "end": float(e["end"]) / 1000, "type": str(e["type"])}
                  for e in data.get("event_annotation", [])]
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: not a SPRSound annotation ({type(exc).__name__}: {exc}); expected "
                           "{'record_annotation': ..., 'event_annotation': [{'start', 'end', 'type'}, ...]}. "
                           f"Re-download it from {DATASET.url}") from None
    check_vocabulary([record], RECORD_LABELS, path, "record_annotation", DATASET)
    check_vocabulary([e["type"] for e in events], EVENT_TYPES, path, "event type", DATASET)
    return str(record), events


def _part(release: Path, part: str) -> pd.DataFrame:
    audio_name, json_name = PARTS[part]
    audio_dir = require(release / audio_name, DATASET, f"audio folder {RELEASE}/{audio_name}/")
    json_dir = require(release / json_name, DATASET, f"annotation folder {RELEASE}/{json_name}/")
    rows = []
    for path in sorted(json_dir.glob("*.json")):
        match = _NAME.match(path.stem)
        if match is None:
            raise DatasetError(f"{path}: the name is not <patient>_<age>_<sex 0/1>_<p1-p4>_<number>.json; remove "
                               "files that are not part of SPRSound")
        record, events = read_annotation(path)
        rows.append({"recording_id": path.stem, "path": audio_dir / f"{path.stem}.wav", "part": part,
                     "record_annotation": record, "events": events, **match.groupdict()})
    if not rows:
        raise DatasetError(f"{json_dir}: no annotations found; clone {DATASET.url} into {release.parent}")
    df = pd.DataFrame(rows)
    absent = [p for p in df["path"] if not p.is_file()]
    if absent:
        raise DatasetError(f"{absent[0]}: {len(absent)} recording(s) annotated in {json_dir} have no audio "
                           f"(e.g. {[p.name for p in absent[:3]]}); restore {audio_dir} from {DATASET.url}")
    return df


def read_recordings(folder: Path) -> pd.DataFrame:
    """All BioCAS 2022 recordings, one row each, sorted by recording id.

    Returns
    -------
    DataFrame
        recording_id, path, part (train/inter_test/intra_test), record_annotation, events (list of dicts,
        seconds), patient, age (years, text), sex (0/1), loc (p1-p4), number.
    """
    release = require(folder / RELEASE, DATASET, f"challenge release {RELEASE}/")
    df = pd.concat([_part(release, p) for p in PARTS], ignore_index=True)
    dup = df["recording_id"][df["recording_id"].duplicated()]
    if len(dup):
        raise DatasetError(f"{release}: recording(s) {sorted(set(dup))[:3]} are annotated in more than one of "
                           f"{', '.join(j for _, j in PARTS.values())}; the challenge's sets are disjoint")
    annotated = {p.name for p in df["path"]}
    for audio_name in sorted({a for a, _ in PARTS.values()}):
        extra = sorted(p.name for p in (release / audio_name).glob("*.wav") if p.name not in annotated)
        if extra:
            raise DatasetError(f"{release / audio_name / extra[0]}: {len(extra)} recording(s) without an annotation "
                               f"(e.g. {extra[:3]}); restore the JSON folders from {DATASET.url}")
    return df.sort_values("recording_id").reset_index(drop=True)


def load(ctx: LoadContext) -> pd.DataFrame:
    """X05 manifest: one row per recording, label 1 = adventitious sounds (CAS, DAS or both).

    Returns
    -------
    DataFrame
        clip_id (file stem), path, label, label_name, subject (patient number), split, part,
        record_annotation, location, split_seed.
    """
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = read_recordings(folder)
    df["label"] = df["record_annotation"].map(RECORD_LABELS)
    drops = {"Poor Quality record": int(df["label"].isna().sum())}
    df = df[df["label"].notna()].copy()
    if ctx.protocol != "challenge":
        intra = df["part"] == "intra_test"
        drops["intra-patient test set (its patients are in training)"] = int(intra.sum())
        df = df[~intra]
    log_dropped("X05", drops)
    df["label"] = df["label"].astype(int)
    df["subject"] = df["patient"]
    df["split"] = df["part"].map({"train": "train", "inter_test": "test", "intra_test": "test"})
    df = carve_val(df.reset_index(drop=True), fraction=VAL_FRACTION, seed=VAL_SEED, by_subject=True)
    df["clip_id"] = df["recording_id"]
    df["path"] = df["path"].astype(str)
    df["label_name"] = df["label"].map({0: "normal", 1: "adventitious"})
    df["location"] = df["loc"].map(LOCATIONS)
    df["split_seed"] = VAL_SEED
    cols = ["clip_id", "path", "label", "label_name", "subject", "split", "part", "record_annotation", "location",
            "split_seed"]
    return df[cols]


def check(folder: Path) -> DataCheck:
    """Presence check: the 2683 BioCAS 2022 recordings (training and both test sets)."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    release = folder / RELEASE
    problems = [f"missing {RELEASE}/{d}/" for d in sorted({d for pair in PARTS.values() for d in pair})
                if not (release / d).is_dir()]
    found = sum(1 for d in sorted({a for a, _ in PARTS.values()}) for _ in (release / d).glob("*.wav"))
    return DataCheck(present=True, found=found, expected=N_RECORDINGS, problems=tuple(problems))


def _events_text(record: str, events: list[dict]) -> str:
    """``"continuous adventitious sounds; Wheeze in 3 of 5 respiratory events"``."""
    counts = Counter(e["type"] for e in events)
    found = [f"{t} in {n} of {len(events)} respiratory events" for t, n in sorted(counts.items()) if t != "Normal"]
    return "; ".join([RECORD_WORDS[record], *found])


def recordings(folder: Path) -> pd.DataFrame:
    """One row per BioCAS 2022 recording: age, sex, location, adventitious sounds, and the patient's
    disease where the patient summary is present."""
    folder = Path(folder).resolve()
    df = read_recordings(folder)
    diagnosis = pd.Series(pd.NA, index=df.index, dtype=object)
    if (folder / SUMMARY).is_file():
        summary = read_table(folder / SUMMARY, DATASET, what="patient summary", columns=["patient_num", "disease"],
                             dtype=str)
        diagnosis = df["patient"].map(dict(zip(summary["patient_num"].str.strip(), summary["disease"], strict=True)))
    out = pd.DataFrame({
        "audio_path": df["path"].astype(str),
        "dataset": DATASET.id,
        "subject": df["patient"],
        "recording_id": df["recording_id"],
        "modality": "lung sounds",
        "age": pd.to_numeric(df["age"]),
        "sex": df["sex"].map(SEXES),
        "device": "Yunting model II stethoscope",
        "site": df["loc"].map(LOCATIONS),
        "diagnosis": diagnosis,
        "adventitious": [_events_text(r, e) for r, e in zip(df["record_annotation"], df["events"], strict=True)],
    })
    return out.reindex(columns=list(RECORDING_COLUMNS))
