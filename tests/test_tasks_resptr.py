"""RespiratoryDatabase@TR loader (T09) on a miniature copy of the publisher's download."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, validate_manifest
from acubench.tasks import _resptr_reader as resptr_reader
from acubench.tasks import resptr
from layouts.resptr import GRADES, PATIENTS, build_resptr

#: What the recipe (seed 1337, stratified two-stage split in row order) draws on this fixture.
DRAWN_VAL = ["H003", "H012", "H023", "H025", "H032", "H036", "H045"]
DRAWN_TEST = ["H004", "H005", "H015", "H018", "H026", "H029", "H034", "H039", "H042"]


def load(root: Path) -> pd.DataFrame:
    df = resptr_reader.load(LoadContext(task=resptr.TASKS[0], data_root=root, cache_dir=root / "cache"))
    return validate_manifest(df, resptr.TASKS[0])


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resptr")
    build_resptr(root)
    return root


def test_fixture_has_the_real_grade_counts():
    assert len(PATIENTS) == len(GRADES) == 42
    assert pd.Series(list(GRADES)).value_counts().to_dict() == {"4": 17, "3": 7, "2": 7, "0": 6, "1": 5}


def test_split_is_the_recipe_and_reproduces_the_published_counts(full):
    df = load(full)
    assert len(df) == 504 and df["clip_id"].is_unique
    assert df["split"].value_counts().to_dict() == {"train": 312, "test": 108, "val": 84}
    assert df.groupby("split")["subject"].nunique().to_dict() == {"train": 26, "val": 7, "test": 9}
    assert sorted(df.loc[df["split"] == "val", "subject"].unique()) == DRAWN_VAL
    assert sorted(df.loc[df["split"] == "test", "subject"].unique()) == DRAWN_TEST
    per_split = {s: g["label"].value_counts().to_dict() for s, g in df.groupby("split")}
    assert per_split == {"train": {4: 120, 2: 60, 0: 48, 3: 48, 1: 36},
                         "val": {4: 36, 0: 12, 1: 12, 2: 12, 3: 12},
                         "test": {4: 48, 3: 24, 0: 12, 1: 12, 2: 12}}
    assert resptr.TASKS[0].expected_counts == df["split"].value_counts().to_dict()
    assert (df.groupby("subject")["split"].nunique() == 1).all()
    assert (df["split_seed"] == 1337).all()


def test_labels_and_channels(full):
    df = load(full).set_index("clip_id")
    assert df.loc["H016_R6", ["label", "label_name", "subject", "location"]].tolist() == [0, "COPD0", "H016", "R6"]
    assert df.loc["H002_L1", "label"] == 4 and df.loc["H045_L3", "label"] == 1
    assert df.groupby("subject").size().eq(12).all()
    assert Path(df.loc["H002_L1", "path"]).is_file() and Path(df.loc["H002_L1", "path"]).is_absolute()


def test_flat_layout_and_check_and_recordings(tmp_path):
    folder = build_resptr(tmp_path, nested=False)
    assert sorted(load(tmp_path).loc[lambda d: d["split"] == "val", "subject"].unique()) == DRAWN_VAL
    assert resptr_reader.check(folder).complete and resptr_reader.check(folder).found == 504
    (folder / "H002_L1.wav").unlink()
    assert not resptr_reader.check(folder).complete and resptr_reader.check(folder).found == 503
    assert resptr_reader.check(tmp_path / "absent").present is False


def test_recordings_table(full):
    rec = resptr_reader.recordings(full / "RespiratoryDatabase@TR")
    assert list(rec.columns) == list(RECORDING_COLUMNS) and len(rec) == 504
    row = rec.set_index("recording_id").loc["H016_R6"]
    assert (row["subject"], row["site"], row["diagnosis"]) == ("H016", "right chest-wall channel R6",
                                                               "COPD severity grade 0 of 0-4")
    assert (rec["dataset"] == "resptr").all() and (rec["modality"] == "lung sounds").all()


def test_bad_layouts_raise_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="RespiratoryDatabase@TR"):
        load(tmp_path)
    folder = build_resptr(tmp_path)
    audio = folder / "RespiratoryDatabase@TR"
    labels = folder / "Labels.csv"
    original = labels.read_bytes()

    labels.write_bytes(original.replace(b"H030,COPD2,", b"H030,COPD5,"))
    with pytest.raises(DatasetError, match=r"Labels\.csv.*COPD5"):
        load(tmp_path)
    labels.write_bytes(original.replace(b"H030,COPD2,", b"H029,COPD2,"))
    with pytest.raises(DatasetError, match=r"Labels\.csv.*H029"):
        load(tmp_path)
    labels.write_bytes(original.replace(b"H030,COPD2,", b"H030,,"))
    with pytest.raises(DatasetError, match=r"Labels\.csv.*Diagnosis"):
        load(tmp_path)
    labels.write_bytes(original)

    (audio / "H030_R4.wav").rename(tmp_path / "H030_R4.wav")
    with pytest.raises(DatasetError, match=r"H030_R4\.wav"):
        load(tmp_path)
    (tmp_path / "H030_R4.wav").rename(audio / "H030_R4.wav")
    (audio / "H099_L1.wav").write_bytes((audio / "H002_L1.wav").read_bytes())
    with pytest.raises(DatasetError, match=r"H099_L1\.wav"):
        load(tmp_path)
    (audio / "H099_L1.wav").unlink()

    labels.unlink()
    with pytest.raises(DatasetError, match=r"Labels\.csv"):
        load(tmp_path)


def test_too_few_patients_to_stratify_is_a_dataset_error(tmp_path):
    folder = build_resptr(tmp_path)
    lines = (folder / "Labels.csv").read_bytes().split(b"\r\n")
    # the first 16 patients: grade 0 only once (H016), too rare to stratify
    (folder / "Labels.csv").write_bytes(b"\r\n".join(lines[:17]))
    for p in PATIENTS[16:]:
        for c in resptr_reader.CHANNELS:
            (folder / "RespiratoryDatabase@TR" / f"{p}_{c}.wav").unlink()
    with pytest.raises(DatasetError, match=r"Labels\.csv.*stratified"):
        load(tmp_path)


def test_xlsx_without_openpyxl_says_how_to_fix(tmp_path, monkeypatch):
    folder = build_resptr(tmp_path)
    (folder / "Labels.csv").rename(folder / "Labels.xlsx")
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # makes `import openpyxl` fail
    with pytest.raises(DatasetError, match=r"Labels\.xlsx.*openpyxl"):
        load(tmp_path)


def test_the_publishers_labels_xlsx_reads_as_shipped(tmp_path):
    """The Mendeley record ships Labels.xlsx (sheet "Sayfa1"); it gives the same manifest as the CSV."""
    folder = build_resptr(tmp_path)
    expected = load(tmp_path)
    table = pd.read_csv(folder / "Labels.csv", encoding="utf-8-sig", dtype=str)
    table.to_excel(folder / "Labels.xlsx", sheet_name="Sayfa1", index=False)
    (folder / "Labels.csv").unlink()
    pd.testing.assert_frame_equal(load(tmp_path), expected)
