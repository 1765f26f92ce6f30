"""SPRSound (SJTU paediatric respiratory sounds): record-level normal vs adventitious (X05).

Publisher layout (``<data-root>/SPRSound/``, a clone of
github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound): the BioCAS 2022 challenge
release ``BioCAS2022/`` with ``train2022_wav/`` + ``train2022_json/`` (1949
recordings, 251 patients), ``test2022_wav/`` and ``test2022_json/`` split into
``inter_test_json/`` (355 recordings of 41 patients not in training) and
``intra_test_json/`` (379 recordings of 162 training patients). Optionally
``Patient Summary/SPRSound_patient_summary.csv`` (patient_num, disease, age,
gender) for the corpus.

File names are ``<patient>_<age in years>_<sex 0 male / 1 female>_<location
p1-p4>_<recording number>.wav``; each JSON holds the record-level label
(``record_annotation``, spelled ``recording_annotation`` in the README:
Normal, CAS, DAS, CAS & DAS, Poor Quality) and the respiratory events (start
and end in ms, type).

Task: the challenge's record-level task 2 reduced to normal (0) vs
adventitious (1: CAS, DAS or both); Poor Quality records are dropped and
counted. default: train = the training release with 20 % of its patients as
validation (stratified, seed 1337), test = the inter-patient test set; the
intra-patient test set is dropped because its patients are in training.
challenge: the BioCAS 2022 split as published, test = inter + intra test sets
(leaks patients; for comparison with challenge results only).
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

RELEASE = "BioCAS2022"

SUMMARY = "Patient Summary/SPRSound_patient_summary.csv"

VAL_FRACTION, VAL_SEED = 0.2, 1337

DATASET = DatasetSpec(
    id="sprsound",
    name="SPRSound: SJTU Paediatric Respiratory Sound Database",
    folder="SPRSound",
    url="https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound",
    license="CC BY 4.0",
    access="public",
    layout=(f"{RELEASE}/train2022_wav/ + {RELEASE}/train2022_json/ and {RELEASE}/test2022_wav/ + "
            f"{RELEASE}/test2022_json/{{inter_test_json,intra_test_json}}/ (<patient>_<age>_<sex>_<p1-p4>_<n>.wav "
            f"and .json), optionally '{SUMMARY}'"),
    citation=("Zhang Q, Zhang J, Yuan J et al. SPRSound: Open-Source SJTU Paediatric Respiratory Sound Database. "
              "IEEE Transactions on Biomedical Circuits and Systems 16(5):867-881, 2022."),
    check="acubench.tasks._sprsound_reader:check",
    recordings="acubench.tasks._sprsound_reader:recordings",
)
TASKS = [
    TaskSpec(
        id="X05",
        name="sprsound-adventitious",
        dataset="sprsound",
        loader="acubench.tasks._sprsound_reader:load",
        kind="binary",
        modality="lung sounds",
        target="record-level normal vs adventitious sounds (CAS, DAS or both)",
        classes=("normal", "adventitious"),
        class_prompts=(
            "Normal vesicular breath sounds of a child, without adventitious sounds.",
            "Lung sounds of a child with adventitious sounds such as wheezes, rhonchi or crackles.",
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocols=("default", "challenge"),
        protocol_notes=(
            "BioCAS 2022 record-level labels, Poor Quality records dropped. default: training release split by "
            f"patient into train and validation ({VAL_FRACTION:.0%} of patients, stratified, seed {VAL_SEED}); test = "
            "the inter-patient test set; the intra-patient test set is dropped (its patients are in training). "
            "challenge (leaks patients): test = inter + intra test sets, as in the challenge."
        ),
        suites=("extra",),
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 1e-5},
        description="Adventitious respiratory sounds in paediatric auscultation recordings (SPRSound, BioCAS 2022).",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
