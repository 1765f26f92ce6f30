"""COVID-19 Sounds (NeurIPS 2021 release, Task 1): COVID-19 from breathing (X01) and cough (X02).

OPERA tasks 3 and 4. Data on request (covid-19-sounds.org, data transfer
agreement). Publisher layout (``<data-root>/covid19-sounds/``, as OPERA
expects it): ``data_0426_en_task1.csv`` (``;``-separated; columns ``Uid``,
``Folder Name``, ``Cough filename``, ``Breath filename``, ``split`` — 0
train, 1 validation, 2 test — and ``label``, 1 = COVID-19 positive) and
``0426_EN_used_task1/<Uid>/<Folder Name>/<file>``, where users of the web form
(``Uid`` starting with "2020") sit under ``form-app-users/`` instead of their
Uid.

Split: the official Task 1 split (one row per participant session;
``subject`` is the Uid). It is participant-level except for 88 participants
(265 sessions) whose test result changed between sessions and whose sessions
sit in two splits; the default protocol puts all sessions of such a
participant in test (as ICBHI's straddling patients), ``reference`` keeps the
published split. The table as published (9456 rows: 6648
train, 894 validation, 1914 test) has 25 rows whose session shares a
``Folder Name`` with another session of the same Uid, the two telling their
recordings apart by file name only; a clip is therefore named by Uid, folder
and file (checked on OPERA's copy of the table: every row loads, no clip twice). default: the whole training split.
reference: OPERA's ``task1_downsample(5)``, which keeps every fifth training
row (``train[::5]`` in table order) and all validation and test rows.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

TABLE = "data_0426_en_task1.csv"
AUDIO_DIR = "0426_EN_used_task1"
FORM_USERS = "form-app-users"

#: OPERA keeps every fifth training row (``task1_downsample(downsampling_factor=5)``).
REFERENCE_TRAIN_STEP = 5

DATASET = DatasetSpec(
    id="covid19sounds",
    name="COVID-19 Sounds (Task 1, English, 2021-04-26 release)",
    folder="covid19-sounds",
    url="https://covid-19-sounds.org/blog/neurips_dataset/",
    license="custom data transfer agreement (research use, on request)",
    access="on request",
    layout=(f"{TABLE} (';'-separated Task 1 table) and {AUDIO_DIR}/<Uid>/<Folder Name>/<breath or cough file>, "
            f"web-form users (Uid starting with 2020) under {AUDIO_DIR}/{FORM_USERS}/<Folder Name>/"),
    citation=("Xia T, Spathis D, Ch J et al. COVID-19 Sounds: A Large-Scale Audio Dataset for Digital Respiratory "
              "Screening. NeurIPS Datasets and Benchmarks Track, 2021."),
    check="acubench.tasks._covid19sounds_reader:check",
    recordings="acubench.tasks._covid19sounds_reader:recordings",
)


def _task(task_id: str, modality: str, opera_task: int) -> TaskSpec:
    return TaskSpec(
        id=task_id,
        name=f"covid19sounds-{modality}-covid",
        dataset="covid19sounds",
        loader="acubench.tasks._covid19sounds_reader:load",
        loader_args={"sound": modality},
        kind="binary",
        modality=modality,
        target="COVID-19 test result (Task 1 label)",
        classes=("negative", "positive"),
        class_prompts=(
            f"A {modality} recording of a person who tested negative for COVID-19.",
            f"A {modality} recording of a person who tested positive for COVID-19.",
        ),
        protocol="fixed",
        clip_seconds=8.0,
        protocols=("default", "reference"),
        protocol_notes=(
            "Official Task 1 split (split column 0/1/2). default: the whole training split, and all sessions of "
            "the 88 participants whose sessions the official split puts in two splits (their test result changed) "
            "in test, so no participant is in two splits. "
            f"reference: the official split as published (it leaks those participants) with OPERA's downsampling, "
            f"every {REFERENCE_TRAIN_STEP}th training row in table order (train[::5]) plus all validation and "
            "test rows."
        ),
        suites=("extra", "opera"),
        opera_task=opera_task,
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 1e-5},
        description=f"COVID-19 detection from {modality} recordings of the COVID-19 Sounds app (Task 1).",
    )


TASKS = [_task("X01", "breath", 3), _task("X02", "cough", 4)]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
