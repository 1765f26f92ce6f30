"""MMLung: spirometry (FVC, FEV1, FEV1/FVC) from a deep breath or a sustained vowel (T10–T15, OPERA tasks 13–18).

Publisher layout (``<data-root>/mmlung/``, the archive the University of
Southampton sends on request): ``Trimmed Data from phone/`` (OPERA's
processing script spells it ``Trimmed_Data_from_phone/``; both are accepted)
with, per participant ``<idx>``, ``9_3_deepbreath/<idx>_deepbreaths.wav`` and
``5_2_O_single/<idx>_vowelo.wav`` (the other modality folders of the
download are not used), and ``spirometry_ground_truth/<idx>_*.xls``, one
spirometer report per participant whose cells B23, B24 and B25 hold FVC (L),
FEV1 (L) and FEV1/FVC (as printed, a '*' flag removed).

Ground truth, first found of: the table ``All_path.csv``; the table OPERA's
``datasets/mmlung/extract_mmlung.py`` writes, ``All_path.xlsx`` (columns
``Spirometry_file``, ``FVC``, ``FEV1``, ``FEV1/FVC``; read with ``openpyxl``
when installed); or the publisher's ``.xls`` reports themselves, cells B23–B25,
read with ``xlrd`` (legacy Excel; ``pip install 'acubench[xls]'``), so a user
with the download as shipped needs no conversion step. The participant of a row is the file-name
prefix of ``Spirometry_file`` (``./spirometry_ground_truth/12_x.xls`` → 12);
the audio is found from the participant and the layout above, as OPERA's
script derives it.

Protocol: leave-one-subject-out over the 40 participants (manifest split
``pool``), one recording per participant and task.
"""

from __future__ import annotations

from acubench.hookspecs import contribute
from acubench.specs import DatasetSpec, TaskSpec

AUDIO_DIRS = ("Trimmed Data from phone", "Trimmed_Data_from_phone")
SPIROMETRY_DIR = "spirometry_ground_truth"
TABLE_XLSX, TABLE_CSV = "All_path.xlsx", "All_path.csv"

#: Target key → (column of All_path, the spirometer report cell it came from, unit words).
TARGETS = {"fvc": ("FVC", "B23", "forced vital capacity FVC (L)"),
           "fev1": ("FEV1", "B24", "forced expiratory volume in 1 s FEV1 (L)"),
           "fev1_fvc": ("FEV1/FVC", "B25", "FEV1/FVC ratio (as reported by the spirometer)")}
N_PARTICIPANTS = 40
#: OPERA's validation carve-out inside each fold: train_test_split(test_size=0.11, random_state=42) over the
#: 39 remaining rows, i.e. ceil(0.11 * 39) = 5 rows. acubench's probe rounds fraction * rows, hence 5/39.
REFERENCE_VAL_ROWS, REFERENCE_VAL_SEED = 5, 42

DATASET = DatasetSpec(
    id="mmlung",
    name="MMLung multimodal lung function dataset",
    folder="mmlung",
    url="https://github.com/MohammedMosuily/mmlung",
    license="custom licence, (c) 2022 University of Southampton: research, education and evaluation only, "
            "credit required (free commercial licence on request)",
    access="on request (mtm1g19@soton.ac.uk)",
    layout=(f"'{AUDIO_DIRS[0]}/' with 9_3_deepbreath/<idx>_deepbreaths.wav and 5_2_O_single/<idx>_vowelo.wav, "
            f"'{SPIROMETRY_DIR}/' with the <idx>_*.xls spirometer reports, and the ground-truth table "
            f"{TABLE_XLSX} written from them by OPERA's datasets/mmlung/extract_mmlung.py (or the same table saved "
            f"as {TABLE_CSV}; columns Spirometry_file, FVC, FEV1, FEV1/FVC)"),
    citation=("Mosuily M, Welch L, Chauhan J. MMLung: Moving Closer to Practical Lung Health Estimation using "
              "Smartphones. Interspeech 2023."),
    check="acubench.tasks._mmlung_reader:check",
    recordings="acubench.tasks._mmlung_reader:recordings",
)

_PROBE_OPTIONS = {
    "epochs": 64, "batch_size": 64, "l2_strength": 0.1,
    "early_stopping_patience": 5, "early_stopping_min_delta": 0.001,
    "checkpoint_every_n_epochs": 3,
    "val_fraction": round(REFERENCE_VAL_ROWS / (N_PARTICIPANTS - 1), 4),
}

MODALITY_WORDS = {"breath": "deep breath", "vowel": 'sustained vowel "o"'}


def _task(task_id: str, opera: int, modality: str, target: str) -> TaskSpec:
    column, cell, words = TARGETS[target]
    return TaskSpec(
        id=task_id,
        name=f"mmlung-{modality}-{target.replace('_', '-')}",
        dataset="mmlung",
        loader="acubench.tasks._mmlung_reader:load",
        loader_args={"recording": modality, "target": target},
        kind="regression",
        modality=MODALITY_WORDS[modality],
        target=words,
        protocol="loso",
        clip_seconds=1.0,
        protocol_notes=(
            f"Leave-one-subject-out over the {N_PARTICIPANTS} participants, one {MODALITY_WORDS[modality]} "
            f"recording each; target {column} from cell {cell} of the participant's spirometer report (via "
            f"{TABLE_XLSX}/{TABLE_CSV}). Validation inside a fold: OPERA takes train_test_split(test_size=0.11, "
            f"random_state={REFERENCE_VAL_SEED}) of the 39 training rows (5 rows, the same row positions in every "
            "fold); here 5/39 of the training participants are drawn per fold with acubench's seeds. With one row "
            "per participant, row- and subject-level validation coincide, so the default is leak-free and the "
            "same design as the reference. Linear head as OPERA: l2 0.1, 64 epochs, batch 64, early stopping on "
            "validation MAE (patience 5, min_delta 0.001), best checkpoint among every 3rd epoch. OPERA-CE: whole "
            "clip, repeat-padded to 1 s; OPERA-CT: zero-padded to 20 s; OPERA-GT: 5 s windows, 50 % overlap. "
            "Score: mean MAE over folds."
        ),
        expected_counts={"pool": N_PARTICIPANTS},
        suites=("acula18", "opera"),
        opera_task=opera,
        probe_options=dict(_PROBE_OPTIONS),
        description=f"{words} from a smartphone recording of a {MODALITY_WORDS[modality]}, leave-one-subject-out.",
    )


TASKS = [
    _task("T10", 13, "breath", "fvc"),
    _task("T11", 14, "breath", "fev1"),
    _task("T12", 15, "breath", "fev1_fvc"),
    _task("T13", 16, "vowel", "fvc"),
    _task("T14", 17, "vowel", "fev1"),
    _task("T15", 18, "vowel", "fev1_fvc"),
]

plugin = contribute(datasets=[DATASET], tasks=TASKS)
