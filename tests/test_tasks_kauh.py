"""KAUH loader (T08) on a miniature copy of the Mendeley download."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, ManifestError, validate_manifest
from acubench.tasks import _kauh_reader as kauh_reader
from acubench.tasks import kauh
from layouts.kauh import PATIENTS, build_kauh, name


@pytest.fixture
def root(tmp_path: Path) -> Path:
    build_kauh(tmp_path)
    return tmp_path


def load(root: Path, protocol: str = "default", **options) -> pd.DataFrame:
    df = kauh_reader.load(LoadContext(task=kauh.TASKS[0], data_root=root, cache_dir=root / "cache", protocol=protocol,
                                      options=options))
    return validate_manifest(df, kauh.TASKS[0], allow_leakage=protocol == "reference")


def patients(df: pd.DataFrame, split: str) -> list[int]:
    return sorted(int(p) for p in df.loc[df["split"] == split, "subject"].unique())


def test_labels_match_obstructive_diagnoses_case_insensitively():
    assert kauh_reader.obstructive_label("N") == 0
    assert kauh_reader.obstructive_label("Heart Failure + COPD") == 1 and kauh_reader.obstructive_label("copd") == 1
    assert kauh_reader.obstructive_label("Asthma and lung fibrosis") == 1
    assert kauh_reader.obstructive_label("pneumonia") is None
    assert kauh_reader.obstructive_label("copd", case_sensitive=True) is None  # OPERA's matching
    assert kauh_reader.obstructive_label("COPD", case_sensitive=True) == 1


def test_location_codes_in_all_published_orders():
    assert kauh_reader._location("P L M") == "posterior left middle"
    assert kauh_reader._location("P R L") == "posterior right lower"
    assert kauh_reader._location("A U R") == "anterior upper right"
    assert kauh_reader._location("P L L R") == "posterior left lower right"


def test_default_protocol_is_a_patient_level_split(root, caplog):
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = load(root)
    assert "diagnosis 'pneumonia'" in caplog.text and "diagnosis 'heart failure'" in caplog.text
    assert sorted(int(p) for p in df["subject"].unique()) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16]
    assert (df.groupby("subject")["filter"].nunique() == 3).all()
    assert df.groupby("subject")["split"].nunique().max() == 1  # the three renderings stay together
    assert (df["label"] == (df["subject"].astype(int).isin([1, 2, 3, 4, 13, 16]) == False)).all()  # noqa: E712
    # pinned: sklearn train_test_split over patients, seed 42, stratified (20 % test, then 10 % of all for val)
    assert patients(df, "test") == [2, 6, 9] and patients(df, "val") == [14, 16]
    row = df.set_index("clip_id").loc["DP7_COPD,E W,P R L ,58,F"]
    assert row["filter"] == "diaphragm" and row["location"] == "posterior right lower" and row["sex"] == "F"


def test_reference_protocol_rerun_collapses_val_into_test_and_leaks(root):
    df = load(root, "reference")
    assert 8 not in {int(p) for p in df["subject"]}  # 'copd' is missed by OPERA's case-sensitive match
    assert len(df) == 39
    assert (df["split"] == "val").sum() == 3  # 10 % of the 27 train recordings, at recording level
    assert patients(df, "test") == [2, 5, 6, 9, 16]  # the recipe's test and validation patients
    with pytest.raises(ManifestError, match="subject"):
        validate_manifest(df, kauh.TASKS[0])


def test_reference_protocol_with_operas_arrays(root, tmp_path):
    rows = [n for p in PATIENTS for n in (name(f, p) for f in "BDE")
            if kauh_reader.obstructive_label(PATIENTS[p][0], case_sensitive=True) is not None]
    files = np.array([f"datasets/KAUH/AudioFiles/{n}" for n in rows])
    split = np.array(["train", "val", "test"] * (len(rows) // 3))
    np.save(tmp_path / "sound_dir_loc_subset.npy", files)
    np.save(tmp_path / "train_test_split.npy", split)
    df = load(root, "reference", reference_split=str(tmp_path / "train_test_split.npy"),
              reference_files=str(tmp_path / "sound_dir_loc_subset.npy"))
    # "val" and "test" rows are scored as test (26); 10 % of the 13 train rows become validation (2)
    assert len(df) == 39 and (df["split"] == "test").sum() == 26 and (df["split"] == "val").sum() == 2
    assert set(df.loc[df["split"] == "test", "clip_id"].str[0]) == {"D", "E"}
    np.save(tmp_path / "train_test_split.npy", split[:-1])
    with pytest.raises(DatasetError, match="OPERA's pair"):
        load(root, "reference", reference_split=str(tmp_path / "train_test_split.npy"),
             reference_files=str(tmp_path / "sound_dir_loc_subset.npy"))


def test_bad_layouts_raise_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="mendeley"):
        load(tmp_path)
    folder = build_kauh(tmp_path, audio_dir="AudioFiles")  # OPERA's folder name works too
    assert len(load(tmp_path)) == 42
    (folder / "AudioFiles" / "notes.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"notes\.wav: 1 file name"):
        load(tmp_path)


def test_check_and_recordings(root):
    folder = root / "KAUH"
    result = kauh_reader.check(folder)
    assert result.found == 48 and result.expected == kauh_reader.N_RECORDINGS and not result.complete
    rec = kauh_reader.recordings(folder)
    assert list(rec.columns) == list(RECORDING_COLUMNS) and len(rec) == 48
    row = rec.set_index("recording_id").loc["EP14_asthma,I E W,P R U,38,M"]
    assert row["adventitious"] == "inspiratory, expiratory, wheezes" and row["site"] == "posterior right upper"
    assert row["device"] == "electronic stethoscope, extended filter mode" and row["age"] == 38
