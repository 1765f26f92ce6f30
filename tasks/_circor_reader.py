"""Reading the circor dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.circor`, which imports none of this.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from acubench.datasets import dataset_folder, member_paths
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, TaskOptionError
from acubench.specs import DataCheck
from acubench.tasks._common import (
    assign_splits,
    check_vocabulary,
    group_split,
    log_dropped,
    read_table,
    reject_unexpected,
    require,
    require_audio,
)
from acubench.tasks.circor import DATASET, SPLIT_SEED, TEST_FRACTION, VAL_OF_ALL

log = logging.getLogger(__name__)
#: (split, folder, patient table) of the Challenge's three sets; only the first is public.
PARTS = (("train", "training_data", "training_data.csv"),
         ("val", "validation_data", "validation_data.csv"),
         ("test", "test_data", "test_data.csv"))
N_PATIENTS, N_RECORDINGS = 942, 3163
LOCATIONS = {"AV": "aortic valve", "PV": "pulmonary valve", "TV": "tricuspid valve", "MV": "mitral valve",
             "Phc": "other auscultation point"}
MURMURS = ("Present", "Absent", "Unknown")
OUTCOMES = ("Abnormal", "Normal")
SEXES = {"Female": "female", "Male": "male"}
DEVICE = "Littmann 3200 electronic stethoscope"
MURMUR_ATTRIBUTES = ("timing", "shape", "grading", "pitch", "quality")
#: The ``#Key:`` lines of a v1.0.3 patient file; Murmur and Outcome must be there, the others may be absent.
METADATA_KEYS = ("Age", "Sex", "Height", "Weight", "Pregnancy status", "Murmur", "Murmur locations",
                 "Most audible location",
                 *(f"{phase} murmur {attr}" for phase in ("Systolic", "Diastolic") for attr in MURMUR_ATTRIBUTES),
                 "Outcome", "Campaign", "Additional ID")

SPLIT_MODES = ("auto", "official", "seeded")
_RECORDING = re.compile(r"^(?P<pid>\d+)_(?P<loc>" + "|".join(LOCATIONS) + r")(?:_(?P<k>\d+))?\.wav$")


def _value(text: str) -> str | None:
    """A metadata value, ``None`` for the publisher's ``nan``."""
    text = text.strip()
    return None if text.lower() in ("", "nan") else text


def read_patient(path: Path) -> dict[str, object]:
    """Parse one ``<pid>.txt``.

    Returns
    -------
    dict
        ``subject`` (patient id), ``sample_rate`` (Hz), ``recordings`` (list of
        (location code, wav file name)), and every ``#Key: value`` under its
        key, ``None`` where the publisher wrote ``nan``.
    """
    def bad(what: str) -> DatasetError:
        return DatasetError(f"{path}: {what}. A CirCor patient file starts with '<pid> <n> <Hz>', then n lines "
                            f"'<loc> <hea> <wav> <tsv>' and '#Key: value' lines; re-download it from {DATASET.url}")

    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    except UnicodeDecodeError:
        raise bad("not a text file") from None
    head = lines[0].split() if lines else []
    if len(head) != 3 or not all(p.isdigit() for p in head):
        raise bad(f"first line {lines[0] if lines else ''!r} is not '<pid> <n> <Hz>'")
    if head[0] != path.stem:
        raise bad(f"declares patient {head[0]} but is named {path.name}")
    n = int(head[1])
    recordings = []
    for line in lines[1:1 + n]:
        parts = line.split()
        match = _RECORDING.match(parts[2]) if len(parts) >= 3 else None
        if match is None or parts[0] != match["loc"] or match["pid"] != head[0]:
            raise bad(f"recording line {line!r} is not '<loc> <pid>_<loc>.hea <pid>_<loc>.wav <pid>_<loc>.tsv' "
                      f"with a location in {sorted(LOCATIONS)}")
        recordings.append((parts[0], parts[2]))
    meta: dict[str, object] = {}
    for line in lines[1 + len(recordings):]:
        key, sep, value = line[1:].partition(":")
        if not line.startswith("#") or not sep:
            raise bad(f"line {line!r} is neither a recording line (the header declares {n}) nor '#Key: value'")
        meta[key.strip()] = _value(value)
    for key, known in (("Murmur", MURMURS), ("Outcome", OUTCOMES)):
        if key not in meta:
            raise bad(f"no '#{key}:' line (PhysioNet v1.0.3 has one in every patient file)")
        check_vocabulary([meta[key]], known, path, f"#{key}", DATASET)
    return {"subject": head[0], "sample_rate": int(head[2]), "recordings": recordings, **meta}


