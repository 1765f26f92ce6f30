"""The built-in demo suite: its dataset spec, its six tasks and their loaders.

The audio is synthetic (:mod:`acubench.demo`) and generated on first use into
the cache, so these tasks run on a machine with no dataset and no weights. They
cover every task type of the benchmark: binary and multiclass classification
on a fixed subject-independent split, and regression under leave-one-subject-
out. Tasks on the same recordings share one split (and, in the cache, one
embedding per recording): demo-wheeze and demo-diagnosis both read the lung
sounds, split by subject and stratified by diagnosis.

Loader options (``--task-arg``): ``seed`` (demo seed, default 0) and
``folder`` (an already generated demo folder to read instead of the cache's).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from acubench import hookimpl
from acubench.demo import (
    DEFAULT_SEED, GENERATOR_VERSION, LUNG_DIAGNOSES, METADATA_FILE, MODALITIES, demo_folder, demo_plan, ensure_demo,
    read_metadata,
)
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.paths import cache_dir
from acubench.specs import ClipPolicy, DataCheck, DatasetSpec, TaskSpec
from acubench.tasks._common import stratified_subject_split

DATASET = DatasetSpec(
    id="demo",
    name="acubench synthetic demo suite",
    folder="demo",
    url="built in (acubench.demo); nothing to download",
    license="MIT (generated audio)",
    access="public",
    layout=(f"nothing: generated on first use into <cache>/demo/v{GENERATOR_VERSION}-seed<seed>/ "
            f"(generator.json, audio/<modality>/<recording>.wav, {METADATA_FILE})"),
    citation="acubench demo suite: procedurally generated heart, lung, cough and breathing sounds.",
    check="acubench.tasks.demo:check",
    recordings="acubench.tasks.demo:recordings",
)

#: Held-out shares of the subject-independent split: 20 % test, then 25 % of the rest
#: (20 % of all) validation, leaving 60 % train.
TEST_FRACTION = 0.2
VAL_FRACTION = 0.25

#: OPERA-GT embeds 8.18 s windows; the 4 s recordings fit one 4.09 s window (128 frames,
#: 512 patch tokens), which is about 2.5x cheaper and drops nothing but padding.
_GT_SHORT = {"opera-gt": ClipPolicy(trim_silence=True, pad="repeat", window_seconds=4.09, last_window="pad")}
_GT_NOTE = " OPERA-GT embeds these 4 s recordings as one 4.09 s window (128 frames) instead of 8.18 s windows."


def _seconds(modality: str) -> float:
    return MODALITIES[modality][1]


TASKS = [
    TaskSpec(
        id="demo-wheeze",
        name="demo-wheeze",
        dataset="demo",
        loader="acubench.tasks.demo:load_wheeze",
        kind="binary",
        modality="lung sounds",
        target="wheeze annotated in the recording",
        classes=("no wheeze", "wheeze"),
        class_prompts=("Lung sounds without wheezes.",
                       "Lung sounds with expiratory wheezes."),
        protocol="fixed",
        clip_seconds=_seconds("lung sounds"),
        protocol_notes="Subject-independent 60/20/20 split of the 52 lung subjects, stratified by diagnosis "
                       "(shared with demo-diagnosis).",
        expected_counts={"train": 90, "val": 33, "test": 33},
        suites=("demo",),
        description="Synthetic stethoscope recordings (8 s, 3 chest sites per subject): is a wheeze annotated? "
                    "Wheezes are expiratory tones of 100-1000 Hz; annotations carry 4 % label noise.",
    ),
    TaskSpec(
        id="demo-diagnosis",
        name="demo-diagnosis",
        dataset="demo",
        loader="acubench.tasks.demo:load_diagnosis",
        kind="multiclass",
        modality="lung sounds",
        target="subject diagnosis",
        classes=LUNG_DIAGNOSES,
        class_prompts=("Lung sounds of a healthy person without respiratory disease.",
                       "Lung sounds of a patient with asthma.",
                       "Lung sounds of a patient with chronic obstructive pulmonary disease (COPD).",
                       "Lung sounds of a patient with pneumonia."),
        protocol="fixed",
        clip_seconds=_seconds("lung sounds"),
        protocol_notes="Same recordings and split as demo-wheeze; headline metric is macro one-vs-rest AUROC.",
        expected_counts={"train": 90, "val": 33, "test": 33},
        suites=("demo",),
        description="Synthetic lung sounds: healthy, asthma, COPD or pneumonia, heard through diagnosis-dependent "
                    "wheezes, crackles, breathing rate, expiratory time and breath-sound character.",
    ),
    TaskSpec(
        id="demo-murmur",
        name="demo-murmur",
        dataset="demo",
        loader="acubench.tasks.demo:load_murmur",
        kind="binary",
        modality="heart sounds",
        target="systolic murmur audible at the recording site",
        classes=("no murmur", "murmur"),
        class_prompts=("Normal heart sounds without a murmur.",
                       "Heart sounds with a systolic murmur."),
        protocol="fixed",
        clip_seconds=_seconds("heart sounds"),
        clip_overrides=_GT_SHORT,
        protocol_notes="Subject-independent 60/20/20 split of the 40 heart subjects, stratified by murmur status.",
        expected_counts={"train": 72, "val": 24, "test": 24},
        suites=("demo",),
        description="Synthetic heart sounds (4 s, 3 auscultation areas per subject): is the subject's systolic "
                    "murmur audible here (one of its listed locations)?" + _GT_NOTE,
    ),
    TaskSpec(
        id="demo-cough",
        name="demo-cough",
        dataset="demo",
        loader="acubench.tasks.demo:load_cough",
        kind="binary",
        modality="cough",
        target="acute respiratory infection",
        classes=("healthy", "respiratory infection"),
        class_prompts=("Cough sounds of a healthy person.",
                       "Cough sounds of a person with an acute respiratory infection."),
        protocol="fixed",
        clip_seconds=_seconds("cough"),
        clip_overrides=_GT_SHORT,
        protocol_notes="Subject-independent 60/20/20 split of the 48 cough subjects, stratified by infection.",
        expected_counts={"train": 56, "val": 20, "test": 20},
        suites=("demo",),
        description="Synthetic voluntary coughs (4 s, 2 recordings per subject): respiratory infection, which makes "
                    "wet coughs, hoarse voicing and more coughs likelier." + _GT_NOTE,
    ),
    TaskSpec(
        id="demo-resp-rate",
        name="demo-resp-rate",
        dataset="demo",
        loader="acubench.tasks.demo:load_resp_rate",
        kind="regression",
        modality="nasal breathing",
        target="respiratory rate (breaths/min)",
        protocol="loso",
        clip_seconds=_seconds("nasal breathing"),
        protocol_notes="Leave-one-subject-out over 16 subjects (3 recordings each: rest, paced slow, after exercise).",
        expected_counts={"pool": 48},
        suites=("demo",),
        description="Synthetic nasal breathing (8 s) at 8-30 breaths/min with irregular cycles; the target is the "
                    "rate the recording realises; MAE in breaths/min.",
    ),
    TaskSpec(
        id="demo-fev1",
        name="demo-fev1",
        dataset="demo",
        loader="acubench.tasks.demo:load_fev1",
        kind="regression",
        modality="forced exhalation",
        target="FEV1 (L)",
        protocol="loso",
        clip_seconds=_seconds("forced exhalation"),
        clip_overrides=_GT_SHORT,
        protocol_notes="Leave-one-subject-out over the same 16 subjects (3 forced exhalations each).",
        expected_counts={"pool": 48},
        suites=("demo",),
        description="Synthetic forced exhalations (4 s) whose flow follows FVC and FEV1/FVC from reference "
                    "equations and diagnosis; the target is the spirometer's FEV1 (±40 mL); MAE in litres."
                    + _GT_NOTE,
    ),
]

#: task id → (label column of metadata.csv, modality, subject trait that stratifies the split or None for LOSO).
_SOURCES = {
    "demo-wheeze": ("label_wheeze", "lung sounds", "diagnosis"),
    "demo-diagnosis": ("label_diagnosis", "lung sounds", "diagnosis"),
    "demo-murmur": ("label_murmur", "heart sounds", "murmur"),
    "demo-cough": ("label_infection", "cough", "diagnosis"),
    "demo-resp-rate": ("label_resp_rate", "nasal breathing", None),
    "demo-fev1": ("label_fev1", "forced exhalation", None),
}
_BY_ID = {t.id: t for t in TASKS}


@hookimpl
def acubench_datasets() -> list[DatasetSpec]:
    return [DATASET]


@hookimpl
def acubench_tasks() -> list[TaskSpec]:
    return list(TASKS)


def _seed(ctx: LoadContext) -> int:
    value = ctx.options.get("seed", DEFAULT_SEED)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"demo tasks: --task-arg seed={value!r} is not an integer") from None


def demo_dir(ctx: LoadContext) -> Path:
    """The demo folder a loader reads: ``--task-arg folder=…`` as given, else generated under ``ctx.cache_dir``."""
    if ctx.options.get("folder"):
        return Path(ctx.options["folder"])
    return ensure_demo(ctx.cache_dir, seed=_seed(ctx))


def _subject_splits(meta: pd.DataFrame, modality: str, trait: str, seed: int) -> dict[str, str]:
    """Subject → train/val/test for one cohort, stratified by a subject-level trait."""
    cohort = meta[meta["modality"] == modality]
    subjects = cohort.groupby("subject")[trait].first()
    codes = {v: i for i, v in enumerate(sorted(subjects.unique()))}
    table = pd.DataFrame({"subject": subjects.index, "label": subjects.map(codes).to_numpy()})
    split = stratified_subject_split(table, test_size=TEST_FRACTION, val_size=VAL_FRACTION, seed=seed)
    return dict(zip(split["subject"], split["split"]))


def _manifest(ctx: LoadContext, task_id: str) -> pd.DataFrame:
    """One task's manifest from the demo metadata (see the task table for what each reads)."""
    task = _BY_ID[task_id]
    column, modality, trait = _SOURCES[task_id]
    seed = _seed(ctx)
    folder = demo_dir(ctx)
    meta = read_metadata(folder)
    rows = meta[meta[column].notna()].copy()
    if rows.empty or (rows["modality"] != modality).any():
        raise DatasetError(f"{folder / METADATA_FILE}: no {modality} recordings labelled {column!r}; the folder is "
                           f"not a demo suite of generator v{GENERATOR_VERSION}. Delete it and it is regenerated")
    if task.kind == "regression":
        rows["label"] = rows[column].astype(float)
        rows["split"] = "pool"
    else:
        rows["label"] = rows[column].astype(int)
        rows["label_name"] = [task.classes[i] for i in rows["label"]]
        rows["split"] = rows["subject"].map(_subject_splits(meta, modality, trait, seed))
    rows["clip_id"] = rows["recording_id"]
    rows["path"] = rows["audio_path"]
    rows["split_seed"] = seed
    metadata = [c for c in RECORDING_COLUMNS if c not in ("audio_path", "recording_id", "subject", "start", "end")]
    extra = ["heart_rate", "height_cm", "fvc_l", "crackle_type", "cough_type", "condition"]
    cols = ["clip_id", "path", "label", *(["label_name"] if task.kind != "regression" else []), "subject", "split",
            "split_seed", *metadata, *extra]
    return rows[cols].sort_values("clip_id").reset_index(drop=True)


