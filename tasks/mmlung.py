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

import importlib.util
import logging
import math
from pathlib import Path
from typing import Callable

import pandas as pd

from acubench import hookimpl
from acubench.manifest import POOL, RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import ClipPolicy, DataCheck, DatasetSpec, TaskSpec
from acubench.tasks._common import dataset_folder, log_dropped, read_table, require_audio

log = logging.getLogger(__name__)

AUDIO_DIRS = ("Trimmed Data from phone", "Trimmed_Data_from_phone")
SPIROMETRY_DIR = "spirometry_ground_truth"
TABLE_XLSX, TABLE_CSV = "All_path.xlsx", "All_path.csv"
#: Modality → (folder under the audio folder, file-name suffix), as in OPERA's extract_mmlung.py.
MODALITIES = {"breath": ("9_3_deepbreath", "deepbreaths"), "vowel": ("5_2_O_single", "vowelo")}
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
    check="acubench.tasks.mmlung:check",
    recordings="acubench.tasks.mmlung:recordings",
)

#: OPERA's per-encoder inputs for MMLung: CE the whole clip repeat-padded to >= 1 s (clip_seconds), CT
#: zero-padded to >= 20 s ('zero' padding: clips under half the length are tiled first), GT 5 s windows
#: with 50 % overlap, the tail repeat-padded.
_CLIPS = {
    "opera-ct": ClipPolicy(min_seconds=20.0, pad="zero"),
    "opera-gt": ClipPolicy(pad="repeat", window_seconds=5.0, last_window="pad"),
}

_PROBE_OPTIONS = {
    "epochs": 64, "batch_size": 64, "l2_strength": 0.1,
    "early_stopping_patience": 5, "early_stopping_min_delta": 0.001,
    "checkpoint_every_n_epochs": 3,
    "val_fraction": round(REFERENCE_VAL_ROWS / (N_PARTICIPANTS - 1), 4),
}

_MODALITY_WORDS = {"breath": "deep breath", "vowel": 'sustained vowel "o"'}


def _task(task_id: str, opera: int, modality: str, target: str) -> TaskSpec:
    column, cell, words = TARGETS[target]
    return TaskSpec(
        id=task_id,
        name=f"mmlung-{modality}-{target.replace('_', '-')}",
        dataset="mmlung",
        loader=f"acubench.tasks.mmlung:load_{modality}_{target}",
        kind="regression",
        modality=_MODALITY_WORDS[modality],
        target=words,
        protocol="loso",
        clip_seconds=1.0,
        clip_overrides=dict(_CLIPS),
        protocol_notes=(
            f"Leave-one-subject-out over the {N_PARTICIPANTS} participants, one {_MODALITY_WORDS[modality]} "
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
        expected_counts={POOL: N_PARTICIPANTS},
        suites=("acula18", "opera"),
        opera_task=opera,
        probe_options=dict(_PROBE_OPTIONS),
        description=f"{words} from a smartphone recording of a {_MODALITY_WORDS[modality]}, leave-one-subject-out.",
    )


TASKS = [
    _task("T10", 13, "breath", "fvc"),
    _task("T11", 14, "breath", "fev1"),
    _task("T12", 15, "breath", "fev1_fvc"),
    _task("T13", 16, "vowel", "fvc"),
    _task("T14", 17, "vowel", "fev1"),
    _task("T15", 18, "vowel", "fev1_fvc"),
]


@hookimpl
def acubench_datasets() -> list[DatasetSpec]:
    return [DATASET]


@hookimpl
def acubench_tasks() -> list[TaskSpec]:
    return list(TASKS)


def _participant(spirometry_file: str) -> str:
    """``./spirometry_ground_truth/12_name.xls`` → ``"12"`` (OPERA: basename, extension off, before the first '_')."""
    return Path(str(spirometry_file).replace("\\", "/")).stem.split("_")[0].strip()


def _audio_dir(folder: Path) -> Path | None:
    return next((folder / d for d in AUDIO_DIRS if (folder / d).is_dir()), None)


def _read_xlsx(path: Path) -> pd.DataFrame:
    if importlib.util.find_spec("openpyxl") is None:
        raise DatasetError(f"{path}: reading .xlsx needs the package openpyxl, which is not installed. Either "
                           f"`pip install openpyxl`, or save the sheet as {path.with_name(TABLE_CSV)} (CSV, same "
                           "columns)")
    try:
        df = pd.read_excel(path, engine="openpyxl")
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{path}: cannot read the spirometry table of {DATASET.name} ({exc}). Re-create it "
                           "with OPERA's datasets/mmlung/extract_mmlung.py") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _reports(folder: Path) -> list[Path]:
    reports = folder / SPIROMETRY_DIR
    return sorted(reports.glob("*.xls")) if reports.is_dir() else []


