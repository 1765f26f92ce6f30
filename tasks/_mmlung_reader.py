"""Reading the mmlung dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.mmlung`, which imports none of this.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from pathlib import Path

import pandas as pd

from acubench.datasets import dataset_folder
from acubench.manifest import POOL, RECORDING_COLUMNS, DatasetError, LoadContext
from acubench.specs import DataCheck
from acubench.tasks._common import log_dropped, read_table, require_audio
from acubench.tasks.mmlung import (
    AUDIO_DIRS,
    DATASET,
    MODALITY_WORDS,
    N_PARTICIPANTS,
    SPIROMETRY_DIR,
    TABLE_CSV,
    TABLE_XLSX,
    TARGETS,
)

log = logging.getLogger(__name__)

#: Modality → (folder under the audio folder, file-name suffix), as in OPERA's extract_mmlung.py.
MODALITIES = {"breath": ("9_3_deepbreath", "deepbreaths"), "vowel": ("5_2_O_single", "vowelo")}


def _participant(spirometry_file: str) -> str:
    """``./spirometry_ground_truth/12_name.xls`` → ``"12"`` (OPERA: basename, extension off, before the first '_')."""
    return Path(str(spirometry_file).replace("\\", "/")).stem.split("_")[0].strip()


def _audio_dir(folder: Path) -> Path | None:
    return next((folder / d for d in AUDIO_DIRS if (folder / d).is_dir()), None)


def _read_xlsx(path: Path) -> pd.DataFrame:
    if importlib.util.find_spec("openpyxl") is None:
        raise DatasetError(f"{path}: reading .xlsx needs the package openpyxl, which is not installed. Either "
                           f"`pip install 'acubench[xls]'`, or save the sheet as {path.with_name(TABLE_CSV)} "
                           "(CSV, same columns)")
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


def load(ctx: LoadContext) -> pd.DataFrame:
    """An MMLung manifest: one ``loader_args["recording"]`` recording (``breath`` or ``vowel``) per
    participant, label = the spirometry value ``loader_args["target"]`` (``fvc``, ``fev1``, ``fev1_fvc``),
    split ``pool``.

    Returns
    -------
    DataFrame
        clip_id (file stem), path, label (float), subject (participant), split, modality,
        spirometry_file, fvc, fev1, fev1_fvc.
    """
    modality, target = ctx.task.loader_args["recording"], ctx.task.loader_args["target"]
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
            "modality": MODALITY_WORDS[modality],
            "device": "smartphone microphone",
        }))
    out = pd.concat(parts, ignore_index=True)
    return out.reindex(columns=list(RECORDING_COLUMNS))
