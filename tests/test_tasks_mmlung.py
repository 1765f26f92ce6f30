"""MMLung loaders (T10–T15) on a miniature copy of the publisher's layout plus OPERA's ground-truth table."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, validate_manifest
from acubench.plugins import get_encoder
from acubench.tasks import _mmlung_reader as mmlung_reader
from acubench.tasks import mmlung
from layouts.mmlung import IDS, build_mmlung, table


def load(root: Path, task_id: str) -> pd.DataFrame:
    task = next(t for t in mmlung.TASKS if t.id == task_id)
    return validate_manifest(mmlung_reader.load(LoadContext(task=task, data_root=root, cache_dir=root / "cache")), task)


def test_breath_fvc_one_fold_per_participant_in_opera_order(tmp_path):
    build_mmlung(tmp_path)
    df = load(tmp_path, "T10")
    assert len(df) == 40 and (df["split"] == "pool").all() and df["subject"].nunique() == 40
    # OPERA's order: Spirometry_file sorted as strings ("1_s…" < "10_…" < "2_…"), pinned
    order = df["subject"].tolist()
    assert order[:4] == ["10", "11", "12", "13"] and order[9:12] == ["19", "1", "20"] and order[-1] == "9"
    row = df.set_index("subject").loc["12"]
    assert row["clip_id"] == "12_deepbreaths" and row["label"] == pytest.approx(2.6)
    assert Path(row["path"]).is_absolute() and Path(row["path"]).is_file()
    assert row["path"].endswith("Trimmed Data from phone/9_3_deepbreath/12_deepbreaths.wav")
    assert row["spirometry_file"] == "12_spirometry.xls" and row["modality"] == "breath"
    assert df["label"].dtype == "float64"


@pytest.mark.parametrize("task_id, column, clip, subject, value", [
    ("T11", "fev1", "20_deepbreaths", "20", 2.3),
    ("T12", "fev1_fvc", "7_deepbreaths", "7", 91.0),  # '*' removed as extract_mmlung.py does
    ("T13", "fvc", "3_vowelo", "3", 2.15),
    ("T14", "fev1", "40_vowelo", "40", 3.1),
    ("T15", "fev1_fvc", "10_vowelo", "10", 76.0),
])
def test_each_task_reads_its_modality_and_target(tmp_path, task_id, column, clip, subject, value):
    build_mmlung(tmp_path)
    df = load(tmp_path, task_id).set_index("clip_id")
    assert df.loc[clip, "label"] == pytest.approx(value) and df.loc[clip, "subject"] == subject
    assert (df["label"] == df[column]).all() and len(df) == 40


def test_processing_script_folder_name_is_accepted(tmp_path):
    build_mmlung(tmp_path, audio_dir="Trimmed_Data_from_phone")
    assert "Trimmed_Data_from_phone/5_2_O_single/" in load(tmp_path, "T13").loc[0, "path"]


def test_unused_recordings_are_logged_not_used(tmp_path, caplog):
    folder = build_mmlung(tmp_path)
    sf.write(str(folder / "Trimmed Data from phone" / "9_3_deepbreath" / "41_deepbreaths.wav"),
             np.zeros(100, dtype="float32"), 16000)
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = load(tmp_path, "T10")
    assert len(df) == 40 and "41_deepbreaths.wav" in caplog.text and "dropped 1 row" in caplog.text


def test_spec_matches_the_reference_protocol():
    assert [(t.id, t.opera_task, t.name) for t in mmlung.TASKS] == [
        ("T10", 13, "mmlung-breath-fvc"), ("T11", 14, "mmlung-breath-fev1"), ("T12", 15, "mmlung-breath-fev1-fvc"),
        ("T13", 16, "mmlung-vowel-fvc"), ("T14", 17, "mmlung-vowel-fev1"), ("T15", 18, "mmlung-vowel-fev1-fvc")]
    for task in mmlung.TASKS:
        assert task.kind == "regression" and task.protocol == "loso" and task.clip_seconds == 1.0
        assert task.expected_counts == {"pool": 40} and task.suites == ("acula18", "opera")
        ct, gt = task.clip_policy(get_encoder("opera-ct")), task.clip_policy(get_encoder("opera-gt"))
        assert (ct.min_seconds, ct.pad) == (20.0, "zero")
        assert (gt.window_seconds, gt.hop_seconds, gt.last_window) == (5.0, None, "pad")
        opts = task.probe_options
        assert (opts["l2_strength"], opts["epochs"], opts["batch_size"]) == (0.1, 64, 64)
        assert (opts["early_stopping_patience"], opts["early_stopping_min_delta"]) == (5, 0.001)
        # OPERA's validation is ceil(0.11 * 39) = 5 rows; acubench's probe rounds fraction * 39.
        assert round(opts["val_fraction"] * 39) == 5 and "val_split" not in opts


def test_check_and_recordings(tmp_path):
    folder = build_mmlung(tmp_path)
    status = mmlung_reader.check(folder)
    assert status.complete and (status.found, status.expected) == (80, 80)
    rec = mmlung_reader.recordings(folder)
    assert list(rec.columns) == list(RECORDING_COLUMNS) and len(rec) == 80
    row = rec.set_index("recording_id").loc["5_vowelo", ["subject", "modality"]]
    assert row.tolist() == ["5", 'sustained vowel "o"']
    (folder / "Trimmed Data from phone" / "5_2_O_single" / "5_vowelo.wav").unlink()
    assert mmlung_reader.check(folder).problems == ("1 of 80 recordings missing",)
    assert mmlung_reader.check(tmp_path / "absent").present is False


def test_missing_recording_raises_naming_it(tmp_path):
    folder = build_mmlung(tmp_path)
    (folder / "Trimmed Data from phone" / "9_3_deepbreath" / "33_deepbreaths.wav").unlink()
    with pytest.raises(DatasetError, match=r"33_deepbreaths\.wav"):
        load(tmp_path, "T11")
    load(tmp_path, "T14")  # the vowel tasks do not need the breath recording


def test_only_xls_reports_without_xlrd_give_the_fix(tmp_path, monkeypatch):
    folder = build_mmlung(tmp_path)
    (folder / mmlung.TABLE_CSV).unlink()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "xlrd" else real(name, *a))
    with pytest.raises(DatasetError, match=r"All_path\.csv.*40 \.xls.*xlrd.*acubench\[xls\]"):
        load(tmp_path, "T10")
    assert "All_path.csv" in mmlung_reader.check(folder).problems[0]


REPORT = Path(__file__).parent / "data" / "mmlung_report.xls"  # a real BIFF file: B23 "3.21", B24 2.65, B25 "82*"


def test_the_publishers_xls_reports_are_read_directly(tmp_path):
    pytest.importorskip("xlrd")
    folder = build_mmlung(tmp_path)
    (folder / mmlung.TABLE_CSV).unlink()
    for report in (folder / mmlung.SPIROMETRY_DIR).glob("*.xls"):
        report.write_bytes(REPORT.read_bytes())
    df = load(tmp_path, "T12")
    assert len(df) == 40 and (df["label"] == 82.0).all()  # FEV1/FVC, the '*' flag removed
    truth = mmlung_reader.read_ground_truth(folder)
    assert (truth["fvc"] == 3.21).all() and (truth["fev1"] == 2.65).all()
    broken = folder / mmlung.SPIROMETRY_DIR / "7_spirometry.xls"
    broken.write_bytes(b"not an excel file")
    with pytest.raises(DatasetError, match=r"7_spirometry\.xls.*B23-B25"):
        mmlung_reader.read_ground_truth(folder)


def test_xlsx_without_openpyxl_names_the_fix(tmp_path, monkeypatch):
    folder = build_mmlung(tmp_path)
    (folder / mmlung.TABLE_CSV).unlink()
    (folder / mmlung.TABLE_XLSX).write_bytes(b"PK\x03\x04")
    monkeypatch.setattr(mmlung_reader.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match=r"All_path\.xlsx.*openpyxl.*All_path\.csv"):
        load(tmp_path, "T10")


@pytest.mark.parametrize("edit, message", [
    (lambda df: df.assign(FEV1=df["FEV1"].astype(object).where(df.index != 3, "n/a")), r"'FEV1'.*'n/a'.*B24"),
    (lambda df: df.assign(FVC=df["FVC"].where(df.index != 0, -1.0)), r"'FVC'.*B23"),
    (lambda df: df.drop(columns=["FEV1/FVC"]), r"lacks column.*FEV1/FVC"),
    (lambda df: pd.concat([df, df.iloc[[0]]]), r"participant\(s\) \['10'\] twice"),
    (lambda df: df.iloc[1:], r"does not match the reports.*not in the table: \['10_spirometry\.xls'\]"),
])
def test_malformed_table_raises_naming_it(tmp_path, edit, message):
    folder = build_mmlung(tmp_path)
    edit(table()).to_csv(folder / mmlung.TABLE_CSV, index=False)
    with pytest.raises(DatasetError, match=message) as err:
        load(tmp_path, "T10")
    assert "All_path.csv" in str(err.value)


def test_incomplete_download_raises(tmp_path):
    with pytest.raises(DatasetError, match="mmlung"):
        load(tmp_path, "T10")
    build_mmlung(tmp_path, ids=IDS[:39])
    with pytest.raises(DatasetError, match="39 participant"):
        load(tmp_path, "T10")