def read_reports(folder: Path) -> pd.DataFrame:
    """The spirometry table read from the publisher's ``.xls`` reports (first sheet, cells B23, B24, B25).

    Returns the columns of OPERA's ``All_path`` table, values as printed
    (strings; :func:`read_ground_truth` parses them and drops '*' flags).

    Raises
    ------
    DatasetError
        A report that xlrd cannot read, or one too short to hold B25.
    """
    import xlrd

    rows = []
    for path in _reports(folder):
        try:
            sheet = xlrd.open_workbook(str(path)).sheet_by_index(0)
            cells = [str(sheet.cell_value(rowx=int(cell[1:]) - 1, colx=1)) for _, cell, _ in TARGETS.values()]
        except (xlrd.XLRDError, OSError, IndexError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot read cells B23-B25 of this spirometer report "
                               f"({type(exc).__name__}: {exc}); re-download it, or provide {TABLE_CSV}") from None
        rows.append([f"./{SPIROMETRY_DIR}/{path.name}", *cells])
    return pd.DataFrame(rows, columns=["Spirometry_file", *(c for c, _, _ in TARGETS.values())])


def _no_table_error(folder: Path) -> DatasetError:
    reports = _reports(folder)
    found = (f"{len(reports)} .xls spirometer reports are in {folder / SPIROMETRY_DIR}, and reading them needs "
             "xlrd, which is not installed. " if reports else "")
    return DatasetError(
        f"{folder / TABLE_CSV}: missing the spirometry ground truth of {DATASET.name} (looked for {TABLE_CSV}, "
        f"{TABLE_XLSX} and {SPIROMETRY_DIR}/*.xls). {found}Fix: `pip install 'acubench[xls]'` to read the reports "
        f"as shipped, or write {TABLE_CSV} with the columns Spirometry_file, FVC, FEV1, FEV1/FVC (cells B23, B24, "
        f"B25 of each report, '*' removed)")


def _number(value: object) -> float:
    """A spirometry cell as a float ('*' flags removed, as OPERA's extract script does); NaN if not a number."""
    try:
        out = float(str(value).replace("*", "").strip())
    except ValueError:
        return math.nan
    return out if math.isfinite(out) else math.nan


def read_ground_truth(folder: Path) -> pd.DataFrame:
    """The spirometry table, one row per participant, sorted as OPERA's (by ``Spirometry_file``).

    Checks: required columns, one row per participant, every target a positive
    number, and — when ``spirometry_ground_truth/`` is present — the table's
    reports are exactly the ``.xls`` files there (a stale table is refused).

    Returns
    -------
    DataFrame
        participant (str), spirometry_file (file name), fvc, fev1, fev1_fvc (float).
    """
    columns = ["Spirometry_file", *(c for c, _, _ in TARGETS.values())]
    if (folder / TABLE_CSV).is_file():
        table = folder / TABLE_CSV
        df = read_table(table, DATASET, what="spirometry table", columns=columns, nonempty=columns, dtype=str,
                        keep_default_na=False)
    elif (folder / TABLE_XLSX).is_file():
        table = folder / TABLE_XLSX
        df = _read_xlsx(table)
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DatasetError(f"{table}: the spirometry table lacks column(s) {missing} (found {list(df.columns)}); "
                               "re-create it with OPERA's datasets/mmlung/extract_mmlung.py")
    elif _reports(folder) and importlib.util.find_spec("xlrd") is not None:
        table = folder / SPIROMETRY_DIR
        df = read_reports(folder)
    else:
        raise _no_table_error(folder)
    out = pd.DataFrame({
        "participant": df["Spirometry_file"].map(lambda v: "" if pd.isna(v) else _participant(v)),
        "spirometry_file": df["Spirometry_file"].map(lambda p: Path(str(p).replace("\\", "/")).name),
    })
    for key, (column, cell, _) in TARGETS.items():
        out[key] = df[column].map(_number)
        bad = out[key].isna() | (out[key] <= 0)
        if bad.any():
            first = int(bad.to_numpy().nonzero()[0][0])
            raise DatasetError(f"{table}: {int(bad.sum())} row(s) have no positive number in {column!r} (e.g. "
                               f"{df[column].iloc[first]!r} for {out['spirometry_file'].iloc[first]}); it must hold "
                               f"cell {cell} of each spirometer report")
    blank = out["participant"].eq("")
    dup = out["participant"][out["participant"].duplicated()]
    if blank.any() or len(dup):
        raise DatasetError(f"{table}: Spirometry_file must name one <idx>_*.xls report per participant; found "
                           f"{'empty names' if blank.any() else f'participant(s) {sorted(set(dup))} twice'}")
    reports = folder / SPIROMETRY_DIR
    if reports.is_dir():
        on_disk = {p.name for p in reports.glob("*.xls")}
        listed = set(out["spirometry_file"])
        if on_disk and on_disk != listed:
            extra, absent = sorted(on_disk - listed), sorted(listed - on_disk)
            raise DatasetError(f"{table}: the table does not match the reports in {reports} (not in the table: "
                               f"{extra[:3]}; not on disk: {absent[:3]}). Re-create it from the reports with "
                               "OPERA's datasets/mmlung/extract_mmlung.py")
    if len(out) < N_PARTICIPANTS:
        raise DatasetError(f"{table}: {len(out)} participant(s), but MMLung has {N_PARTICIPANTS} spirometry "
                           f"readings. Re-create the table from the complete {SPIROMETRY_DIR}/ of the download")
    if len(out) > N_PARTICIPANTS:
        log.info("MMLung: %d participants (OPERA folds over %d); each is a fold here", len(out), N_PARTICIPANTS)
    return out.sort_values("spirometry_file", kind="stable").reset_index(drop=True)


