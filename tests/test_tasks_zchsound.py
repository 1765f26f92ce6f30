"""ZCHSound loader (T18) on a miniature copy of the publisher's download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, validate_manifest
from acubench.tasks import _zchsound_reader as zchsound_reader
from acubench.tasks import zchsound
from layouts.zchsound import AUDIO, TABLE, build_zchsound


@pytest.fixture
def root(tmp_path: Path) -> Path:
    build_zchsound(tmp_path)
    return tmp_path


def load(root: Path) -> pd.DataFrame:
    df = zchsound_reader.load(LoadContext(task=zchsound.TASKS[0], data_root=root, cache_dir=root / "cache"))
    return validate_manifest(df, zchsound.TASKS[0])


def test_both_subsets_are_labelled_normal_vs_defect(root):
    df = load(root)
    assert len(df) == 55 and df["subject"].is_unique and (df["subject"] == df["clip_id"]).all()
    assert df["subset"].value_counts().to_dict() == {"clean": 33, "noisy": 22}
    assert (df["label"] == (df["diagnosis"] != "NORMAL")).all() and int(df["label"].sum()) == 33
    assert df.set_index("clip_id").loc["ZCH0003", "diagnosis"] == "NORMAL"  # trailing blank stripped
    assert df.set_index("clip_id").loc["ZCH0027", ["diagnosis", "label_name"]].tolist() == ["PFO", "CHD"]


def test_split_is_seeded_and_stratified_by_subset_and_diagnosis(root):
    df = load(root)
    assert df["split"].value_counts().to_dict() == {"train": 35, "test": 11, "val": 9}
    strata = df.groupby(["subset", "diagnosis"])["split"].apply(set)
    assert all("train" in s for s in strata)  # every stratum in training
    assert (df["split_seed"] == zchsound.SPLIT_SEED).all()
    # pinned: sklearn train_test_split, seed 42, 20 % test then 20 % of the rest, stratified by subset x diagnosis
    assert sorted(df.loc[df["split"] == "test", "clip_id"]) == [
        "ZCH0005", "ZCH0007", "ZCH0013", "ZCH0018", "ZCH0022", "ZCH0029", "ZCH0030", "ZCH0034", "ZCH0045",
        "ZCH0049", "ZCH0055"]
    assert sorted(df.loc[df["split"] == "val", "clip_id"]) == [
        "ZCH0006", "ZCH0008", "ZCH0016", "ZCH0023", "ZCH0031", "ZCH0039", "ZCH0042", "ZCH0050", "ZCH0053"]


def test_bad_layouts_raise_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="zchsound"):
        load(tmp_path)
    folder = build_zchsound(tmp_path)
    clean_table = folder / TABLE["clean"]
    text = clean_table.read_text(encoding="utf-8")
    clean_table.write_text(text.replace("ZCH0020.wav;M;1940;ASD", "ZCH0020.wav;M;1940;TOF"), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"Clean Heartsound Data Details\.csv: unknown diagnosis .*'TOF'"):
        load(tmp_path)
    clean_table.write_text(text, encoding="utf-8")
    (folder / AUDIO["noisy"] / "ZCH0040.wav").rename(folder / "ZCH0040.wav")
    with pytest.raises(DatasetError, match=r"ZCH0040\.wav: 1 of 22 audio file"):
        load(tmp_path)
    (folder / "ZCH0040.wav").rename(folder / AUDIO["noisy"] / "ZCH0040.wav")
    sf.write(str(folder / AUDIO["clean"] / "ZCH0040.wav"), np.zeros(300, dtype="float32"), 2000)
    with pytest.raises(DatasetError, match=r"ZCH0040\.wav: 1 audio file"):
        load(tmp_path)
    (folder / AUDIO["clean"] / "ZCH0040.wav").unlink()
    (folder / TABLE["noisy"]).unlink()
    with pytest.raises(DatasetError, match=r"Noise Heartsound Data Details\.csv: missing noisy details table"):
        load(tmp_path)


def test_check_and_recordings(root):
    folder = root / "ZCHSound"
    result = zchsound_reader.check(folder)
    assert result.found == 55 and result.expected == 1259 and not result.complete and not result.problems
    rec = zchsound_reader.recordings(folder)
    assert list(rec.columns)[:len(RECORDING_COLUMNS)] == list(RECORDING_COLUMNS) and len(rec) == 55
    row = rec.set_index("recording_id").loc["ZCH0016"]
    assert row["diagnosis"] == "Atrial septal defect" and row["sex"] == "male" and row["subset"] == "clean"
    assert row["age_days"] == 16 * 97 and row["age"] == "4 years"
    assert rec.set_index("recording_id").loc["ZCH0001", "age"] == "3 months"  # 97 days


def test_age_text_units():
    assert zchsound_reader.age_text(float("nan")) is None and zchsound_reader.age_text(1) == "1 day"
    assert zchsound_reader.age_text(30) == "30 days" and zchsound_reader.age_text(31) == "1 month"
    assert zchsound_reader.age_text(729) == "23 months" and zchsound_reader.age_text(730) == "23 months"
    assert zchsound_reader.age_text(731) == "2 years"
