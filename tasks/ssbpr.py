"""SSBPR snoring sounds: sleep body position (X03, OPERA task 12).

Data on request (github.com/xiaoli1996/SSBPR). Publisher layout
(``<data-root>/SSBPR/``): ``female/`` and ``male/``, each with sub-folders
holding ``A-B-C.wav``: ``A-B`` identifies the patient, ``C`` the body position
(0 supine, 1 supine with the head turned left, 2 supine with the head turned
right, 3 left lateral, 4 right lateral, 5 prone). Prone snores are dropped, as
in OPERA, which leaves five classes.

Split: OPERA splits the *files* 60/20/20 (sklearn ``train_test_split``, seed
42, stratified by position), so one patient's snores sit in train and test.
default: the same proportions over *patients* (seed 42; unstratified, since
every patient snores in several positions). reference: OPERA's file-level
split over the files in sorted-path order (OPERA used its file system's glob
order, so the sizes match but not necessarily the membership); it leaks
patients and passes only ``validate_manifest(..., allow_leakage=True)``.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

POSITIONS = ("supine", "supine, head turned left", "supine, head turned right", "left lateral", "right lateral",
             "prone")
DROPPED_POSITION = 5

DATASET = DatasetSpec(
    id="ssbpr",
    name="SSBPR: Snore-based Sleep Body Position Recognition",
    folder="SSBPR",
    url="https://github.com/xiaoli1996/SSBPR",
    license="CC BY 4.0 (on request)",
    access="on request",
    layout="female/ and male/, each with sub-folders of A-B-C.wav snores (A-B: patient, C: body position 0-5)",
    citation=("Xiao L, Yang X, Li X et al. A Snoring Sound Dataset for Body Position Recognition: Collection, "
              "Annotation, and Analysis. Interspeech 2023."),
    check="acubench.tasks._ssbpr_reader:check",
    recordings="acubench.tasks._ssbpr_reader:recordings",
)
TASKS = [
    TaskSpec(
        id="X03",
        name="ssbpr-position",
        dataset="ssbpr",
        loader="acubench.tasks._ssbpr_reader:load",
        kind="multiclass",
        modality="snoring",
        target="sleep body position while snoring",
        classes=POSITIONS[:DROPPED_POSITION],
        class_prompts=tuple(f"Snoring of a person sleeping in the {p} position." for p in POSITIONS[:DROPPED_POSITION]),
        protocol="fixed",
        clip_seconds=2.0,
        protocols=("default", "reference"),
        protocol_notes=(
            "Prone (position 5) dropped. default: patient-level 60/20/20 split (sklearn train_test_split over "
            "sorted patient ids, seed 42: 20 % test, then 25 % of the rest validation; unstratified). reference "
            "(known to leak patients): OPERA's file-level split, stratified by position, seed 42, over files in "
            "sorted-path order (OPERA used glob order: same sizes, membership may differ)."
        ),
        suites=("extra", "opera"),
        opera_task=12,
        probe_options={"epochs": 32, "batch_size": 64, "l2_strength": 1e-5, "checkpoint_every_n_epochs": 3},
        description="Sleep body position (5 classes) from snoring sounds.",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