def _with_audio(folder: Path, truth: pd.DataFrame, modality: str) -> pd.DataFrame:
    """``truth`` plus ``path`` of each participant's ``modality`` recording; every one must exist."""
    audio = _audio_dir(folder)
    if audio is None:
        raise DatasetError(f"{folder / AUDIO_DIRS[0]}: missing the audio folder of {DATASET.name} (also looked for "
                           f"{AUDIO_DIRS[1]}). Unzip the download so that {folder} holds: {DATASET.layout}")
    sub, suffix = MODALITIES[modality]
    out = truth.copy()
    out["path"] = [audio / sub / f"{p}_{suffix}.wav" for p in out["participant"]]
    require_audio(list(out["path"]), DATASET, fix=f"Every participant of the spirometry table needs "
                                                  f"{sub}/<idx>_{suffix}.wav under {audio}")
    listed = {p.name for p in out["path"]}
    unused = [p for p in sorted((audio / sub).glob("*.wav")) if p.name not in listed]
    log_dropped(f"MMLung {modality}", {f"{sub}/ recording(s) without a spirometry reading in the table "
                                       f"(e.g. {unused[0].name if unused else ''})": len(unused)})
    return out


def _load(ctx: LoadContext, modality: str, target: str) -> pd.DataFrame:
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    df = _with_audio(folder, read_ground_truth(folder), modality)
    df["clip_id"] = [p.stem for p in df["path"]]
    df["path"] = df["path"].astype(str)
    df["label"] = df[target].astype(float)
    df["subject"] = df["participant"]
    df["split"] = POOL
    df["modality"] = modality
    cols = ["clip_id", "path", "label", "subject", "split", "modality", "spirometry_file", *TARGETS]
    return df[cols].reset_index(drop=True)


def _loader(task_id: str, modality: str, target: str) -> Callable[[LoadContext], pd.DataFrame]:
    def load(ctx: LoadContext) -> pd.DataFrame:
        return _load(ctx, modality, target)

    load.__name__ = load.__qualname__ = f"load_{modality}_{target}"
    load.__doc__ = (f"{task_id} manifest: one {_MODALITY_WORDS[modality]} recording per participant, label = "
                    f"{TARGETS[target][2]}, split ``pool``.\n\n    Returns\n    -------\n    DataFrame\n"
                    "        clip_id (file stem), path, label (float), subject (participant), split, modality,\n"
                    "        spirometry_file, fvc, fev1, fev1_fvc.\n")
    return load


load_breath_fvc = _loader("T10", "breath", "fvc")
load_breath_fev1 = _loader("T11", "breath", "fev1")
load_breath_fev1_fvc = _loader("T12", "breath", "fev1_fvc")
load_vowel_fvc = _loader("T13", "vowel", "fvc")
load_vowel_fev1 = _loader("T14", "vowel", "fev1")
load_vowel_fev1_fvc = _loader("T15", "vowel", "fev1_fvc")


def check(folder: Path) -> DataCheck:
    """Presence check: the ground-truth table and both recordings of each of its participants."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    try:
        truth = read_ground_truth(folder)
    except DatasetError as exc:
        return DataCheck(present=True, expected=2 * N_PARTICIPANTS, problems=(str(exc),))
    audio = _audio_dir(folder)
    if audio is None:
        return DataCheck(present=True, expected=2 * len(truth),
                         problems=(f"missing the audio folder '{AUDIO_DIRS[0]}/'",))
    expected = [audio / sub / f"{p}_{suffix}.wav" for sub, suffix in MODALITIES.values() for p in truth["participant"]]
    found = sum(p.is_file() for p in expected)
    problems = [f"{len(expected) - found} of {len(expected)} recordings missing"] if found < len(expected) else []
    return DataCheck(present=True, found=found, expected=len(expected), problems=tuple(problems))


def recordings(folder: Path) -> pd.DataFrame:
    """One row per used recording (deep breath and vowel "o" of each participant).

    RECORDING_COLUMNS has no spirometry fields, so FVC/FEV1 stay in the task manifests.
    """
    folder = Path(folder).resolve()
    truth = read_ground_truth(folder)
    parts = []
    for modality in MODALITIES:
        df = _with_audio(folder, truth, modality)
        parts.append(pd.DataFrame({
            "audio_path": df["path"].astype(str),
            "dataset": DATASET.id,
            "subject": df["participant"],
            "recording_id": [p.stem for p in df["path"]],
            "modality": _MODALITY_WORDS[modality],
            "device": "smartphone microphone",
        }))
    out = pd.concat(parts, ignore_index=True)
    return out.reindex(columns=list(RECORDING_COLUMNS))
