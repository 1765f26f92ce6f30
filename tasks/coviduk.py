"""UK COVID-19 Vocal Audio Dataset (open access edition): COVID-19 PCR result from exhalation (T01) and cough (T02).

Publisher layout (``<data-root>/uk-covid19-vocal-audio-dataset-open-access-edition/``,
unpacked from Zenodo record 10043978): ``participant_metadata.csv``
(``participant_identifier``, ``covid_test_result``, demographics, ``symptom_*``),
``audio_metadata.csv`` (``participant_identifier``, ``exhalation_file_name``,
``cough_file_name``, ``three_cough_file_name``, ``*_size``…),
``train_test_splits.csv`` (``participant_identifier``, ``splits``) and the
audio folder ``audio/`` (the OPERA scripts call it ``audio_selected/``; either
name works).

Protocol (OPERA tasks 1–2): the publisher's participant-level ``splits``
(train/val/test; the longitudinal ``long`` set and unsplit participants are
not used), label = the participant's PCR result (Negative 0, Positive 1). The
benchmark uses a 1000/500/1000 subset of that split. How OPERA drew its subset
is not in its code: it ships the file lists
``{exhalation,cough}_{training,val,testing}_files_downsample.npy``. When those
lists are in the dataset folder (or in the folder given by
``--task-arg reference_lists=DIR``) they are used as they are; otherwise the
subset is a seeded random draw of participants (one recording each) with the
same sizes (:data:`SUBSET_SEED`). ``--task-arg subset=full`` uses the whole
official split instead. The ``reference`` protocol requires the lists.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

PARTICIPANTS = "participant_metadata.csv"
AUDIO_METADATA = "audio_metadata.csv"
SPLITS_FILE = "train_test_splits.csv"

#: Subset sizes of the OPERA benchmark (participants = recordings per split).
SUBSET_SIZES = {"train": 1000, "val": 500, "test": 1000}
#: Seed of the documented fallback draw (OPERA's own draw is not in its code).
SUBSET_SEED = 42

DATASET = DatasetSpec(
    id="coviduk",
    name="UK COVID-19 Vocal Audio Dataset (open access edition)",
    folder="uk-covid19-vocal-audio-dataset-open-access-edition",
    url="https://zenodo.org/records/10043978",
    license="Open Government Licence v3.0",
    access="public",
    layout=(f"{PARTICIPANTS}, {AUDIO_METADATA}, {SPLITS_FILE} and the audio folder audio/ (or audio_selected/) "
            "with the WAV files named in audio_metadata.csv; optionally OPERA's "
            "<modality>_{training,val,testing}_files_downsample.npy subset lists"),
    citation=("Budd J et al. A large-scale and PCR-referenced vocal audio dataset for COVID-19. Scientific Data "
              "11:700, 2024. Coppock H et al. Audio-based AI classifiers show no evidence of improved COVID-19 "
              "screening over simple symptoms checkers. Nature Machine Intelligence 6:229-242, 2024."),
    check="acubench.tasks._coviduk_reader:check",
    recordings="acubench.tasks._coviduk_reader:recordings",
    options={"subset": "full, or train/val/test sizes of the seeded participant draw (default 1000/500/1000)",
             "reference_lists": "folder holding OPERA's <modality>_{training,val,testing}_files_downsample.npy"},
)
_NOTES = (
    "Publisher's participant-level train/val/test split (column 'splits'; 'long' and unsplit participants unused), "
    "label = PCR result. Subset of 1000/500/1000 recordings: OPERA's shipped *_files_downsample.npy lists when "
    "they are in the dataset folder or --task-arg reference_lists=DIR (exactly the reference), otherwise a seeded "
    f"draw of participants with the same sizes (numpy RandomState({SUBSET_SEED}), participants sorted by id, "
    "train then val then test); --task-arg subset=full uses the whole split. reference: requires the lists."
)


def _task(task_id: str, modality: str, opera_task: int, prompts: tuple[str, str]) -> TaskSpec:
    return TaskSpec(
        id=task_id,
        name=f"coviduk-{modality}-covid",
        dataset="coviduk",
        loader="acubench.tasks._coviduk_reader:load",
        loader_args={"sound": modality},
        kind="binary",
        modality=modality,
        target="COVID-19 PCR test result",
        classes=("negative", "positive"),
        class_prompts=prompts,
        protocol="fixed",
        clip_seconds=2.0,
        protocols=("default", "reference"),
        protocol_notes=_NOTES,
        expected_counts=dict(SUBSET_SIZES),
        suites=("acula18", "opera"),
        opera_task=opera_task,
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 1e-5},
        description=f"SARS-CoV-2 infection (PCR-confirmed) from a voluntary {modality.replace('_', ' ')} recorded "
                    "on a smartphone (UKHSA 'Speak up and help beat coronavirus' survey).",
    )


TASKS = [
    _task("T01", "exhalation", 1, (
        "Exhalation sounds of a person who tested negative for SARS-CoV-2 by PCR.",
        "Exhalation sounds of a person with a positive SARS-CoV-2 PCR test (COVID-19).")),
    _task("T02", "cough", 2, (
        "Voluntary cough of a person who tested negative for SARS-CoV-2 by PCR.",
        "Voluntary cough of a person with a positive SARS-CoV-2 PCR test (COVID-19).")),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
