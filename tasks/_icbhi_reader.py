"""Reading the icbhi dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.icbhi`, which imports none of this.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from acubench.datasets import dataset_folder
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import (
    carve_val,
    check_files,
    check_vocabulary,
    first_existing,
    log_dropped,
    read_table,
    reject_unexpected,
    require,
    require_audio,
)
from acubench.tasks.icbhi import (
    AUDIO_DIR,
    DATASET,
    DEMOGRAPHIC_FILE,
    DIAGNOSIS_FILE,
    SPLIT_FILE,
    VAL_FRACTION,
    VAL_SEED,
)

log = logging.getLogger(__name__)

N_RECORDINGS = 920
#: Naming error of the publisher's ``ICBHI_challenge_train_test.txt``: it lists ``226_1b1_Pl_sc_Meditron``,
#: which the database does not hold; the recording is ``226_1b1_Pl_sc_LittC2SE.wav`` (and ``.txt``). Copies
#: differ: OPERA's copy lists both ids (921 lines: 540 train, 381 test), others only the wrong one (920).
#: The wrong id is read as the recording on disk, or dropped where the list also names that recording.
SPLIT_FILE_ERRATA = {"226_1b1_Pl_sc_Meditron": "226_1b1_Pl_sc_LittC2SE"}


def _resolve_errata(ids: pd.Series, audio_dir: Path) -> pd.Series:
    """The split file's ids with its known naming error resolved: renamed to the file on disk, or
    ``None`` where the list names that file as well (the caller drops those rows)."""
    listed = set(ids)

    def fix(rid: str) -> str | None:
        actual = SPLIT_FILE_ERRATA.get(rid)
        if not actual or (audio_dir / f"{rid}.wav").exists():
            return rid
        if actual in listed:
            log.info("ICBHI: %s lists %s, which the database does not hold, beside %s; the first is ignored",
                     SPLIT_FILE, rid, actual)
            return None
        if (audio_dir / f"{actual}.wav").exists():
            log.info("ICBHI: %s lists %s; the database holds %s (a known naming error of the list)",
                     SPLIT_FILE, rid, actual)
            return actual
        return rid
    return ids.map(fix)


DIAGNOSES = ("COPD", "Healthy", "URTI", "Bronchiectasis", "Pneumonia", "Bronchiolitis", "LRTI", "Asthma")
CHEST_LOCATIONS = {"Tc": "trachea", "Al": "anterior left", "Ar": "anterior right", "Pl": "posterior left",
                   "Pr": "posterior right", "Ll": "lateral left", "Lr": "lateral right"}
ACQUISITION = {"sc": "sequential/single channel", "mc": "simultaneous/multichannel"}
DEVICES = {"AKGC417L": "AKG C417L microphone", "LittC2SE": "3M Littmann Classic II SE stethoscope",
           "Litt3200": "3M Littmann 3200 electronic stethoscope",
           "Meditron": "WelchAllyn Meditron Master Elite electronic stethoscope"}
_NAME = re.compile(r"^(?P<pid>\d{3})_(?P<rec>[0-9a-z]+)_(?P<loc>" + "|".join(CHEST_LOCATIONS)
                   + r")_(?P<mode>sc|mc)_(?P<device>" + "|".join(DEVICES) + r")$")


def _challenge_file(folder: Path, name: str) -> Path:
    return first_existing(folder, (name, f"{AUDIO_DIR}/{name}"), DATASET, f"challenge file {name}")


def _official_table(folder: Path) -> pd.DataFrame:
    """One row per recording: id, path, patient, name fields, official split, diagnosis (sorted by id).

    Validates the layout: every listed recording present, no unlisted audio,
    every patient diagnosed with a known diagnosis.
    """
    audio_dir = require(folder / AUDIO_DIR, DATASET, f"audio folder {AUDIO_DIR}/")
    split_path = _challenge_file(folder, SPLIT_FILE)
    splits = read_table(split_path, DATASET, what="official train/test list", sep="\t", header=None,
                        names=["recording_id", "official_split"], dtype=str,
                        nonempty=["recording_id", "official_split"])
    splits = splits.apply(lambda col: col.str.strip())
    splits["recording_id"] = _resolve_errata(splits["recording_id"], audio_dir)
    splits = splits.dropna(subset=["recording_id"]).reset_index(drop=True)
    check_vocabulary(splits["official_split"], ("train", "test"), split_path, "split", DATASET)
    dup = splits["recording_id"][splits["recording_id"].duplicated()]
    if len(dup):
        raise DatasetError(f"{split_path}: recording(s) listed twice: {sorted(dup)[:5]}; "
                           f"re-download it from {DATASET.url}")
    fields = splits["recording_id"].str.extract(_NAME)
    bad = splits.loc[fields["pid"].isna(), "recording_id"].tolist()
    if bad:
        raise DatasetError(f"{split_path}: recording id(s) {bad[:5]} do not follow <pid>_<rec>_<loc>_<mode>_<device> "
                           f"with the ICBHI chest locations {sorted(CHEST_LOCATIONS)} and devices {sorted(DEVICES)}")
    table = pd.concat([splits, fields.rename(columns={"pid": "subject", "loc": "chest_location",
                                                      "mode": "acquisition"})],
                      axis=1)
    table["path"] = [audio_dir / f"{r}.wav" for r in table["recording_id"]]
    require_audio(list(table["path"]), DATASET,
                  fix=f"Unzip ICBHI_final_database.zip from {DATASET.url} into {audio_dir}")
    reject_unexpected(audio_dir.glob("*.wav"), {p.name for p in table["path"]}, DATASET, audio_dir)

    diag_path = _challenge_file(folder, DIAGNOSIS_FILE)
    diagnosis = read_table(diag_path, DATASET, what="diagnosis list", sep="\t", header=None,
                           names=["subject", "diagnosis"], dtype=str, nonempty=["subject", "diagnosis"])
    diagnosis = diagnosis.apply(lambda col: col.str.strip())
    check_vocabulary(diagnosis["diagnosis"], DIAGNOSES, diag_path, "diagnosis", DATASET)
    by_patient = dict(zip(diagnosis["subject"], diagnosis["diagnosis"], strict=True))
    undiagnosed = sorted(set(table["subject"]) - set(by_patient))
    if undiagnosed:
        raise DatasetError(f"{diag_path}: no diagnosis for patient(s) {undiagnosed[:5]} whose recordings are in "
                           f"{split_path.name}; re-download the challenge files from {DATASET.url}")
    table["diagnosis"] = table["subject"].map(by_patient)
    return table.sort_values("recording_id").reset_index(drop=True)


def load(ctx: LoadContext) -> pd.DataFrame:
    """T05 manifest: one row per COPD or healthy recording, label 1 = COPD.

    Returns
    -------
    DataFrame
        clip_id (recording id), path, label, label_name, subject (patient id),
        split, official_split, chest_location, acquisition, device, split_seed.
    """
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    table = _official_table(folder)
    keep = table["diagnosis"].isin(["COPD", "Healthy"])
    log_dropped("T05", {f"diagnosis {d} (only COPD and Healthy are used)": int(n)
                        for d, n in table.loc[~keep, "diagnosis"].value_counts().items()})
    df = table[keep].copy()
    df["label"] = (df["diagnosis"] == "COPD").astype(int)
    df["label_name"] = df["label"].map({0: "healthy", 1: "COPD"})
    df["clip_id"] = df["recording_id"]
    df["path"] = df["path"].astype(str)
    df["device"] = df["device"].map(DEVICES)
    df["split"] = df["official_split"]
    if ctx.protocol == "reference":
        df = carve_val(df.reset_index(drop=True), fraction=VAL_FRACTION, seed=VAL_SEED, by_subject=False)
    else:
        both = df.groupby("subject")["official_split"].nunique()
        straddling = sorted(both[both > 1].index)
        if straddling:
            log.info("T05: patient(s) %s have recordings in both official splits; all their recordings go to test",
                     ", ".join(straddling))
        df.loc[df["subject"].isin(straddling), "split"] = "test"
        df = carve_val(df.reset_index(drop=True), fraction=VAL_FRACTION, seed=VAL_SEED, by_subject=True)
    df["split_seed"] = VAL_SEED
    cols = ["clip_id", "path", "label", "label_name", "subject", "split", "official_split", "diagnosis",
            "chest_location", "acquisition", "device", "split_seed"]
    return df[cols].reset_index(drop=True)


def check(folder: Path) -> DataCheck:
    """Presence check: the 920 recordings of the official list and the three challenge files."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    problems = []
    for name in (SPLIT_FILE, DIAGNOSIS_FILE, DEMOGRAPHIC_FILE):
        if not any((folder / p / name).is_file() for p in (".", AUDIO_DIR)):
            problems.append(f"missing {name} (a separate download on the challenge page)")
    split_path = next((folder / p / SPLIT_FILE for p in (".", AUDIO_DIR) if (folder / p / SPLIT_FILE).is_file()), None)
    if split_path is None:
        found = len(list((folder / AUDIO_DIR).glob("*.wav")))
        return DataCheck(present=True, found=found, expected=N_RECORDINGS, problems=tuple(problems))
    ids = pd.Series([line.split("\t")[0].strip() for line in split_path.read_text(encoding="utf-8-sig").splitlines()
                     if line.strip()], dtype=str)
    audio_dir = folder / AUDIO_DIR
    return check_files(folder, [audio_dir / f"{i}.wav" for i in _resolve_errata(ids, audio_dir).dropna()],
                       problems=problems)


