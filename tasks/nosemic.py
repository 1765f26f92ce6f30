"""NoseMic: respiratory rate from nasal breathing sounds (T16, OPERA task 19).

Publisher layout (``<data-root>/nosemic/``, the Google Drive folder linked
from OPERA's ``datasets/nosemic/README.md``): the ``audio/`` folder with one
recording per file, named ``<uid>_<x>_<y>_<rate>.wav``, where ``uid`` is the
participant, ``x`` and ``y`` identify the recording within the participant's
session (kept verbatim in ``recording``) and ``rate`` is the reference
respiratory rate (breaths per minute, a decimal number) — the regression
target. No metadata table.

Protocol: leave-one-subject-out over participants (manifest split ``pool``).
OPERA folds over the 16 uids 4–14 and 17–21; every one of them must be
present. A uid outside that list is a training-only subject, as in OPERA
(manifest split ``train``: never a test fold; the loader logs it).
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

AUDIO_DIR = "audio"
#: The participants OPERA's linear evaluation leaves out one at a time (``linear_eval.py``).
REFERENCE_UIDS = ("4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "17", "18", "19", "20", "21")
#: OPERA's validation carve-out inside each fold: a random 20 % of the training rows, seed 42.
REFERENCE_VAL_FRACTION, REFERENCE_VAL_SEED = 0.2, 42

DATASET = DatasetSpec(
    id="nosemic",
    name="NoseMic nasal breathing sounds",
    folder="nosemic",
    url="https://drive.google.com/drive/folders/1uVcfw8Us3IwUYRGLxJyp6lOLmaXlJmcT",
    license="custom licence, (c) 2024 University of Cambridge, all rights reserved (see the download)",
    access="public",
    layout=f"the folder {AUDIO_DIR}/ with the recordings <uid>_<x>_<y>_<respiratory rate>.wav",
    citation=("Distributed with: Zhang Y, Xia T, Han J, Wu Y, Rizos G, Liu Y, Mosuily M, Chauhan J, Mascolo C. "
              "Towards Open Respiratory Acoustic Foundation Models: Pretraining and Benchmarking. NeurIPS 2024 "
              "Datasets and Benchmarks Track (OPERA)."),
    check="acubench.tasks._nosemic_reader:check",
    recordings="acubench.tasks._nosemic_reader:recordings",
)

TASKS = [
    TaskSpec(
        id="T16",
        name="nosemic-respiratory-rate",
        dataset="nosemic",
        loader="acubench.tasks._nosemic_reader:load",
        kind="regression",
        modality="nasal breathing",
        target="respiratory rate (breaths per minute)",
        protocol="loso",
        clip_seconds=1.0,
        protocol_notes=(
            "Leave-one-subject-out over the participants (uid = first file-name field); OPERA's folds are the 16 "
            f"uids {', '.join(REFERENCE_UIDS)}, all required. Validation inside a fold: OPERA takes a random "
            f"{REFERENCE_VAL_FRACTION:.0%} of the training rows (sklearn train_test_split, random_state="
            f"{REFERENCE_VAL_SEED}), so a participant's rows straddle train and validation; the default here carves "
            f"{REFERENCE_VAL_FRACTION:.0%} of the training participants (probe option val_split=rows gives the "
            "reference's row-level carve-out with acubench's seeds). OPERA-CE: whole clip, repeat-padded to 1 s; "
            "OPERA-CT: repeat-padded to 30 s; OPERA-GT: 8 s windows, 50 % overlap. Score: mean MAE over folds."
        ),
        suites=("acula18", "opera"),
        opera_task=19,
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 0.1, "val_fraction": REFERENCE_VAL_FRACTION},
        description="Respiratory rate estimation from nasal breathing sounds, leave-one-subject-out.",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
