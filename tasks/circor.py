"""CirCor DigiScope Phonocardiogram Dataset (PhysioNet Challenge 2022): murmur (T17) and clinical outcome (X04).

Publisher layout (``<data-root>/the-circor-digiscope-phonocardiogram-dataset-1.0.3/``,
the unzipped PhysioNet v1.0.3 release): ``training_data.csv`` (one row per
patient, ``Patient ID`` first) and ``training_data/`` holding, per patient,
``<pid>.txt`` and, per recording, ``<pid>_<loc>.wav`` (``<pid>_<loc>_<k>.wav``
when a location was recorded more than once) with its ``.hea`` header and
``.tsv`` segmentation: 942 patients, 3163 recordings at 4 kHz.

``<pid>.txt`` is the authoritative metadata: a first line ``<pid> <number of
recordings> <sampling rate>``, one line ``<loc> <hea> <wav> [<tsv>]`` per
recording (locations AV, PV, TV, MV and Phc, "any other point"), then
``#Key: value`` lines (Age, Sex, Height, Weight, Pregnancy status, Murmur,
Murmur locations, Most audible location, systolic and diastolic murmur
timing/shape/grading/pitch/quality, Outcome, Campaign, Additional ID), with
missing values written ``nan``. A child screened in both campaigns has two
patient ids, each file naming the other as ``#Additional ID``; such a pair is
one subject (the smaller id; ``patient`` keeps each id), so no split
separates a child from itself. The CSV only supplies the patient list (its
copy of the fields is not read: its Age disagrees with the .txt files for a
few patients, and some copies lack Outcome).

Splits: the Challenge's validation (149 patients) and test (477) sets are not
in the public release. A user who has them in the same format
(``validation_data.csv`` + ``validation_data/``, ``test_data.csv`` +
``test_data/`` next to the training set) gets them as the official
train/val/test split. Otherwise the training set is split by patient, once
for both tasks (so the two tasks' test patients coincide and the alignment
corpus loses only them), stratified by murmur x outcome (sklearn
``train_test_split``, seed 42: 20 % of patients test, then 10 % of all
patients validation; strata of fewer than 3 patients fall back to the murmur
alone). ``--task-arg split=official|seeded`` forces either (``auto``, the
default, takes the official split when it is there).

Labels are the Challenge's patient-level labels, carried by every recording
of the patient (also recordings from locations where the murmur is not
audible; ``murmur_audible_here`` says which). T17: murmur Present (1) vs
Absent (0); patients whose murmur is Unknown (not assessable) are dropped and
counted. X04: outcome Abnormal (1) vs Normal (0), the cardiologist's overall
assessment, for every patient.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

#: The seeded patient split used when the official validation/test sets are absent.
TEST_FRACTION, VAL_OF_ALL, SPLIT_SEED = 0.2, 0.1, 42

DATASET = DatasetSpec(
    id="circor",
    name="CirCor DigiScope Phonocardiogram Dataset",
    folder="the-circor-digiscope-phonocardiogram-dataset-1.0.3",
    url="https://physionet.org/content/circor-heart-sound/1.0.3/",
    license="ODC-By 1.0",
    access="public",
    layout=("training_data.csv and training_data/ with <pid>.txt (#Key: value metadata) and <pid>_<loc>[_<k>].wav "
            "per recording (the unzipped PhysioNet v1.0.3 release: 942 patients, 3163 recordings); optionally the "
            "Challenge's validation_data.csv + validation_data/ and test_data.csv + test_data/ in the same format"),
    citation=("Oliveira J et al. The CirCor DigiScope Dataset: From Murmur Detection to Murmur Classification. "
              "IEEE Journal of Biomedical and Health Informatics, 2022, doi:10.1109/JBHI.2021.3137048. Oliveira J et "
              "al. The CirCor DigiScope Phonocardiogram Dataset (version 1.0.3). PhysioNet, 2022, "
              "doi:10.13026/tshs-mw03."),
    check="acubench.tasks._circor_reader:check",
    recordings="acubench.tasks._circor_reader:recordings",
    options={"split": "auto (default: the Challenge's official sets when present), official or seeded"},
)

_SPLIT_NOTES = (
    "Patient-level: every recording (one per auscultation location) carries its patient's label and all of a "
    "patient's recordings sit in one split. With the Challenge's validation_data/ and test_data/ present they are "
    "the official val/test split (training_data/ is train); otherwise the public training set is split by patient, "
    "with one split for T17 and X04 stratified by murmur x outcome (sklearn train_test_split, seed "
    f"{SPLIT_SEED}: {TEST_FRACTION:.0%} of patients test, then {VAL_OF_ALL:.0%} of all patients validation). "
    "--task-arg split=official|seeded forces either; the manifest's split_source says which was used."
)
_PROBE = {"epochs": 64, "batch_size": 64, "l2_strength": 1e-5}

TASKS = [
    TaskSpec(
        id="T17",
        name="circor-murmur",
        dataset="circor",
        loader="acubench.tasks._circor_reader:load",
        loader_args={"column": "Murmur", "positive": "Present", "negative": "Absent"},
        kind="binary",
        modality="heart sounds",
        target="heart murmur present vs absent (patient-level Challenge label, per recording)",
        classes=("absent", "present"),
        class_prompts=(
            "Heart sounds of a child with normal S1 and S2 and no heart murmur.",
            "Heart sounds of a child with a heart murmur between the heart sounds.",
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocol_notes=_SPLIT_NOTES + " Patients whose murmur is 'Unknown' (not assessable; 68 of the 942 public "
                                      "training patients) are excluded and counted in the log.",
        suites=("acula18",),
        probe_options=_PROBE,
        description="Murmur detection from paediatric phonocardiograms of the CirCor DigiScope dataset "
                    "(PhysioNet Challenge 2022).",
    ),
    TaskSpec(
        id="X04",
        name="circor-outcome",
        dataset="circor",
        loader="acubench.tasks._circor_reader:load",
        loader_args={"column": "Outcome", "positive": "Abnormal", "negative": "Normal"},
        kind="binary",
        modality="heart sounds",
        target="clinical outcome abnormal vs normal (cardiologist's overall assessment, per recording)",
        classes=("normal", "abnormal"),
        class_prompts=(
            "Heart sounds of a child whose cardiac assessment was normal.",
            "Heart sounds of a child whose cardiac assessment found an abnormality needing follow-up.",
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocol_notes=_SPLIT_NOTES + " All patients are used, whatever their murmur status.",
        suites=("extra",),
        probe_options=_PROBE,
        description="Abnormal vs normal clinical outcome from the CirCor DigiScope phonocardiograms (the "
                    "Challenge's outcome task).",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
