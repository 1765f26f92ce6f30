"""Extra-task loaders (X01-X03, X05, X06) on miniature copies of the publishers' layouts."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, ManifestError, validate_manifest
from acubench.specs import resolve_ref
from acubench.tasks import _covid19sounds_reader as covid19sounds_reader
from acubench.tasks import _hflung_reader as hflung_reader
from acubench.tasks import _sprsound_reader as sprsound_reader
from acubench.tasks import _ssbpr_reader as ssbpr_reader
from acubench.tasks import covid19sounds, hflung, sprsound, ssbpr
from layouts import wav
from layouts.covid19sounds import COVID_ROWS, build_covid
from layouts.hflung import HF, build_hflung
from layouts.sprsound import build_sprsound
from layouts.ssbpr import build_ssbpr


def run(task, root: Path, protocol: str = "default", allow_leakage: bool = False):
    df = resolve_ref(task.loader)(LoadContext(task=task, data_root=root, cache_dir=root / "cache", protocol=protocol))
    return validate_manifest(df, task, allow_leakage=allow_leakage)


# --- COVID-19 Sounds (X01, X02) ---------------------------------------------------------


def test_covid19sounds_sessions_sharing_a_folder_are_two_clips(tmp_path):
    """As in the published table: two sessions of one Uid in one Folder Name, told apart by their files."""
    folder = build_covid(tmp_path)
    table = folder / "data_0426_en_task1.csv"
    extra_row = "u12;2020-05-21-10_00_00_000000;cough_2.wav;breath_2.wav;2;1\n"
    table.write_text(table.read_text(encoding="utf-8") + extra_row, encoding="utf-8")
    session = folder / "0426_EN_used_task1" / "u12" / "2020-05-21-10_00_00_000000"
    wav(session / "cough_2.wav", 50)
    wav(session / "breath_2.wav", 51)
    df = run(covid19sounds.TASKS[0], tmp_path)
    assert {"u12/2020-05-21-10_00_00_000000/breath", "u12/2020-05-21-10_00_00_000000/breath_2"} <= set(df["clip_id"])
    assert len(df) == len(COVID_ROWS) + 1 and df["clip_id"].is_unique


def test_covid19sounds_participant_in_two_official_splits_goes_to_test(tmp_path, caplog):
    """As in the published table: a participant whose result changed has sessions in train and in test."""
    folder = build_covid(tmp_path)
    table = folder / "data_0426_en_task1.csv"
    table.write_text(table.read_text(encoding="utf-8") + "u01;2020-06-01-10_00_00_000000;cough.wav;breath.wav;2;1\n",
                     encoding="utf-8")
    session = folder / "0426_EN_used_task1" / "u01" / "2020-06-01-10_00_00_000000"
    wav(session / "cough.wav", 60)
    wav(session / "breath.wav", 61)
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = run(covid19sounds.TASKS[0], tmp_path)
    assert "1 participant(s) have sessions in two official splits; their 2 session(s) all go to test" in caplog.text
    assert set(df.loc[df["subject"] == "u01", "split"]) == {"test"}
    ref = run(covid19sounds.TASKS[0], tmp_path, protocol="reference", allow_leakage=True)
    assert set(ref.loc[ref["subject"] == "u01", "split"]) == {"train", "test"}


def test_covid19sounds_official_split_and_form_users(tmp_path):
    folder = build_covid(tmp_path)
    df = run(covid19sounds.TASKS[0], tmp_path)
    assert df["split"].value_counts().to_dict() == {"train": 8, "val": 2, "test": 2}
    row = df.set_index("subject").loc["2020-04-07-01"]
    assert "/0426_EN_used_task1/form-app-users/2020-05-11-" in row["path"] and row["label"] == 1
    assert row["path"].endswith("breath.wav") and row["clip_id"].endswith("/breath")
    cough = run(covid19sounds.TASKS[1], tmp_path)
    assert cough["path"].str.endswith("cough.wav").all() and list(cough["label"]) == list(df["label"])
    rec = covid19sounds_reader.recordings(folder)
    assert list(rec.columns) == list(RECORDING_COLUMNS) and len(rec) == 24
    assert set(rec["diagnosis"]) == {"COVID-19 negative", "COVID-19 positive"}
    assert covid19sounds_reader.check(folder).complete


def test_covid19sounds_reference_keeps_every_fifth_training_row(tmp_path):
    build_covid(tmp_path)
    df = run(covid19sounds.TASKS[1], tmp_path, protocol="reference")
    assert list(df.loc[df["split"] == "train", "subject"]) == ["u01", "u06"]  # rows 0 and 5 of the training rows
    assert (df["split"] != "train").sum() == 4


def test_covid19sounds_bad_layouts(tmp_path):
    folder = build_covid(tmp_path)
    table = folder / "data_0426_en_task1.csv"
    text = table.read_text(encoding="utf-8")
    table.write_text(text.replace("cough.wav;breath.wav;2;1", "cough.wav;breath.wav;2;positive"), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"data_0426_en_task1.csv: unknown label value\(s\) \['positive'\]"):
        run(covid19sounds.TASKS[0], tmp_path)
    table.write_text(text, encoding="utf-8")
    next((folder / "0426_EN_used_task1" / "form-app-users").glob("*/breath.wav")).unlink()
    with pytest.raises(DatasetError, match=r"breath\.wav: 1 of 12 audio file"):
        run(covid19sounds.TASKS[0], tmp_path)
    assert len(run(covid19sounds.TASKS[1], tmp_path)) == 12  # the cough is there
    table.unlink()
    with pytest.raises(DatasetError, match=r"data_0426_en_task1\.csv: missing Task 1 table"):
        run(covid19sounds.TASKS[1], tmp_path)


# --- SSBPR (X03) ------------------------------------------------------------------------


def test_ssbpr_default_split_is_patient_level(tmp_path, caplog):
    folder = build_ssbpr(tmp_path)
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = run(ssbpr.TASKS[0], tmp_path)
    assert "X03: dropped 10 row(s): prone position" in caplog.text
    assert len(df) == 50 and sorted(df["label"].unique()) == [0, 1, 2, 3, 4]
    assert df.groupby("subject")["split"].nunique().max() == 1
    # pinned: sklearn train_test_split over sorted patients, seed 42 (20 % test, then 25 % of the rest)
    split_of = df.groupby("subject")["split"].first()
    assert sorted(split_of[split_of == "test"].index) == ["103-02", "208-01"]
    assert sorted(split_of[split_of == "val"].index) == ["103-01", "115-02"]
    row = df.set_index("clip_id").loc["male/02/201-03-4"]
    assert row["label_name"] == "right lateral" and row["sex"] == "male"
    rec = ssbpr_reader.recordings(folder)
    assert len(rec) == 60 and rec.set_index("recording_id").loc["female/01/103-01-5", "body_position"] == "prone"
    assert ssbpr_reader.check(folder).found == 60


def test_ssbpr_reference_split_is_file_level_and_leaks(tmp_path):
    build_ssbpr(tmp_path)
    df = run(ssbpr.TASKS[0], tmp_path, protocol="reference", allow_leakage=True)
    assert df["split"].value_counts().to_dict() == {"train": 30, "val": 10, "test": 10}
    assert (df.groupby(["split", "label"]).size() == 2).loc["test"].all()  # stratified: 2 of each position
    with pytest.raises(ManifestError, match="more than one split"):
        validate_manifest(df, ssbpr.TASKS[0])


def test_ssbpr_bad_names(tmp_path):
    with pytest.raises(DatasetError, match="SSBPR"):
        run(ssbpr.TASKS[0], tmp_path)
    folder = build_ssbpr(tmp_path)
    wav(folder / "female" / "01" / "103-01-7.wav")
    with pytest.raises(DatasetError, match="body position 7"):
        run(ssbpr.TASKS[0], tmp_path)
    (folder / "female" / "01" / "103-01-7.wav").rename(folder / "female" / "01" / "notes.wav")
    with pytest.raises(DatasetError, match=r"notes\.wav: 1 file name"):
        run(ssbpr.TASKS[0], tmp_path)


# --- SPRSound (X05) ---------------------------------------------------------------------


def test_sprsound_default_protocol(tmp_path, caplog):
    build_sprsound(tmp_path)
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = run(sprsound.TASKS[0], tmp_path)
    assert "X05: dropped 1 row(s): Poor Quality" in caplog.text and "dropped 2 row(s): intra-patient" in caplog.text
    assert len(df) == 12 and set(df.loc[df["split"] == "test", "subject"]) == {"42001", "42002"}
    assert df.set_index("clip_id")["label"].to_dict()["41003_0.8_0_p2_6"] == 1
    assert int(df["label"].sum()) == 6
    # pinned: one of the five training patients (20 %, seed 1337) is the validation patient
    assert sorted(df.loc[df["split"] == "val", "subject"].unique()) == ["41004"]
    assert df.set_index("clip_id").loc["42001_4.4_1_p2_12", "location"] == "left lateral"


def test_sprsound_challenge_protocol_leaks(tmp_path):
    build_sprsound(tmp_path)
    df = run(sprsound.TASKS[0], tmp_path, protocol="challenge", allow_leakage=True)
    assert (df["part"] == "intra_test").sum() == 2 and (df["split"] == "test").sum() == 5
    with pytest.raises(ManifestError, match="41001"):
        validate_manifest(df, sprsound.TASKS[0])


def test_sprsound_recordings_and_bad_layouts(tmp_path):
    folder = build_sprsound(tmp_path)
    rec = sprsound_reader.recordings(folder)
    assert list(rec.columns) == list(RECORDING_COLUMNS) and len(rec) == 15
    row = rec.set_index("recording_id").loc["41001_3.4_1_p2_2"]
    assert row["adventitious"] == "continuous adventitious sounds; Wheeze in 1 of 2 respiratory events"
    assert row["age"] == 3.4 and row["sex"] == "female" and row["diagnosis"] == "Asthma"
    assert pd.isna(rec.set_index("recording_id").loc["41005_2.2_0_p2_9", "diagnosis"])
    assert sprsound_reader.check(folder).found == 15
    ann = folder / "BioCAS2022" / "train2022_json" / "41001_3.4_1_p1_1.json"
    ann.write_text(json.dumps({"record_annotation": "Crackles", "event_annotation": []}))
    with pytest.raises(DatasetError, match=r"41001_3.4_1_p1_1.json: unknown record_annotation value\(s\)"):
        sprsound_reader.recordings(folder)
    ann.write_text("{not json")
    with pytest.raises(DatasetError, match=r"41001_3\.4_1_p1_1\.json: not a SPRSound annotation"):
        sprsound_reader.recordings(folder)
    ann.unlink()
    with pytest.raises(DatasetError, match=r"41001_3\.4_1_p1_1\.wav: 1 recording"):
        sprsound_reader.recordings(folder)


# --- HF_Lung_V1 (X06) -------------------------------------------------------------------


def test_hflung_labels_follow_the_reference_recipe(tmp_path):
    folder = build_hflung(tmp_path)
    df = run(hflung.TASKS[0], tmp_path).set_index("clip_id")
    assert df.loc["steth_20180814_09_37_33", "reference_label"] == "None"  # a label, not NaN
    assert df.loc["steth_20180815_10_00_00", "reference_label"] == "Both"
    assert df.loc["steth_20190101_11_12_00", ["reference_label", "crackles"]].tolist() == ["Both", True]
    assert df.loc["trunc_2019-07-16-10-20-29-L1_1", "reference_label"] == "Wheeze"
    assert df["label"].to_dict() == {s: int(hflung_reader.reference_label(t) != "None")
                                     for recs in HF.values() for s, t in recs.items()}
    assert (df.loc[list(HF["test"]), "split"] == "test").all() and len(df) == 13
    # pinned: 20 % of the 7 training dates (seed 1337) are validation; a date's recordings stay together
    assert sorted(df.loc[df["split"] == "val", "date"].unique()) == ["20180902", "20190716"]
    assert (df.loc[["trunc_2019-07-16-10-20-29-L1_1", "trunc_2019-07-16-10-20-29-L1_2"], "split"] == "val").all()
    rec = hflung_reader.recordings(folder).set_index("recording_id")
    assert rec.loc["steth_20190101_11_12_00", "adventitious"] == (
        "crackles in 1, rhonchi in 1 and wheeze in 1 annotated events")
    assert rec.loc["steth_20180814_09_37_33", "adventitious"] == "none"
    assert rec.loc["trunc_2019-07-16-10-20-29-L1_2", "device"] == "HF-Type-1 multichannel lung sound recorder"
    assert hflung_reader.check(folder).found == 13


def test_hflung_bad_layouts(tmp_path):
    folder = build_hflung(tmp_path) / "HF_Lung_V1-master" / "test"
    label = folder / "steth_20190101_11_11_11_label.txt"
    label.write_text("I 00:00:00.000 00:00:01.000\nCough 00:00:01.000 00:00:02.000\n")
    with pytest.raises(DatasetError, match=r"11_11_11_label.txt: unknown event type value\(s\) \['Cough'\]"):
        run(hflung.TASKS[0], tmp_path)
    label.write_text("I 0.0 1.0\n")
    with pytest.raises(DatasetError, match=r"label\.txt: line 1"):
        run(hflung.TASKS[0], tmp_path)
    label.write_text("I 00:00:00.000 00:00:01.000\n")
    (folder / "steth_20190101_11_11_11.wav").unlink()
    with pytest.raises(DatasetError, match=r"steth_20190101_11_11_11\.wav: missing"):
        run(hflung.TASKS[0], tmp_path)