def load_wheeze(ctx: LoadContext) -> pd.DataFrame:
    """demo-wheeze manifest: lung recordings, label 1 = wheeze annotated."""
    return _manifest(ctx, "demo-wheeze")


def load_diagnosis(ctx: LoadContext) -> pd.DataFrame:
    """demo-diagnosis manifest: lung recordings, label = index in :data:`LUNG_DIAGNOSES`."""
    return _manifest(ctx, "demo-diagnosis")


def load_murmur(ctx: LoadContext) -> pd.DataFrame:
    """demo-murmur manifest: heart recordings, label 1 = murmur audible at the site."""
    return _manifest(ctx, "demo-murmur")


def load_cough(ctx: LoadContext) -> pd.DataFrame:
    """demo-cough manifest: cough recordings, label 1 = acute respiratory infection."""
    return _manifest(ctx, "demo-cough")


def load_resp_rate(ctx: LoadContext) -> pd.DataFrame:
    """demo-resp-rate manifest: nasal breathing, label = breaths/min, split ``pool`` (LOSO)."""
    return _manifest(ctx, "demo-resp-rate")


def load_fev1(ctx: LoadContext) -> pd.DataFrame:
    """demo-fev1 manifest: forced exhalations, label = FEV1 in litres, split ``pool`` (LOSO)."""
    return _manifest(ctx, "demo-fev1")


def recordings(folder: Path) -> pd.DataFrame:
    """The :data:`RECORDING_COLUMNS` table of a generated demo folder (``audio_path`` absolute)."""
    return read_metadata(folder).reindex(columns=list(RECORDING_COLUMNS))


def check(folder: Path) -> DataCheck:
    """Whether the demo is generated in the cache (``folder``, the data-root location, is not used).

    The demo is always available: it is generated on first use, so "not yet
    generated" is reported as a note, not as missing data.
    """
    expected = len(demo_plan(DEFAULT_SEED))
    target = demo_folder(cache_dir(), DEFAULT_SEED)
    if (target / METADATA_FILE).is_file():
        return DataCheck(present=True, found=expected, expected=expected)
    return DataCheck(present=True, found=0, expected=expected,
                     problems=(f"not generated yet: generated on first use into {target} (about 10 s)",))
