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

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

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
    check="acubench.tasks._kauh_reader:check",
    recordings="acubench.tasks._kauh_reader:recordings",
    options={"reference_split": "OPERA's feature/kauh_eval/train_test_split.npy (with --protocol reference)",
             "reference_files": "OPERA's feature/kauh_eval/sound_dir_loc_subset.npy (with --protocol reference)"},
)
TASKS = [
    TaskSpec(
        id="T08",
        name="kauh-obstructive",
        dataset="kauh",
        loader="acubench.tasks._kauh_reader:load",
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
        probe_options={"epochs": 50, "batch_size": 32, "l2_strength": 1e-5, "checkpoint_every_n_epochs": 5},
        description="Healthy vs obstructive lung disease (asthma, COPD) from chest-wall stethoscope recordings.",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
