"""Reading the kauh dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.kauh`, which imports none of this.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from acubench.datasets import dataset_folder
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, TaskOptionError
from acubench.specs import DataCheck
from acubench.tasks._common import carve_val, first_existing, log_dropped, stratified_subject_split
from acubench.tasks.kauh import DATASET, REFERENCE_VAL_FRACTION, REFERENCE_VAL_SEED

log = logging.getLogger(__name__)
AUDIO_DIRS = ("Audio Files", "AudioFiles")
N_RECORDINGS = 336
FILTERS = {"B": "bell", "D": "diaphragm", "E": "extended"}
SOUND_TYPES = {"I": "inspiratory", "E": "expiratory", "W": "wheezes", "C": "crackles", "N": "normal",
               "Crep": "crepitations", "B": "bronchial", "Bronchial": "bronchial"}
SURFACES = {"P": "posterior", "A": "anterior"}
LEVELS = {"U": "upper", "M": "middle", "L": "lower"}
_NAME = re.compile(r"^(?P<filter>[BDE])P(?P<patient>\d+)_(?P<diagnosis>[^,]+),(?P<sound>[^,]*),(?P<location>[^,]*),"
                   r"(?P<age>[^,]*),(?P<sex>[^,]*)\.wav$")
#: The recipe's patient split: test fraction, validation fraction of all patients, seed.
TEST_FRACTION, VAL_OF_ALL, SPLIT_SEED = 0.2, 0.1, 42


def _location(code: str) -> str:
    """Chest location code → words: surface, then side, then level ("P L M" → posterior left middle).

    "L" is the side (left) the first time a side can appear and the level
    (lower) after it; the codes also occur reordered ("A U R") or bilateral ("P L L R").
    """
    words, side_seen = [], False
    for i, token in enumerate(code.split()):
        if i == 0 and token in SURFACES:
            words.append(SURFACES[token])
        elif token in ("L", "R") and not side_seen:
            words.append("left" if token == "L" else "right")
            side_seen = True
        elif token == "R":
            words.append("right")
        else:
            words.append(LEVELS.get(token, token))
    return " ".join(words)


def read_files(folder: Path) -> pd.DataFrame:
    """One row per recording parsed from its file name, sorted by name; odd names raise.

    Returns
    -------
    DataFrame
        path, file_name, stem, filter, patient, diagnosis (raw), sound_type, location, age, sex.
    """
    audio_dir = first_existing(folder, AUDIO_DIRS, DATASET, "audio folder")
    files = sorted(p for p in audio_dir.iterdir() if p.is_file() and p.suffix.lower() == ".wav")
    rows, odd = [], []
    for path in files:
        match = _NAME.match(path.name)
        if match is None:
            odd.append(path.name)
            continue
        rows.append({"path": path, "file_name": path.name, "stem": path.stem, **match.groupdict()})
    if odd:
        raise DatasetError(f"{audio_dir / odd[0]}: {len(odd)} file name(s) do not follow "
                           "<B|D|E>P<n>_<diagnosis>,<sound type>,<location>,<age>,<sex>.wav (e.g. "
                           f"{odd[:3]}); remove files that are not part of the KAUH download")
    if not rows:
        raise DatasetError(f"{audio_dir}: no KAUH recordings found. Download the dataset from {DATASET.url} and "
                           f"unzip its audio into {audio_dir}")
    df = pd.DataFrame(rows)
    df["diagnosis"] = df["diagnosis"].str.strip()
    for col in ("sound", "location", "age", "sex"):
        df[col] = df[col].str.strip()
    return df.rename(columns={"sound": "sound_type"})


def obstructive_label(diagnosis: str, *, case_sensitive: bool = False) -> int | None:
    """1 for asthma/COPD, 0 for ``N`` (normal), ``None`` for other diagnoses.

    ``case_sensitive=True`` is OPERA's matching ("asthma"/"Asthma" and "COPD"
    only), which misses the lower-case "copd" label.
    """
    if diagnosis == "N":
        return 0
    if case_sensitive:
        return 1 if ("asthma" in diagnosis or "Asthma" in diagnosis or "COPD" in diagnosis) else None
    text = diagnosis.lower()
    return 1 if ("asthma" in text or "copd" in text) else None


def _reference_arrays(ctx: LoadContext, df: pd.DataFrame) -> pd.DataFrame:
    """OPERA's positional ``train_test_split.npy`` over ``sound_dir_loc_subset.npy``, keyed by file name."""
    absent = [k for k in ("reference_split", "reference_files") if not ctx.options.get(k)]
    if absent:
        raise TaskOptionError(f"--task-arg {absent[0]}=… is missing: OPERA's two KAUH arrays go together "
                              f"(reference_split=…/train_test_split.npy reference_files=…/sound_dir_loc_subset.npy)")
    paths = {k: Path(str(ctx.options[k])).expanduser() for k in ("reference_split", "reference_files")}
    arrays = {}
    for key, path in paths.items():
        try:
            arrays[key] = np.load(path, allow_pickle=False).ravel()
        except (OSError, ValueError) as exc:
            stem = "train_test_split" if key == "reference_split" else "sound_dir_loc_subset"
            raise TaskOptionError(f"{path}: cannot read --task-arg {key} ({exc}); expected OPERA's "
                                  f"feature/kauh_eval/{stem}.npy") from None
    names = [Path(str(p)).name for p in arrays["reference_files"]]
    if len(names) != len(arrays["reference_split"]):
        raise DatasetError(f"{paths['reference_split']}: {len(arrays['reference_split'])} entries but "
                           f"{paths['reference_files']} lists {len(names)} files; they must be OPERA's pair")
    by_name = df.set_index("file_name")
    unknown = [n for n in names if n not in by_name.index]
    if unknown:
        raise DatasetError(f"{paths['reference_files']}: {len(unknown)} listed file(s) are not in the KAUH audio "
                           f"folder (e.g. {unknown[:3]})")
    out = by_name.loc[names].reset_index()
    # OPERA's train_test_split_from_list: only "train" trains; every other value is scored as test.
    out["split"] = np.where(arrays["reference_split"] == "train", "train", "test")
    return out


