"""The built-in demo suite: its dataset spec and its six tasks.

The audio is synthetic and generated on first use into the cache, so these
tasks run on a machine with no dataset and no weights. This module declares
the suite; the rest of the package implements it and loads only when used:
:mod:`~acubench.tasks.demo.plan` (the cohorts and their labels),
:mod:`~acubench.tasks.demo.synth` (rendering the audio),
:mod:`~acubench.tasks.demo.store` (the folder in the cache) and
:mod:`~acubench.tasks.demo.reader` (the task loader). The tasks
cover every task type of the benchmark: binary and multiclass classification
on a fixed subject-independent split, and regression under leave-one-subject-
out. Tasks on the same recordings share one split (and, in the cache, one
embedding per recording): demo-wheeze and demo-diagnosis both read the lung
sounds, split by subject and stratified by diagnosis.

Loader options (``--task-arg``): ``seed`` (demo seed, default 0) and
``folder`` (an already generated demo folder to read instead of the cache's).
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

#: Version of the generated suite: bumped whenever the plan or the synthesis changes, so
#: that a new version lives in a new folder.
GENERATOR_VERSION = 1
#: The table of recordings and labels, written last into a complete demo folder.
METADATA_FILE = "metadata.csv"

#: The demo's diagnoses of lung subjects, in label order (demo-diagnosis's classes).
LUNG_DIAGNOSES = ("healthy", "asthma", "COPD", "pneumonia")
#: modality → (folder under audio/, seconds per recording).
MODALITIES = {
    "lung sounds": ("lung", 8.0),
    "heart sounds": ("heart", 4.0),
    "cough": ("cough", 4.0),
    "nasal breathing": ("breathing", 8.0),
    "forced exhalation": ("exhalation", 4.0),
}

DATASET = DatasetSpec(
    id="demo",
    name="acubench synthetic demo suite",
    folder="demo",
    url="built in (acubench.tasks.demo); nothing to download",
    license="MIT (generated audio)",
    access="public",
    layout=(f"nothing: generated on first use into <cache>/demo/v{GENERATOR_VERSION}-seed<seed>/ "
            f"(generator.json, audio/<modality>/<recording>.wav, {METADATA_FILE})"),
    citation="acubench demo suite: procedurally generated heart, lung, cough and breathing sounds.",
    check="acubench.tasks.demo.reader:check",
    recordings="acubench.tasks.demo.reader:recordings",
    generated=True,
    options={"seed": "demo generator seed (default 0)", "folder": "an already generated demo folder to read"},
)

TASKS = [
    TaskSpec(
        id="demo-wheeze",
        name="demo-wheeze",
        dataset="demo",
        loader="acubench.tasks.demo.reader:load",
        loader_args={"column": "label_wheeze", "stratify": "diagnosis"},
        kind="binary",
        modality="lung sounds",
        target="wheeze annotated in the recording",
        classes=("no wheeze", "wheeze"),
        class_prompts=("Lung sounds without wheezes.",
                       "Lung sounds with expiratory wheezes."),
        protocol="fixed",
        clip_seconds=MODALITIES["lung sounds"][1],
        recording_seconds=MODALITIES["lung sounds"][1],
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
        loader="acubench.tasks.demo.reader:load",
        loader_args={"column": "label_diagnosis", "stratify": "diagnosis"},
        kind="multiclass",
        modality="lung sounds",
        target="subject diagnosis",
        classes=LUNG_DIAGNOSES,
        class_prompts=("Lung sounds of a healthy person without respiratory disease.",
                       "Lung sounds of a patient with asthma.",
                       "Lung sounds of a patient with chronic obstructive pulmonary disease (COPD).",
                       "Lung sounds of a patient with pneumonia."),
        protocol="fixed",
        clip_seconds=MODALITIES["lung sounds"][1],
        recording_seconds=MODALITIES["lung sounds"][1],
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
        loader="acubench.tasks.demo.reader:load",
        loader_args={"column": "label_murmur", "stratify": "murmur"},
        kind="binary",
        modality="heart sounds",
        target="systolic murmur audible at the recording site",
        classes=("no murmur", "murmur"),
        class_prompts=("Normal heart sounds without a murmur.",
                       "Heart sounds with a systolic murmur."),
        protocol="fixed",
        clip_seconds=MODALITIES["heart sounds"][1],
        recording_seconds=MODALITIES["heart sounds"][1],
        protocol_notes="Subject-independent 60/20/20 split of the 40 heart subjects, stratified by murmur status.",
        expected_counts={"train": 72, "val": 24, "test": 24},
        suites=("demo",),
        description="Synthetic heart sounds (4 s, 3 auscultation areas per subject): is the subject's systolic "
                    "murmur audible here (one of its listed locations)?",
    ),
    TaskSpec(
        id="demo-cough",
        name="demo-cough",
        dataset="demo",
        loader="acubench.tasks.demo.reader:load",
        loader_args={"column": "label_infection", "stratify": "diagnosis"},
        kind="binary",
        modality="cough",
        target="acute respiratory infection",
        classes=("healthy", "respiratory infection"),
        class_prompts=("Cough sounds of a healthy person.",
                       "Cough sounds of a person with an acute respiratory infection."),
        protocol="fixed",
        clip_seconds=MODALITIES["cough"][1],
        recording_seconds=MODALITIES["cough"][1],
        protocol_notes="Subject-independent 60/20/20 split of the 48 cough subjects, stratified by infection.",
        expected_counts={"train": 56, "val": 20, "test": 20},
        suites=("demo",),
        description="Synthetic voluntary coughs (4 s, 2 recordings per subject): respiratory infection, which makes "
                    "wet coughs, hoarse voicing and more coughs likelier.",
    ),
    TaskSpec(
        id="demo-resp-rate",
        name="demo-resp-rate",
        dataset="demo",
        loader="acubench.tasks.demo.reader:load",
        loader_args={"column": "label_resp_rate"},
        kind="regression",
        modality="nasal breathing",
        target="respiratory rate (breaths/min)",
        protocol="loso",
        clip_seconds=MODALITIES["nasal breathing"][1],
        recording_seconds=MODALITIES["nasal breathing"][1],
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
        loader="acubench.tasks.demo.reader:load",
        loader_args={"column": "label_fev1"},
        kind="regression",
        modality="forced exhalation",
        target="FEV1 (L)",
        protocol="loso",
        clip_seconds=MODALITIES["forced exhalation"][1],
        recording_seconds=MODALITIES["forced exhalation"][1],
        protocol_notes="Leave-one-subject-out over the same 16 subjects (3 forced exhalations each).",
        expected_counts={"pool": 48},
        suites=("demo",),
        description="Synthetic forced exhalations (4 s) whose flow follows FVC and FEV1/FVC from reference "
                    "equations and diagnosis; the target is the spirometer's FEV1 (±40 mL); MAE in litres."
                   ,
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