def _cycle_summary(txt: Path) -> str:
    """Adventitious sounds of one recording from its cycle annotations (start, end, crackles, wheezes)."""
    cycles = read_table(txt, DATASET, what="cycle annotation", sep=r"\s+", header=None,
                        names=["start", "end", "crackles", "wheezes"], nonempty=["start", "end", "crackles", "wheezes"])
    n = len(cycles)
    crackles, wheezes = int(cycles["crackles"].astype(int).sum()), int(cycles["wheezes"].astype(int).sum())
    if not crackles and not wheezes:
        return f"none ({n} respiratory cycles)"
    parts = [f"{name} in {k} of {n} respiratory cycles"
             for name, k in (("crackles", crackles), ("wheezes", wheezes)) if k]
    return "; ".join(parts)


def recordings(folder: Path) -> pd.DataFrame:
    """One row per recording (920) with diagnosis, demographics, device, chest location and adventitious sounds."""
    folder = Path(folder).resolve()
    table = _official_table(folder)
    demo_path = _challenge_file(folder, DEMOGRAPHIC_FILE)
    demo = read_table(demo_path, DATASET, what="demographic information", sep="\t", header=None,
                      names=["subject", "age", "sex", "adult_bmi", "child_weight", "child_height"], dtype=str,
                      na_values=["NA"], nonempty=["subject"])
    demo["subject"] = demo["subject"].str.strip()
    demo = demo.set_index("subject")
    out = pd.DataFrame({
        "audio_path": table["path"].astype(str),
        "dataset": DATASET.id,
        "subject": table["subject"],
        "recording_id": table["recording_id"],
        "modality": "lung sounds",
        "age": pd.to_numeric(table["subject"].map(demo["age"]), errors="coerce"),
        "sex": table["subject"].map(demo["sex"]).map({"M": "male", "F": "female"}),
        "device": table["device"].map(DEVICES),
        "site": table["chest_location"].map(CHEST_LOCATIONS),
        "diagnosis": table["diagnosis"],
        "adventitious": [_cycle_summary(Path(p).with_suffix(".txt")) for p in table["path"]],
    })
    return out.reindex(columns=list(RECORDING_COLUMNS))