def _part_table(folder: Path, split: str, audio_name: str, table_name: str) -> pd.DataFrame:
    """One row per recording of one Challenge set, validated against its patient table."""
    audio_dir = require(folder / audio_name, DATASET, f"audio folder {audio_name}/")
    table_path = folder / table_name
    table = read_table(table_path, DATASET, what="patient table", columns=["Patient ID"], nonempty=["Patient ID"],
                       dtype=str)
    ids = table["Patient ID"].str.strip()
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise DatasetError(f"{table_path}: patient(s) listed twice: {dup[:5]}; re-download it from {DATASET.url}")
    patient_files = member_paths(audio_dir, [f"{pid}.txt" for pid in ids], metadata=table_path, spec=DATASET,
                                 column="Patient ID")
    stray = sorted(p.name for p in audio_dir.glob("*.txt") if p.stem not in set(ids))
    if stray:
        raise DatasetError(f"{audio_dir / stray[0]}: {len(stray)} patient file(s) in {audio_dir} are not in "
                           f"{table_name} (e.g. {stray[:3]}); restore the publisher's {table_name} or remove them")
    rows = []
    for patient_file in patient_files:
        patient = read_patient(require(patient_file, DATASET, f"patient file {patient_file.name}"))
        recordings = patient.pop("recordings")
        for location, wav in recordings:  # type: ignore[attr-defined]
            rows.append({"recording_id": Path(wav).stem, "path": audio_dir / wav, "location": location,
                         "part": split, **dict.fromkeys(METADATA_KEYS), **patient})
    if not rows:
        raise DatasetError(f"{table_path}: lists no patients; re-download the dataset from {DATASET.url}")
    df = pd.DataFrame(rows)
    require_audio(list(df["path"]), DATASET, fix=f"Unzip the PhysioNet release from {DATASET.url} into {folder}")
    reject_unexpected(audio_dir.glob("*.wav"), set(df["path"].map(lambda p: p.name)), DATASET, audio_dir)
    return df


def _official_parts(folder: Path) -> bool:
    """Whether the Challenge's validation and test sets are there (one without the other is an error)."""
    present = [(folder / audio).exists() or (folder / table).exists() for _, audio, table in PARTS[1:]]
    if any(present) and not all(present):
        (have, _, _), (_, audio, table) = PARTS[1:] if present[0] else PARTS[:0:-1]
        raise DatasetError(f"{folder / audio}: the Challenge's {have} set is present but not {audio}/ and {table}; "
                           f"add both, or remove the {have} set to use the seeded split of the public training set")
    return all(present)


def read_recordings(folder: Path, *, official: bool) -> pd.DataFrame:
    """All recordings of the training set (and of the validation and test sets when ``official``).

    Returns
    -------
    DataFrame
        recording_id, path, location, part (train/val/test), subject, sample_rate and one column per
        metadata key of the patient files (``Murmur``, ``Outcome``, ``Age`` …), sorted by recording id.
    """
    parts = PARTS if official else PARTS[:1]
    df = pd.concat([_part_table(folder, *p) for p in parts], ignore_index=True)
    both = df.groupby("subject")["part"].nunique()
    if (both > 1).any():
        shared = sorted(both[both > 1].index)
        raise DatasetError(f"{folder}: patient(s) {shared[:5]} appear in more than one of "
                           f"{', '.join(t for _, _, t in parts)}; the Challenge's sets are disjoint, so a file is "
                           "misplaced")
    df["patient"] = df["subject"]
    df["subject"] = df["patient"].map(_linked_subjects(df))
    return df.sort_values("recording_id").reset_index(drop=True)


