"""Reading the coviduk dataset as published: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.coviduk`, which imports none of this.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from acubench.datasets import dataset_folder, refuse_escaping
from acubench.manifest import RECORDING_COLUMNS, SPLITS, DatasetError, LoadContext, TaskOptionError
from acubench.specs import DataCheck
from acubench.tasks._common import (
    check_vocabulary,
    first_existing,
    log_dropped,
    read_table,
    reject_unexpected,
    require_audio,
)
from acubench.tasks.coviduk import AUDIO_METADATA, DATASET, PARTICIPANTS, SPLITS_FILE, SUBSET_SEED, SUBSET_SIZES

log = logging.getLogger(__name__)
AUDIO_DIRS = ("audio", "audio_selected")

MODALITIES = ("exhalation", "cough", "three_cough")

#: OPERA's list names: ``<modality>_<stem>_files_downsample.npy``.
LIST_STEMS = {"train": "training", "val": "val", "test": "testing"}
RESULTS = {"Negative": 0, "Positive": 1}
#: covid_test_result values meaning "no usable PCR result" (dropped by rule).
NO_RESULT = ("Unknown/Void", "Unknown", "Void")
#: The publisher's own checks treat a WAV of <= 44 bytes (a bare header) as "no recording".
EMPTY_WAV_BYTES = 44


def _audio_dir(folder: Path) -> Path:
    return first_existing(folder, AUDIO_DIRS, DATASET, "audio folder")


def _audio_table(folder: Path) -> pd.DataFrame:
    path = folder / AUDIO_METADATA
    audio = read_table(path, DATASET, what="audio metadata", dtype={"participant_identifier": str}, low_memory=False,
                       columns=["participant_identifier", *(f"{m}_file_name" for m in MODALITIES)],
                       nonempty=["participant_identifier"])
    dup = audio["participant_identifier"][audio["participant_identifier"].duplicated()]
    if len(dup):
        raise DatasetError(f"{path}: participant(s) {sorted(dup)[:5]} have more than one row; "
                           f"re-download the file from {DATASET.url}")
    for modality in MODALITIES:
        named = audio[f"{modality}_file_name"].notna()
        refuse_escaping(audio.loc[named, f"{modality}_file_name"], folder=folder / AUDIO_DIRS[0], metadata=path,
                        spec=DATASET, rows=list(audio.loc[named, "participant_identifier"]),
                        column=f"{modality}_file_name")
    return audio


def _reject_unlisted(audio_dir: Path, audio: pd.DataFrame) -> None:
    listed = {str(n).strip() for m in MODALITIES for n in audio[f"{m}_file_name"].dropna()}
    on_disk = (audio_dir / e.name for e in os.scandir(audio_dir) if e.name.lower().endswith(".wav"))
    reject_unexpected(on_disk, listed, DATASET, audio_dir)


def _has_recording(audio: pd.DataFrame, modality: str) -> pd.Series:
    name = audio[f"{modality}_file_name"]
    present = name.notna() & (name.astype(str).str.strip() != "")
    size_col = f"{modality}_size"
    if size_col in audio.columns:
        size = pd.to_numeric(audio[size_col], errors="coerce")
        present &= ~(size <= EMPTY_WAV_BYTES)
    return present


def _participants(folder: Path) -> pd.DataFrame:
    """``participant_metadata.csv`` with its PCR results checked against the known vocabulary."""
    path = folder / PARTICIPANTS
    people = read_table(path, DATASET, what="participant metadata", dtype={"participant_identifier": str},
                        low_memory=False, columns=["participant_identifier", "covid_test_result"],
                        nonempty=["participant_identifier"])
    check_vocabulary(people["covid_test_result"].dropna(), (*RESULTS, *NO_RESULT), path, "covid_test_result", DATASET)
    return people


def _labelled(folder: Path, audio: pd.DataFrame, modality: str, task_id: str) -> pd.DataFrame:
    """Every recording of ``modality`` in the official train/val/test split with a PCR result, by participant."""
    splits_path = folder / SPLITS_FILE
    splits = read_table(splits_path, DATASET, what="train/test splits", dtype={"participant_identifier": str},
                        columns=["participant_identifier", "splits"], nonempty=["participant_identifier"])
    part_path = folder / PARTICIPANTS
    people = _participants(folder)
    df = audio.merge(splits[["participant_identifier", "splits"]], on="participant_identifier", how="left")
    df = df.merge(people, on="participant_identifier", how="left", suffixes=("", "_participant"))
    unknown = df["participant_identifier"][~df["participant_identifier"].isin(people["participant_identifier"])]
    if len(unknown):
        raise DatasetError(f"{part_path}: participant(s) {sorted(unknown)[:5]} of {AUDIO_METADATA} are missing; "
                           f"the metadata files are from different releases. Re-download them from {DATASET.url}")
    in_split = df["splits"].isin(SPLITS)
    has_audio = _has_recording(df, modality)
    has_result = df["covid_test_result"].isin(list(RESULTS))
    log_dropped(task_id, {
        "participant not in the standard train/val/test split ('long' test set or unsplit)": int((~in_split).sum()),
        f"no {modality} recording": int((in_split & ~has_audio).sum()),
        "no PCR result (Unknown/Void or empty)": int((in_split & has_audio & ~has_result).sum()),
    })
    df = df[in_split & has_audio & has_result].copy()
    df["file_name"] = df[f"{modality}_file_name"].astype(str).str.strip()
    return df.sort_values("participant_identifier").reset_index(drop=True)


def _reference_lists(folder: Path, ctx: LoadContext, modality: str) -> dict[str, Path] | None:
    where = Path(ctx.options["reference_lists"]).expanduser() if ctx.options.get("reference_lists") else folder
    paths = {split: where / f"{modality}_{stem}_files_downsample.npy" for split, stem in LIST_STEMS.items()}
    present = [p for p in paths.values() if p.is_file()]
    if not present and not ctx.options.get("reference_lists"):
        return None
    if len(present) < len(paths):
        absent = [str(p) for p in paths.values() if not p.is_file()]
        raise DatasetError(f"{absent[0]}: OPERA subset list(s) missing ({', '.join(Path(a).name for a in absent)}). "
                           "They come from the OPERA repository (datasets/covidUK/ in github.com/evelyn0414/OPERA); "
                           "put all three next to each other")
    return paths


def _subset_from_lists(df: pd.DataFrame, paths: dict[str, Path]) -> pd.DataFrame:
    by_name = df.set_index("file_name")
    parts = []
    for split, path in paths.items():
        try:
            names = [str(n).strip() for n in np.load(path, allow_pickle=False).ravel()]
        except (ValueError, OSError) as exc:
            raise DatasetError(f"{path}: not a readable numpy array of file names ({exc})") from None
        unknown = [n for n in names if n not in by_name.index]
        if unknown:
            raise DatasetError(f"{path}: {len(unknown)} listed file(s) are not labelled recordings of the official "
                               f"split in {AUDIO_METADATA} (e.g. {unknown[:3]}); the lists and the metadata must come "
                               "from the same release")
        part = by_name.loc[names].reset_index()
        part["split"] = split
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    dup = out["file_name"][out["file_name"].duplicated()]
    if len(dup):
        raise DatasetError(f"{paths['train'].parent}: file(s) {sorted(dup)[:3]} appear in more than one subset list")
    out["subset"] = "reference lists"
    return out


def _parse_subset(value: object) -> dict[str, int] | None:
    """``--task-arg subset=full`` → None (whole split); ``subset=1000/500/1000`` → sizes."""
    if value in (None, ""):
        return dict(SUBSET_SIZES)
    text = str(value).strip().lower()
    if text == "full":
        return None
    try:
        sizes = [int(v) for v in text.split("/")]
    except ValueError:
        sizes = []
    if len(sizes) != 3 or min(sizes) < 1:
        raise TaskOptionError(f"--task-arg subset={value}: expected 'full' or three sizes train/val/test, "
                              f"e.g. 1000/500/1000")
    return dict(zip(SPLITS, sizes, strict=True))


def _seeded_subset(df: pd.DataFrame, sizes: dict[str, int] | None) -> pd.DataFrame:
    rng = np.random.RandomState(SUBSET_SEED)
    parts = []
    for split in SPLITS:
        pool = df[df["splits"] == split]
        if sizes is not None:
            if len(pool) < sizes[split]:
                raise DatasetError(f"{DATASET.name}: the official {split} split has {len(pool)} labelled recordings, "
                                   f"fewer than the subset size {sizes[split]}; are the metadata files complete?")
            pool = pool.iloc[np.sort(rng.choice(len(pool), size=sizes[split], replace=False))]
        parts.append(pool.assign(split=split))
    out = pd.concat(parts, ignore_index=True)
    out["subset"] = "full official split" if sizes is None else f"seeded draw (seed {SUBSET_SEED})"
    return out


def load(ctx: LoadContext) -> pd.DataFrame:
    """A UK COVID-19 manifest: one ``loader_args["sound"]`` recording per participant (T01 ``exhalation``,
    T02 ``cough``), label 1 = PCR positive.

    Returns
    -------
    DataFrame
        clip_id (file stem), path, label, label_name, subject (participant_identifier),
        split, modality, subset (how the 1000/500/1000 subset was chosen), split_seed, age, sex.
    """
    modality = ctx.task.loader_args["sound"]
    folder = dataset_folder(ctx.data_root, DATASET).resolve()
    audio_dir = _audio_dir(folder)
    audio = _audio_table(folder)
    _reject_unlisted(audio_dir, audio)
    df = _labelled(folder, audio, modality, ctx.task.id)
    lists = _reference_lists(folder, ctx, modality)
    if lists is not None:
        df = _subset_from_lists(df, lists)
    elif ctx.protocol == "reference":
        raise DatasetError(f"{folder / f'{modality}_training_files_downsample.npy'}: --protocol reference needs "
                           f"OPERA's subset lists {modality}_{{training,val,testing}}_files_downsample.npy "
                           "(datasets/covidUK/ in github.com/evelyn0414/OPERA) in the dataset folder or in "
                           "--task-arg reference_lists=DIR; the default protocol draws a seeded subset instead")
    else:
        df = _seeded_subset(df, _parse_subset(ctx.options.get("subset")))
    df["path"] = [str(audio_dir / n) for n in df["file_name"]]
    require_audio([Path(p) for p in df["path"]], DATASET,
                  fix=f"Unpack the audio of Zenodo record 10043978 into {audio_dir}")
    df["clip_id"] = df["file_name"].str.rsplit(".", n=1).str[0]
    df["label"] = df["covid_test_result"].map(RESULTS).astype(int)
    df["label_name"] = df["covid_test_result"].str.lower()
    df["subject"] = df["participant_identifier"]
    df["modality"] = modality
    df["split_seed"] = SUBSET_SEED if df["subset"].iloc[0].startswith("seeded") else np.nan
    meta = [c for c in ("age", "gender") if c in df.columns]
    cols = ["clip_id", "path", "label", "label_name", "subject", "split", "modality", "subset", "split_seed", *meta]
    return df[cols].rename(columns={"gender": "sex"}).reset_index(drop=True)


def check(folder: Path) -> DataCheck:
    """Presence check: the three metadata files and every recording ``audio_metadata.csv`` names."""
    folder = Path(folder)
    if not folder.is_dir():
        return DataCheck(present=False)
    problems = [f"missing {name}" for name in (PARTICIPANTS, AUDIO_METADATA, SPLITS_FILE)
                if not (folder / name).is_file()]
    audio_dir = next((folder / d for d in AUDIO_DIRS if (folder / d).is_dir()), None)
    if audio_dir is None:
        problems.append("missing audio folder audio/")
    if problems or audio_dir is None:
        return DataCheck(present=True, found=0, expected=None, problems=tuple(problems))
    try:
        audio = _audio_table(folder)
    except DatasetError as exc:
        return DataCheck(present=True, problems=(str(exc),))
    expected = {str(n).strip() for m in MODALITIES for n in audio.loc[_has_recording(audio, m), f"{m}_file_name"]}
    on_disk = {e.name for e in os.scandir(audio_dir) if e.name.endswith(".wav")}
    found = len(expected & on_disk)
    if found < len(expected):
        problems.append(f"{len(expected) - found} of {len(expected)} recordings missing from {audio_dir}")
    return DataCheck(present=True, found=found, expected=len(expected), problems=tuple(problems))


def _flag_names(people: pd.DataFrame, prefix: str, exclude: tuple[str, ...] = ()) -> pd.Series:
    """Per participant, the names of the ``<prefix>*`` yes/no columns that are set ("shortness of breath, …")."""
    cols = [c for c in people.columns if c.startswith(prefix) and c not in exclude]
    names = [c[len(prefix):].replace("_", " ") for c in cols]
    flags = people[cols].astype(str).isin(("1", "1.0", "True"))
    return flags.apply(lambda row: ", ".join(n for n, f in zip(names, row, strict=True) if f), axis=1)


def recordings(folder: Path) -> pd.DataFrame:
    """One row per recording (exhalation, cough, three coughs) with PCR result, symptoms and demographics."""
    folder = Path(folder).resolve()
    audio_dir = _audio_dir(folder)
    audio = _audio_table(folder)
    _reject_unlisted(audio_dir, audio)
    people = _participants(folder)
    people = people.set_index("participant_identifier")
    diagnosis = people["covid_test_result"].map({"Positive": "SARS-CoV-2 PCR positive (COVID-19)",
                                                 "Negative": "SARS-CoV-2 PCR negative"}).fillna("")
    conditions = _flag_names(people, "respiratory_condition_")
    diagnosis = diagnosis.str.cat(("; respiratory conditions: " + conditions).where(conditions != "", ""))
    diagnosis = diagnosis.str.lstrip("; ")
    symptoms = _flag_names(people, "symptom_", exclude=("symptom_none", "symptom_onset"))
    frames = []
    for modality in MODALITIES:
        rec = audio[_has_recording(audio, modality)]
        pid = rec["participant_identifier"]
        names = rec[f"{modality}_file_name"].astype(str).str.strip()
        frames.append(pd.DataFrame({
            "audio_path": [str(audio_dir / n) for n in names],
            "dataset": DATASET.id,
            "subject": pid.to_numpy(),
            "recording_id": names.str.rsplit(".", n=1).str[0].to_numpy(),
            "modality": modality.replace("_", " "),
            "age": pid.map(people["age"]).to_numpy() if "age" in people else None,
            "sex": pid.map(people["gender"]).to_numpy() if "gender" in people else None,
            "device": "smartphone or tablet microphone",
            "diagnosis": pid.map(diagnosis).to_numpy(),
            "symptoms": pid.map(symptoms).to_numpy(),
            "smoker": pid.map(people["smoker_status"]).to_numpy() if "smoker_status" in people else None,
        }))
    return pd.concat(frames, ignore_index=True).reindex(columns=list(RECORDING_COLUMNS))
