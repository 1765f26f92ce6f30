"""ICBHI 2017 Respiratory Sound Database: COPD vs healthy (T05, OPERA task 7).

Publisher layout (``<data-root>/icbhi/``): the unpacked ``ICBHI_final_database/``
(920 recordings ``<pid>_<rec>_<loc>_<mode>_<device>.wav`` with their cycle
annotations ``.txt``) plus the three challenge files, which the challenge page
offers as separate downloads: ``ICBHI_Challenge_diagnosis.txt`` (patient →
diagnosis), ``ICBHI_challenge_train_test.txt`` (recording → official split;
the 920 recordings are 539 train and 381 test) and
``ICBHI_Challenge_demographic_information.txt``. They may sit next to the
audio folder or inside it. The split file names one recording with the wrong
device, ``226_1b1_Pl_sc_Meditron``, for the database's
``226_1b1_Pl_sc_LittC2SE`` (some copies, OPERA's among them, list both ids);
the reader resolves it to the file on disk (``SPLIT_FILE_ERRATA`` in
``_icbhi_reader``).

Each recording carries its patient's diagnosis; the task keeps COPD (1) and
Healthy (0). The official split is at recording level and puts two COPD
patients (156 and 218) in both train and test. The default protocol moves
such patients wholly to test and carves the validation set by patient; the
``reference`` protocol keeps the official split as published and carves the
validation set at recording level, as the OPERA code does.

"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

AUDIO_DIR = "ICBHI_final_database"
DIAGNOSIS_FILE = "ICBHI_Challenge_diagnosis.txt"
SPLIT_FILE = "ICBHI_challenge_train_test.txt"
DEMOGRAPHIC_FILE = "ICBHI_Challenge_demographic_information.txt"

#: The OPERA evaluation's validation carve-out: 20 % of train, stratified, seed 1337.
VAL_FRACTION = 0.2
VAL_SEED = 1337

DATASET = DatasetSpec(
    id="icbhi",
    name="ICBHI 2017 Respiratory Sound Database",
    folder="icbhi",
    url="https://bhichallenge.med.auth.gr/ICBHI_2017_Challenge",
    license="CC0 1.0",
    access="public",
    layout=(f"{AUDIO_DIR}/ (unzipped ICBHI_final_database.zip: 920 <pid>_<rec>_<loc>_<mode>_<device>.wav "
            f"recordings with their .txt cycle annotations) and the challenge files {DIAGNOSIS_FILE}, {SPLIT_FILE} "
            f"and {DEMOGRAPHIC_FILE} (next to {AUDIO_DIR}/ or inside it)"),
    citation=("Rocha BM et al. An open access database for the evaluation of respiratory sound classification "
              "algorithms. Physiological Measurement 40(3):035001, 2019."),
    check="acubench.tasks._icbhi_reader:check",
    recordings="acubench.tasks._icbhi_reader:recordings",
)
TASKS = [
    TaskSpec(
        id="T05",
        name="icbhi-copd",
        dataset="icbhi",
        loader="acubench.tasks._icbhi_reader:load",
        kind="binary",
        modality="lung sounds",
        target="COPD vs healthy (patient diagnosis)",
        classes=("healthy", "COPD"),
        class_prompts=(
            "Lung sounds of a healthy person without respiratory disease.",
            "Lung sounds of a patient with chronic obstructive pulmonary disease (COPD).",
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocols=("default", "reference"),
        protocol_notes=(
            "Official ICBHI recording-level train/test split; validation = 20 % of train, stratified, seed 1337. "
            "default: the 2 patients with recordings in both official splits (156, 218) go wholly to test and the "
            "validation set is carved by patient, so no patient is in two splits. reference: the official split "
            "as published (2 patients leak) and a recording-level validation carve-out as in the OPERA code; the "
            "carve-out runs over recordings in sorted-name order (OPERA used its file system's glob order), so "
            "the sizes match the reference (369/93/366) but not necessarily the membership."
        ),
        expected_counts={"train": 369, "val": 93, "test": 366},
        suites=("acula18", "opera"),
        opera_task=7,
        probe_options={"epochs": 64, "batch_size": 32, "l2_strength": 1e-5},
        description="Patient-level COPD diagnosis from stethoscope recordings of the ICBHI 2017 challenge database.",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
