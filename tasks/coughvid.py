"""COUGHVID crowdsourcing dataset: COVID-19 vs healthy (T03) and sex (T04) from a cough.

Publisher layout (``<data-root>/coughvid/``): the unzipped ``public_dataset/``
of Zenodo record 4048312 (``<uuid>.webm`` / ``<uuid>.ogg`` recordings, their
``.json`` and ``metadata_compiled.csv``; the metadata may also sit directly in
the dataset folder, as in the OPERA layout). ``acubench data prepare coughvid``
converts the recordings to ``wav/<uuid>.wav`` (16 kHz mono, FFmpeg). A
``wav/`` folder made by OPERA's ``coughvid_wav.py`` works too: that script
names the WAV of an ``.ogg`` recording ``<uuid minus its last character>.wav``,
and the loader falls back to that name as OPERA's loader does.

Split recipe (OPERA ``coughvid_split.py``, re-created here from the
publisher's metadata; it reproduces OPERA's shipped uuid lists exactly on the
20,072-row metadata of that release): keep ``cough_detected >= 0.8``; test =
1031 female + 1924 male recordings (``DataFrame.sample(random_state=0)``);
the rest → train/val with ``train_test_split(test_size=0.25,
random_state=100)``. Both tasks use these lists. For T03 the split script also
draws a COVID test set (2237 healthy + 172 COVID-19 of the test recordings,
``random_state=0``), which OPERA's processing then leaves unused: it scores
every labelled recording of the sex test set instead. The default protocol
uses the drawn COVID test set; ``reference`` reproduces OPERA's 2507.
CoughVID has no participant ids: each recording is its own subject.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

SOURCE_DIR = "public_dataset"
WAV_DIR = "wav"
METADATA = "metadata_compiled.csv"

DATASET = DatasetSpec(
    id="coughvid",
    name="COUGHVID crowdsourcing dataset",
    folder="coughvid",
    url="https://zenodo.org/records/4048312",
    license="CC BY 4.0",
    access="public",
    layout=(f"{SOURCE_DIR}/ (unzipped public_dataset.zip: <uuid>.webm|.ogg recordings, <uuid>.json and {METADATA}; "
            f"{METADATA} may also sit directly in the dataset folder), then {WAV_DIR}/<uuid>.wav made by "
            "`acubench data prepare coughvid` (needs FFmpeg)"),
    citation=("Orlandic L, Teijeiro T, Atienza D. The COUGHVID crowdsourcing dataset, a corpus for the study of "
              "large-scale cough analysis algorithms. Scientific Data 8:156, 2021."),
    check="acubench.tasks._coughvid_reader:check",
    recordings="acubench.tasks._coughvid_reader:recordings",
    prepare="acubench.tasks._coughvid_reader:prepare",
)
_COMMON_NOTES = (
    "Re-created from OPERA's coughvid_split.py on the publisher's metadata: cough_detected >= 0.8; test = 1031 "
    "female + 1924 male recordings (pandas sample, random_state=0); rest -> train/val 75/25 "
    "(train_test_split random_state=100). Each recording is its own subject (no participant ids). "
)

TASKS = [
    TaskSpec(
        id="T03",
        name="coughvid-covid",
        dataset="coughvid",
        loader="acubench.tasks._coughvid_reader:load",
        loader_args={"target": "covid"},
        kind="binary",
        modality="cough",
        target="COVID-19 vs healthy (self-reported status)",
        classes=("healthy", "COVID-19"),
        class_prompts=(
            "Voluntary cough of a healthy person without COVID-19.",
            "Cough of a person with COVID-19.",
        ),
        protocol="fixed",
        clip_seconds=2.0,
        protocols=("default", "reference"),
        protocol_notes=_COMMON_NOTES + (
            "default: test = the COVID test set the split script draws from the sex test set (2237 healthy + 172 "
            "COVID-19, random_state=0); the other labelled test recordings are not used. reference: test = every "
            "recording of the sex test set labelled healthy or COVID-19 (2507), as OPERA's processing does (it "
            "never loads its own coughvid_covid_test_uuids.npy)."
        ),
        expected_counts={"train": 2749, "val": 919, "test": 2507},
        suites=("acula18", "opera"),
        opera_task=5,
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 1e-5},
        description="Self-reported COVID-19 status from a crowdsourced cough recording.",
    ),
    TaskSpec(
        id="T04",
        name="coughvid-sex",
        dataset="coughvid",
        loader="acubench.tasks._coughvid_reader:load",
        loader_args={"target": "sex"},
        kind="binary",
        modality="cough",
        target="sex",
        classes=("male", "female"),
        class_prompts=(
            "Cough recorded from a male participant.",
            "Cough recorded from a female participant.",
        ),
        protocol="fixed",
        clip_seconds=2.0,
        protocol_notes=_COMMON_NOTES + "Recordings whose gender is 'other', 'pnts' or empty are not used.",
        expected_counts={"train": 3218, "val": 1090, "test": 2955},
        suites=("acula18", "opera"),
        opera_task=6,
        probe_options={"epochs": 64, "batch_size": 64, "l2_strength": 1e-5},
        description="Sex of the participant from a crowdsourced cough recording.",
    ),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
