"""RespiratoryDatabase@TR: COPD severity 0–4 from 12-channel lung sounds (T09, OPERA task 11).

Publisher layout (``<data-root>/RespiratoryDatabase@TR/``, Mendeley Data
p9z4h98s6j v1): the 504 lung-sound files ``H0xx_<channel>.wav``, 42 patients ×
12 auscultation channels ``L1``–``L6`` (left) and ``R1``–``R6`` (right), one
mono file per channel; they may sit directly in the folder or in the
``RespiratoryDatabase@TR/`` folder the archive unzips to. Next to them the
label table ``Labels.csv`` (header ``Patient ID,Diagnosis,`` with a UTF-8 BOM
and a trailing empty column, rows such as ``H002,COPD4,``; the OPERA repository
ships it as ``datasets/copd/Labels.csv`` next to ``Labels.xlsx``, sheet
"Sayfa1", with the same data). The Mendeley record ships the table as
``Labels.xlsx``; it is read as shipped with ``pip install 'acubench[xls]'``
(openpyxl; checked against OPERA's copy: the same 42 patients as its CSV).

Labels: ``COPD<k>`` → class ``k`` (0–4), the patient's COPD severity grade,
given to each of the patient's 12 channel files.

Split: OPERA's patient-level recipe, which is subject-independent and so is
the default protocol as it stands. Patients in ``Labels.csv`` order,
``train_test_split(test_size=0.2, random_state=1337, stratify=grade)``, then
the same call (0.2, seed 1337, stratified) on the remainder for validation:
26/7/9 patients, 312/84/108 files on the full data.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

AUDIO_SUBDIR = "RespiratoryDatabase@TR"
LABELS_CSV = "Labels.csv"
LABELS_XLSX = "Labels.xlsx"
PATIENT_COLUMN, DIAGNOSIS_COLUMN = "Patient ID", "Diagnosis"
GRADES = tuple(f"COPD{k}" for k in range(5))

#: OPERA's two-stage patient split: test fraction of all patients, validation fraction of the rest, seed.
TEST_FRACTION, VAL_FRACTION, SPLIT_SEED = 0.2, 0.2, 1337
DATASET = DatasetSpec(
    id="resptr",
    name="RespiratoryDatabase@TR",
    folder="RespiratoryDatabase@TR",
    url="https://data.mendeley.com/datasets/p9z4h98s6j/1",
    license="CC BY 4.0",
    access="public",
    layout=(f"the 504 lung-sound files H0xx_<L1..L6|R1..R6>.wav (42 patients x 12 channels), directly in the "
            f"folder or in its {AUDIO_SUBDIR}/ subfolder, and the label table {LABELS_CSV} (columns "
            f"'{PATIENT_COLUMN}', '{DIAGNOSIS_COLUMN}' with COPD0..COPD4, as in OPERA's datasets/copd/), or "
            f"{LABELS_XLSX} with the same columns when openpyxl is installed"),
    citation=("Altan G, Kutlu Y, Garbi Y, Pekmezci AO, Nural S. Multimedia Respiratory Database "
              "(RespiratoryDatabase@TR): Auscultation Sounds and Chest X-rays. Natural and Engineering Sciences "
              "2(3):59-72, 2017."),
    check="acubench.tasks._resptr_reader:check",
    recordings="acubench.tasks._resptr_reader:recordings",
)
TASKS = [
    TaskSpec(
        id="T09",
        name="resptr-copd-severity",
        dataset="resptr",
        loader="acubench.tasks._resptr_reader:load",
        kind="multiclass",
        modality="lung sounds",
        target="COPD severity grade 0-4 (patient diagnosis, per auscultation channel)",
        classes=GRADES,
        class_prompts=(
            "Lung sounds of a person at COPD severity grade 0, without airflow limitation.",
            "Lung sounds of a patient with mild COPD (severity grade 1).",
            "Lung sounds of a patient with moderate COPD (severity grade 2).",
            "Lung sounds of a patient with severe COPD (severity grade 3), with diminished breath sounds or wheezes.",
            ("Lung sounds of a patient with very severe COPD (severity grade 4), with markedly diminished breath "
             "sounds, wheezes or crackles."),
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocol_notes=(
            "OPERA's patient-level split, reproduced exactly: patients in Labels.csv order, sklearn "
            f"train_test_split(test_size={TEST_FRACTION}, random_state={SPLIT_SEED}, stratified by grade), then "
            f"{VAL_FRACTION} of the rest as validation (same seed, stratified): 26/7/9 patients, all 12 channel "
            "files of a patient in one split. Each channel file is a clip; macro one-vs-rest AUROC over 5 grades."
        ),
        expected_counts={"train": 312, "val": 84, "test": 108},
        suites=("acula18", "opera"),
        opera_task=11,
        probe_options={"epochs": 64, "batch_size": 32, "l2_strength": 1e-5},
        description="COPD severity (grades 0-4) from 12-channel chest-wall lung sounds of 42 patients.",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
