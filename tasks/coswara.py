"""Coswara: smoker (T06) and sex (T07) from a shallow cough.

Publisher layout (``<data-root>/Coswara-Data/``, a clone of
github.com/iiscleap/Coswara-Data after its ``extract_data.py``):
``combined_data.csv`` (one row per participant: ``id``, ``a`` age, ``g``
gender, ``smoker``, ``covid_status``, symptom and comorbidity flags),
``annotations/<sound>_labels.csv`` (``FILENAME, QUALITY``: ``<id>_<sound>`` →
0 bad / 1 good / 2 excellent) and ``Extracted_data/<YYYYMMDD>/<id>/<sound>.wav``.

Recipe (OPERA ``coswara_processing.py`` + ``linear_eval.py --mapgoogle``):
participants in ``combined_data.csv`` order; drop recordings rated 0, the two
participants with broken audio and the one without a shallow cough; keep
participants labelled for the target who have *both* a heavy and a shallow
cough ("aligned"); the task uses the shallow cough. Test set: the HeAR-style
draw — ``np.random.seed(42)``, shuffle the positive then the negative indices,
take the first 43 smokers / 58 non-smokers (174 female / 478 male) — then
20 % of the rest goes to validation (stratified, ``random_state=1337``). One
recording per participant, so the split is subject-independent.
"""

from __future__ import annotations

from dataclasses import dataclass

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

METADATA = "combined_data.csv"
ANNOTATIONS = "annotations"
AUDIO_DIR = "Extracted_data"


@dataclass(frozen=True)
class GoogleSplit:
    """OPERA's HeAR-aligned test draw: this many positives and negatives, ``np.random.seed(seed)``."""

    n_positive: int
    n_negative: int
    seed: int = 42


#: Test-set sizes per target (positives = smokers / females).
TEST_DRAWS = {"smoker": GoogleSplit(43, 58), "sex": GoogleSplit(174, 478)}
VAL_FRACTION = 0.2
VAL_SEED = 1337

DATASET = DatasetSpec(
    id="coswara",
    name="Coswara",
    folder="Coswara-Data",
    url="https://github.com/iiscleap/Coswara-Data",
    license="CC BY 4.0",
    access="public",
    layout=(f"{METADATA}, {ANNOTATIONS}/<sound>_labels.csv and {AUDIO_DIR}/<YYYYMMDD>/<id>/<sound>.wav (clone the "
            "repository and run its extract_data.py, which unpacks the dated .tar.gz parts into Extracted_data/)"),
    citation=("Bhattacharya D et al. Coswara: A respiratory sounds and symptoms dataset for COVID-19 diagnosis. "
              "Scientific Data 10:397, 2023. Sharma N et al. Coswara - a database of breathing, cough, and voice "
              "sounds for COVID-19 diagnosis. Interspeech 2020."),
    check="acubench.tasks._coswara_reader:check",
    recordings="acubench.tasks._coswara_reader:recordings",
)

_NOTES = ("Participants with both a heavy and a shallow cough (quality > 0, labelled), in combined_data.csv order; "
          "test = OPERA's HeAR-aligned draw (np.random.seed(42); shuffle positives then negatives; first {pos} {p} "
          "and {neg} {n}); validation = 20 % of the rest, stratified, random_state=1337. One recording per "
          "participant. OPERA-CE sees the clip repeat-padded to 2 s, OPERA-CT to 8 s, OPERA-GT the 8 s-padded clip "
          "in non-overlapping 256-frame (8.192 s) chunks, as in OPERA's precomputed Coswara spectrograms.")


def _task(task_id: str, target: str, opera_task: int, classes: tuple[str, str], prompts: tuple[str, str],
          counts: dict[str, int]) -> TaskSpec:
    draw = TEST_DRAWS[target]
    return TaskSpec(
        id=task_id,
        name=f"coswara-{target}",
        dataset="coswara",
        loader="acubench.tasks._coswara_reader:load",
        loader_args={"target": target},
        kind="binary",
        modality="cough (shallow)",
        target=target,
        classes=classes,
        class_prompts=prompts,
        protocol="fixed",
        clip_seconds=2.0,
        protocol_notes=_NOTES.format(pos=draw.n_positive, p=classes[1], neg=draw.n_negative, n=classes[0]),
        expected_counts=counts,
        suites=("acula18", "opera"),
        opera_task=opera_task,
        probe_options={"epochs": 64, "batch_size": 32, "l2_strength": 1e-5, "val_fraction": VAL_FRACTION,
                       "val_seed": VAL_SEED},
        description=f"{'Smoking status' if target == 'smoker' else 'Sex'} of the participant from a shallow cough "
                    "recorded on a smartphone or computer (Coswara crowdsourced data).",
    )


TASKS = [
    _task("T06", "smoker", 8, ("non-smoker", "smoker"),
          ("Shallow cough of a person who does not smoke.", "Shallow cough of a current smoker."),
          {"train": 677, "val": 170, "test": 101}),
    _task("T07", "sex", 9, ("male", "female"),
          ("Shallow cough of a male participant.", "Shallow cough of a female participant."),
          {"train": 1475, "val": 369, "test": 652}),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