def load(ctx: LoadContext) -> pd.DataFrame:
    """T08 manifest: one row per recording (3 filter renderings per patient), label 1 = asthma or COPD.

    Returns
    -------
    DataFrame
        clip_id (file stem), path, label, label_name, subject (patient number), split,
        diagnosis, filter, sound_type, location, age, sex, split_seed.
    """
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = read_files(folder)
    reference = ctx.protocol == "reference"
    df["label"] = [obstructive_label(d, case_sensitive=reference) for d in df["diagnosis"]]
    unused = df["label"].isna()
    rule = "OPERA's case-sensitive match of N, asthma and COPD" if reference else "only N, asthma and COPD are used"
    counts = df.loc[unused, "diagnosis"].value_counts()
    log_dropped("T08", {f"diagnosis {d!r} ({rule})": int(n) for d, n in counts.items()})
    df = df[~unused].copy()
    df["label"] = df["label"].astype(int)
    df["subject"] = df["patient"]
    if reference and ctx.options.get("reference_split"):
        df = _reference_arrays(ctx, df)
    else:
        df = stratified_subject_split(df, test_size=TEST_FRACTION, val_size=VAL_OF_ALL / (1 - TEST_FRACTION),
                                      seed=SPLIT_SEED)
        if reference:
            df["split"] = df["split"].replace({"val": "test"})
    if reference:
        df = carve_val(df.reset_index(drop=True), fraction=REFERENCE_VAL_FRACTION, seed=REFERENCE_VAL_SEED,
                       by_subject=False)
    df["clip_id"] = df["stem"]
    df["path"] = df["path"].astype(str)
    df["label_name"] = df["label"].map({0: "healthy", 1: "obstructive"})
    df["filter"] = df["filter"].map(FILTERS)
    df["location"] = df["location"].map(_location)
    df["split_seed"] = f"split={SPLIT_SEED}" + (f";val={REFERENCE_VAL_SEED}" if reference else "")
    cols = ["clip_id", "path", "label", "label_name", "subject", "split", "diagnosis", "filter", "sound_type",
            "location", "age", "sex", "split_seed"]
    return df[cols].reset_index(drop=True)


def check(folder: Path) -> DataCheck:
    """Presence check: the 336 recordings in the audio folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    audio_dir = next((folder / d for d in AUDIO_DIRS if (folder / d).is_dir()), None)
    if audio_dir is None:
        return DataCheck(present=True, expected=N_RECORDINGS, problems=("missing the audio folder 'Audio Files/'",))
    names = [p.name for p in audio_dir.iterdir() if p.suffix.lower() == ".wav"]
    found = sum(1 for n in names if _NAME.match(n))
    problems = [f"{len(names) - found} file name(s) not in the KAUH pattern"] if found < len(names) else []
    return DataCheck(present=True, found=found, expected=N_RECORDINGS, problems=tuple(problems))


def recordings(folder: Path) -> pd.DataFrame:
    """One row per recording: diagnosis, sound type (adventitious sounds), chest location, age, sex, filter."""
    df = read_files(Path(folder).resolve())
    sound = [", ".join(SOUND_TYPES.get(p, p) for p in code.split()) for code in df["sound_type"]]
    diagnosis = df["diagnosis"].replace({"N": "normal"})
    out = pd.DataFrame({
        "audio_path": df["path"].astype(str),
        "dataset": DATASET.id,
        "subject": df["patient"],
        "recording_id": df["stem"],
        "modality": "lung sounds",
        "age": pd.to_numeric(df["age"], errors="coerce"),
        "sex": df["sex"].map({"M": "male", "F": "female"}),
        "device": [f"electronic stethoscope, {FILTERS[f]} filter mode" for f in df["filter"]],
        "site": df["location"].map(_location),
        "diagnosis": diagnosis,
        "adventitious": sound,
    })
    return out.reindex(columns=list(RECORDING_COLUMNS))
