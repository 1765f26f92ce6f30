"""Reading the demo suite: its loader, presence check and recordings table.

The specs are declared in :mod:`acubench.tasks.demo`, which imports none of this.

Loader options (``--task-arg``): ``seed`` (demo seed, default 0) and
``folder`` (an already generated demo folder to read instead of the cache's).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, TaskOptionError
from acubench.paths import cache_dir
from acubench.specs import DataCheck
from acubench.tasks._common import stratified_subject_split
from acubench.tasks.demo import GENERATOR_VERSION, METADATA_FILE
from acubench.tasks.demo.plan import DEFAULT_SEED, demo_plan
from acubench.tasks.demo.store import demo_folder, ensure_demo, read_metadata

#: Held-out shares of the subject-independent split: 20 % test, then 25 % of the rest
#: (20 % of all) validation, leaving 60 % train.
TEST_FRACTION = 0.2
VAL_FRACTION = 0.25


def _seed(ctx: LoadContext) -> int:
    value = ctx.options.get("seed", DEFAULT_SEED)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TaskOptionError(f"demo tasks: --task-arg seed={value} is not an integer") from None


def demo_dir(ctx: LoadContext) -> Path:
    """The demo folder a loader reads: ``--task-arg folder=…`` as given, else generated under ``ctx.cache_dir``."""
    if ctx.options.get("folder"):
        folder = Path(ctx.options["folder"]).expanduser()
        if not folder.is_dir():
            raise TaskOptionError(f"--task-arg folder={folder}: no such folder; give a generated demo folder "
                                  f"(one holding {METADATA_FILE}) or drop the option")
        return folder
    return ensure_demo(ctx.cache_dir, seed=_seed(ctx))


def _subject_splits(meta: pd.DataFrame, modality: str, trait: str, seed: int) -> dict[str, str]:
    """Subject → train/val/test for one cohort, stratified by a subject-level trait."""
    cohort = meta[meta["modality"] == modality]
    subjects = cohort.groupby("subject")[trait].first()
    codes = {v: i for i, v in enumerate(sorted(subjects.unique()))}
    table = pd.DataFrame({"subject": subjects.index, "label": subjects.map(codes).to_numpy()})
    split = stratified_subject_split(table, test_size=TEST_FRACTION, val_size=VAL_FRACTION, seed=seed)
    return dict(zip(split["subject"], split["split"], strict=True))


def load(ctx: LoadContext) -> pd.DataFrame:
    """A demo task's manifest from the demo metadata.

    The task's recordings are those of its ``modality`` whose ``loader_args["column"]`` of
    ``metadata.csv`` holds a label; classification tasks split subjects 60/20/20 stratified by
    the subject trait ``loader_args["stratify"]`` (tasks on the same recordings share the split),
    regression tasks pool them for leave-one-subject-out.
    """
    task = ctx.task
    column, modality, trait = task.loader_args["column"], task.modality, task.loader_args.get("stratify")
    seed = _seed(ctx)
    folder = demo_dir(ctx)
    meta = read_metadata(folder)
    rows = meta[meta[column].notna()].copy()
    if rows.empty or (rows["modality"] != modality).any():
        raise DatasetError(f"{folder / METADATA_FILE}: no {modality} recordings labelled {column!r}; the folder is "
                           f"not a demo suite of generator v{GENERATOR_VERSION}. Delete it and it is regenerated")
    if task.kind == "regression":
        rows["label"] = rows[column].astype(float)
        rows["split"] = "pool"
    else:
        rows["label"] = rows[column].astype(int)
        rows["label_name"] = [task.classes[i] for i in rows["label"]]
        rows["split"] = rows["subject"].map(_subject_splits(meta, modality, trait, seed))
    rows["clip_id"] = rows["recording_id"]
    rows["path"] = rows["audio_path"]
    rows["split_seed"] = seed
    metadata = [c for c in RECORDING_COLUMNS if c not in ("audio_path", "recording_id", "subject", "start", "end")]
    extra = ["heart_rate", "height_cm", "fvc_l", "crackle_type", "cough_type", "condition"]
    cols = ["clip_id", "path", "label", *(["label_name"] if task.kind != "regression" else []), "subject", "split",
            "split_seed", *metadata, *extra]
    return rows[cols].sort_values("clip_id").reset_index(drop=True)


def recordings(folder: Path) -> pd.DataFrame:
    """The :data:`RECORDING_COLUMNS` table of the demo (``audio_path`` absolute).

    ``folder`` is where the generated dataset lies, ``<cache>/demo`` (the demo
    of seed 0 is generated there first if needed), or one generated demo folder.
    """
    folder = Path(folder)
    if not (folder / METADATA_FILE).is_file():
        folder = ensure_demo(folder.parent)
    return read_metadata(folder).reindex(columns=list(RECORDING_COLUMNS))


def check(folder: Path) -> DataCheck:
    """Whether the demo is generated in the cache (``folder``, the data-root location, is not used).

    The demo is always available: it is generated on first use, so "not yet
    generated" is reported as a note, not as missing data.
    """
    expected = len(demo_plan(DEFAULT_SEED))
    target = demo_folder(cache_dir(), DEFAULT_SEED)
    if (target / METADATA_FILE).is_file():
        return DataCheck(present=True, found=expected, expected=expected)
    return DataCheck(present=True, found=0, expected=expected,
                     problems=(f"not generated yet: generated on first use into {target} (about 10 s)",))