def _linked_subjects(df: pd.DataFrame) -> dict[str, str]:
    """Patient id → subject: a child screened in both campaigns (CC2014, CC2015) has two patient ids,
    each file naming the other as ``#Additional ID``; both become one subject (the smaller id), so that
    no split separates a child from itself. An Additional ID that is not among the patients read changes
    nothing."""
    patients = set(df["patient"])
    parent = {p: p for p in patients}

    def root(p: str) -> str:
        while parent[p] != p:
            p = parent[p]
        return p

    pairs = df[["patient", "Additional ID"]].dropna().drop_duplicates()
    for pid, other in zip(pairs["patient"], pairs["Additional ID"].astype(str).str.strip(), strict=True):
        if other in patients:
            a, b = sorted((root(pid), root(other)), key=lambda x: (len(x), x))
            parent[b] = a
    linked = {p: root(p) for p in patients}
    merged = sum(1 for p, s in linked.items() if p != s)
    if merged:
        log.info("CirCor: %d patient id(s) name another patient as their Additional ID (a child screened in both "
                 "campaigns); each such pair is one subject", merged)
    return linked


# --- tasks ----------------------------------------------------------------------------


def _split_mode(ctx: LoadContext, folder: Path) -> str:
    mode = str(ctx.options.get("split", "auto"))
    if mode not in SPLIT_MODES:
        raise TaskOptionError(f"--task-arg split={mode}: expected one of {', '.join(SPLIT_MODES)}")
    available = _official_parts(folder)
    if mode == "official" and not available:
        raise DatasetError(f"{folder / PARTS[1][1]}: split=official needs the Challenge's validation_data/ + "
                           "validation_data.csv and test_data/ + test_data.csv next to the training set")
    return "official" if (mode == "official" or (mode == "auto" and available)) else "seeded"


def seeded_split(df: pd.DataFrame) -> dict[str, str]:
    """Patient -> train/val/test for the public training set, shared by T17 and X04.

    Stratified by murmur x outcome over all patients (Unknown murmurs included, so both tasks get the
    same test patients); a stratum of fewer than 3 patients joins the largest stratum of its murmur class
    (or the largest overall), since sklearn cannot stratify on a class that small.
    """
    patients = df.groupby("subject")[["Murmur", "Outcome"]].first().sort_index()
    strata = patients["Murmur"] + "/" + patients["Outcome"]
    counts = strata.value_counts()  # largest first
    big = [s for s in counts.index if counts[s] >= 3]
    for small in counts.index[counts < 3]:
        same = [s for s in big if s.split("/")[0] == small.split("/")[0]]
        strata[strata == small] = (same or big or list(counts.index))[0]
    rest, test = group_split(list(patients.index), list(strata), test_size=TEST_FRACTION, seed=SPLIT_SEED)
    train, val = group_split(rest, list(strata[rest]), test_size=VAL_OF_ALL / (1 - TEST_FRACTION), seed=SPLIT_SEED)
    return {**dict.fromkeys(train, "train"), **dict.fromkeys(val, "val"), **dict.fromkeys(test, "test")}


def load(ctx: LoadContext) -> pd.DataFrame:
    """A CirCor task's manifest: one row per recording whose patient's ``loader_args["column"]`` is the
    ``positive`` (label 1) or ``negative`` (label 0) value; other patients are dropped and counted in the log.

    T17 reads Murmur (Present vs Absent), X04 Outcome (Abnormal vs Normal).

    Returns
    -------
    DataFrame
        clip_id (recording id, e.g. ``2530_AV``), path, label, label_name, subject (patient id), split,
        location (AV/PV/TV/MV/Phc), murmur, murmur_audible_here, outcome, age (group), sex, campaign,
        split_source (official/seeded), split_seed.
    """
    task = ctx.task
    column, positive, negative = (task.loader_args[k] for k in ("column", "positive", "negative"))
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    mode = _split_mode(ctx, folder)
    df = read_recordings(folder, official=mode == "official")
    if mode == "official":
        df["split"] = df["part"]
        df["split_seed"] = pd.NA
    else:
        df = assign_splits(df, seeded_split(df))
        df["split_seed"] = SPLIT_SEED
    keep = df[column].isin([positive, negative])
    log_dropped(task.id, {f"{column} {v!r} ({positive} vs {negative} only)": int(n)
                          for v, n in df.loc[~keep, column].value_counts().items()})
    df = df[keep].copy()
    df["label"] = (df[column] == positive).astype(int)
    df["split_source"] = mode
    df["clip_id"] = df["recording_id"]
    df["path"] = df["path"].astype(str)
    df["label_name"] = df["label"].map(dict(enumerate(task.classes)))
    audible = df["Murmur locations"].fillna("").str.split("+")
    df["murmur_audible_here"] = [loc in where for loc, where in zip(df["location"], audible, strict=True)]
    df = df.rename(columns={"Murmur": "murmur", "Outcome": "outcome", "Age": "age", "Campaign": "campaign"})
    df["sex"] = df["Sex"].map(SEXES)
    cols = ["clip_id", "path", "label", "label_name", "subject", "patient", "split", "location", "murmur",
            "murmur_audible_here", "outcome", "age", "sex", "campaign", "split_source", "split_seed"]
    return df[cols].reset_index(drop=True)


