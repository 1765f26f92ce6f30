"""CoughVID loaders (T03, T04) on a miniature tree in the publisher's layout."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, validate_manifest
from acubench.tasks import _coughvid_reader as coughvid_reader
from acubench.tasks import coughvid
from layouts.coughvid import N, build_coughvid, uuid

SMALL = coughvid_reader.SplitRecipe(test_female=3, test_male=4, covid_test_healthy=2, covid_test_covid=1)


@pytest.fixture
def root(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(coughvid_reader, "RECIPE", SMALL)
    build_coughvid(tmp_path)
    return tmp_path


def load(root: Path, task: str, protocol: str = "default") -> pd.DataFrame:
    spec = coughvid.TASKS[0] if task == "covid" else coughvid.TASKS[1]
    df = coughvid_reader.load(LoadContext(task=spec, data_root=root, cache_dir=root / "cache", protocol=protocol))
    return validate_manifest(df, spec)


def index(uuids) -> list[int]:
    return sorted(int(u.split("-")[-1], 16) for u in uuids)


def test_recipe_reproduces_the_split_script_and_is_pinned(root):
    meta = coughvid_reader.read_metadata(root / "coughvid")
    sets = coughvid_reader.split_uuids(meta, SMALL)
    # the script's own calls, written out, on the rows it keeps (file order matters)
    kept = meta[meta["cough_detected"] >= 0.8]
    test = set(kept[kept["gender"] == "female"].sample(n=3, random_state=0)["uuid"]) | set(
        kept[kept["gender"] == "male"].sample(n=4, random_state=0)["uuid"])
    assert sets["test"] == test
    assert not (sets["train"] & sets["val"]) and not ((sets["train"] | sets["val"]) & sets["test"])
    assert len(sets["train"]) + len(sets["val"]) + len(sets["test"]) == len(kept)
    assert sets["covid_test"] <= sets["test"]
    # pinned outputs of the seeded draws on this fixture
    assert index(sets["test"]) == [2, 15, 19, 22, 23, 37, 43]
    assert index(sets["val"]) == [3, 7, 17, 25, 26, 35, 39, 40]
    assert index(sets["covid_test"]) == [22, 37, 43]


def test_sex_task_labels_and_drops(root, caplog):
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = load(root, "sex")
    assert set(df["label_name"]) == {"female", "male"}
    assert (df["label"] == (df["label_name"] == "female")).all()
    assert "dropped 5 row(s): cough_detected < 0.8" in caplog.text
    assert "gender not one of ['female', 'male'] (unlabelled)" in caplog.text
    assert (df["clip_id"] == df["subject"]).all()
    assert len(df) == 29 and index(df.loc[df["split"] == "test", "clip_id"]) == [2, 15, 19, 22, 23, 37, 43]
    ogg_named = df.set_index("clip_id").loc[uuid(10), "path"]  # 10 % 7 == 3: OPERA named its WAV uuid[:-1]
    assert Path(ogg_named).name == f"{uuid(10)[:-1]}.wav" and Path(ogg_named).is_file()


def test_covid_default_uses_the_drawn_test_set_reference_the_whole_sex_test_set(root):
    default, reference = load(root, "covid"), load(root, "covid", "reference")
    assert set(default["label_name"]) == {"healthy", "COVID-19"}
    for split in ("train", "val"):
        assert index(default.loc[default["split"] == split, "clip_id"]) == index(
            reference.loc[reference["split"] == split, "clip_id"])
    assert index(default.loc[default["split"] == "test", "clip_id"]) == [22, 37, 43]
    assert index(reference.loc[reference["split"] == "test", "clip_id"]) == [2, 19, 22, 37, 43]


def test_metadata_at_the_dataset_root_works_too(tmp_path, monkeypatch):
    monkeypatch.setattr(coughvid_reader, "RECIPE", SMALL)
    build_coughvid(tmp_path, in_public_dataset=False)
    assert len(load(tmp_path, "sex")) == 29


def test_bad_layouts_raise_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(coughvid_reader, "RECIPE", SMALL)
    folder = build_coughvid(tmp_path, wav=False)
    with pytest.raises(DatasetError, match="acubench data prepare coughvid"):
        load(tmp_path, "sex")
    build_coughvid(tmp_path)
    (folder / coughvid.WAV_DIR / f"{uuid(1)}.wav").unlink()
    with pytest.raises(DatasetError, match=f"{uuid(1)}.wav: 1 of .*prepare coughvid"):
        load(tmp_path, "sex")
    build_coughvid(tmp_path)
    (folder / coughvid.WAV_DIR / "stray.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"stray\.wav.*not in the metadata"):
        load(tmp_path, "sex")
    (folder / coughvid.WAV_DIR / "stray.wav").unlink()
    meta = folder / coughvid.SOURCE_DIR / coughvid.METADATA
    meta.write_text(meta.read_text().replace(",pnts,", ",Pnts,"))
    with pytest.raises(DatasetError, match=f"{coughvid.METADATA}: unknown gender value.*Pnts"):
        load(tmp_path, "sex")


def test_check_and_recordings(root):
    folder = root / "coughvid"
    result = coughvid_reader.check(folder)
    assert result.complete and result.found == result.expected == N
    (folder / coughvid.WAV_DIR / f"{uuid(4)}.wav").unlink()
    result = coughvid_reader.check(folder)
    assert result.found == N - 1 and "prepare coughvid" in result.problems[0]
    build_coughvid(root)
    rec = coughvid_reader.recordings(folder)
    assert list(rec.columns) == list(RECORDING_COLUMNS) and len(rec) == N - 5
    row = rec.set_index("recording_id").loc[uuid(2)]
    assert row["diagnosis"] == "healthy (self-reported); expert assessment: lower infection, obstructive disease"
    assert row["symptoms"] == "wet, dry cough" and row["adventitious"] == "wheezing"
    assert rec.set_index("recording_id").loc[uuid(10), "symptoms"] == "fever or muscle pain"


def test_specs_carry_the_published_recipe():
    recipe = coughvid_reader.SplitRecipe()
    assert (recipe.test_female, recipe.test_male, recipe.test_seed, recipe.val_fraction, recipe.val_seed) == (
        1031, 1924, 0, 0.25, 100)
    assert (recipe.covid_test_healthy, recipe.covid_test_covid) == (2237, 172)
    t03, t04 = coughvid.TASKS
    assert t03.expected_counts == {"train": 2749, "val": 919, "test": 2507} and t03.opera_task == 5
    assert t04.expected_counts == {"train": 3218, "val": 1090, "test": 2955} and t04.classes == ("male", "female")
