"""KAUH lung sounds (King Abdullah University Hospital): healthy vs obstructive disease (T08, OPERA task 10).

Publisher layout (``<data-root>/KAUH/``, from Mendeley Data jwyy9np4gv v3): the
audio folder (``Audio Files/`` as unzipped, or ``AudioFiles/`` as in the OPERA
scripts) with 336 recordings named
``<F>P<n>_<diagnosis>,<sound type>,<location>,<age>,<sex>.wav``, e.g.
``BP47_asthma,E W,P L M,60,M.wav``; ``Data annotation.xlsx`` is not needed.
``F`` ∈ {B, D, E} is the stethoscope filter (bell, diaphragm, extended) the
same recording was rendered with, ``n`` the patient: 112 patients × 3.

Labels: ``N`` → healthy (0); a diagnosis naming asthma or COPD → obstructive
(1) (comorbid forms such as "Heart Failure + COPD" included); others unused.
OPERA matches "COPD" case-sensitively and so drops the patient labelled
"copd"; the default protocol matches case-insensitively.

Split: OPERA's recipe is a patient-level stratified split (seed 42: 20 %
test, then 10 % of all patients for validation) and the default protocol is
exactly that, with the three filter renderings of a patient always together.
OPERA's *shipped* split is positionally misaligned with its file list, so 49
patients straddle train and test, and its evaluation scores the validation
patients as test and carves a fresh 10 % validation set at recording level
(seed 1337). The ``reference`` protocol reproduces that evaluation: with
OPERA's two arrays given as ``--task-arg reference_split=…/train_test_split.npy
reference_files=…/sound_dir_loc_subset.npy`` it uses them as they are (the
leak included); without them it re-runs the recipe with the reference's
val→test collapse and recording-level validation carve-out (which leaks
filter renderings between train and validation).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from acubench import hookimpl
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck, DatasetSpec, TaskSpec
from acubench.tasks._common import carve_val, dataset_folder, first_existing, log_dropped, stratified_subject_split

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
#: The OPERA evaluation's recording-level validation carve-out (reference protocol).
REFERENCE_VAL_FRACTION, REFERENCE_VAL_SEED = 0.1, 1337

DATASET = DatasetSpec(
    id="kauh",
    name="KAUH lung sound dataset (King Abdullah University Hospital)",
    folder="KAUH",
    url="https://data.mendeley.com/datasets/jwyy9np4gv/3",
    license="CC BY 4.0",
    access="public",
    layout=("the audio folder 'Audio Files/' (or 'AudioFiles/') with the 336 recordings "
            "<B|D|E>P<n>_<diagnosis>,<sound type>,<location>,<age>,<sex>.wav"),
    citation=("Fraiwan M, Fraiwan L, Khassawneh B, Ibnian A. A dataset of lung sounds recorded from the chest wall "
              "using an electronic stethoscope. Data in Brief 35:106913, 2021."),
    check="acubench.tasks.kauh:check",
    recordings="acubench.tasks.kauh:recordings",
)

TASKS = [
    TaskSpec(
        id="T08",
        name="kauh-obstructive",
        dataset="kauh",
        loader="acubench.tasks.kauh:load_obstructive",
        kind="binary",
        modality="lung sounds",
        target="healthy vs obstructive disease (asthma or COPD)",
        classes=("healthy", "obstructive"),
        class_prompts=(
            "Normal vesicular lung sounds of a healthy person.",
            "Lung sounds of a patient with obstructive airway disease (asthma or COPD), often with wheezes.",
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocols=("default", "reference"),
        protocol_notes=(
            "default: patient-level split stratified by label (sklearn train_test_split, seed 42: 20 % of patients "
            "test, 10 % validation), all three stethoscope-filter renderings of a patient in one split; 'copd' "
            "matched case-insensitively (1 more patient than OPERA). reference (known to leak patients): OPERA's "
            "evaluation, i.e. case-sensitive labels, validation patients scored as test, and a recording-level "
            "10 % validation carve-out (seed 1337); exact with --task-arg reference_split=train_test_split.npy "
            "reference_files=sound_dir_loc_subset.npy from OPERA's feature/kauh_eval/, whose split is misaligned "
            "(49 patients in train and test)."
        ),
        expected_counts={"train": 145, "val": 17, "test": 72},
        suites=("acula18", "opera"),
        opera_task=10,
        probe_options={"epochs": 50, "batch_size": 32, "l2_strength": 1e-5, "val_fraction": REFERENCE_VAL_FRACTION,
                       "val_seed": REFERENCE_VAL_SEED, "checkpoint_every_n_epochs": 5},
        description="Healthy vs obstructive lung disease (asthma, COPD) from chest-wall stethoscope recordings.",
    ),
]


@hookimpl
def acubench_datasets() -> list[DatasetSpec]:
    return [DATASET]


@hookimpl
def acubench_tasks() -> list[TaskSpec]:
    return list(TASKS)


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
    paths = {k: Path(str(ctx.options[k])).expanduser() for k in ("reference_split", "reference_files")}
    arrays = {}
    for key, path in paths.items():
        try:
            arrays[key] = np.load(path, allow_pickle=False).ravel()
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot read --task-arg {key} ({exc}); expected OPERA's "
                               f"feature/kauh_eval/{'train_test_split' if key == 'reference_split' else 'sound_dir_loc_subset'}.npy") from None
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


def load_obstructive(ctx: LoadContext) -> pd.DataFrame:
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
    log_dropped("T08", {f"diagnosis {d!r} ({rule})": int(n) for d, n in df.loc[unused, "diagnosis"].value_counts().items()})
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