# --- data status and corpus -----------------------------------------------------------


def check(folder: Path) -> DataCheck:
    """Presence check: the 3163 training recordings and the patient table."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    _, audio, table = PARTS[0]
    problems = [] if (folder / table).is_file() else [f"missing {table}"]
    if not (folder / audio).is_dir():
        problems.append(f"missing the audio folder {audio}/")
    found = sum(1 for p in (folder / audio).glob("*.wav") if _RECORDING.match(p.name))
    try:
        _official_parts(folder)
    except DatasetError as exc:
        problems.append(str(exc))
    return DataCheck(present=True, found=found, expected=N_RECORDINGS, problems=tuple(problems))


def _phases(systolic: object, diastolic: object) -> str | None:
    """One murmur attribute over both phases, systolic first ("Harsh and Blowing"); ``None`` if neither.

    The phase needs no label: the timing values name it and the two gradings use different scales (/VI, /IV).
    """
    given = [str(v) for v in (systolic, diastolic) if pd.notna(v)]
    return " and ".join(given) or None


def _where(codes: object, loudest: object) -> str | None:
    """``"AV+MV"`` and ``"MV"`` → ``"aortic valve, mitral valve (most audible at mitral valve)"``."""
    if pd.isna(codes):
        return None
    names = ", ".join(LOCATIONS.get(c, c) for c in str(codes).split("+"))
    return f"{names} (most audible at {LOCATIONS.get(str(loudest), loudest)})" if pd.notna(loudest) else names


def recordings(folder: Path) -> pd.DataFrame:
    """One row per recording (all available Challenge sets) with the patient's murmur description,
    outcome, age group, sex and location; then height_cm, weight_kg, pregnant and campaign, which
    :data:`RECORDING_COLUMNS` has no column for."""
    folder = Path(folder).resolve()
    df = read_recordings(folder, official=_official_parts(folder))

    def murmur(attr: str) -> list[str | None]:
        return [_phases(s, d)
                for s, d in zip(df[f"Systolic murmur {attr}"], df[f"Diastolic murmur {attr}"], strict=True)]

    out = pd.DataFrame({
        "audio_path": df["path"].astype(str),
        "dataset": DATASET.id,
        "subject": df["subject"],
        "recording_id": df["recording_id"],
        "modality": "heart sounds",
        "age": df["Age"],
        "sex": df["Sex"].map(SEXES),
        "device": DEVICE,
        "site": df["location"].map(lambda c: f"{LOCATIONS[c]} area" if c != "Phc" else LOCATIONS[c]),
        "murmur": df["Murmur"],
        "murmur_timing": murmur("timing"),
        "murmur_grade": murmur("grading"),
        "murmur_pitch": murmur("pitch"),
        "murmur_shape": murmur("shape"),
        "murmur_quality": murmur("quality"),
        "murmur_locations": [_where(c, m)
                             for c, m in zip(df["Murmur locations"], df["Most audible location"], strict=True)],
        "outcome": df["Outcome"],
    }).reindex(columns=list(RECORDING_COLUMNS))
    out["height_cm"] = pd.to_numeric(df["Height"], errors="coerce")
    out["weight_kg"] = pd.to_numeric(df["Weight"], errors="coerce")
    out["pregnant"] = df["Pregnancy status"].map({"True": True, "False": False})
    out["campaign"] = df["Campaign"]
    return out
