"""CirCor loader (T17 murmur, X04 outcome) on a miniature copy of the PhysioNet v1.0.3 release."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, validate_manifest
from acubench.tasks import _circor_reader as circor_reader
from acubench.tasks import circor
from layouts.circor import FOLDER, PATIENTS, build_circor, write_part


def patients(df: pd.DataFrame, split: str) -> list[str]:
    return sorted(df.loc[df["split"] == split, "subject"].unique(), key=int)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    build_circor(tmp_path)
    return tmp_path


def load(root: Path, task: int = 0, **options) -> pd.DataFrame:
    spec = circor.TASKS[task]
    df = circor_reader.load(LoadContext(task=spec, data_root=root, cache_dir=root / "cache", options=options))
    return validate_manifest(df, spec)


def test_patient_file_parsing(root):
    p = circor_reader.read_patient(root / FOLDER / "training_data" / "14241.txt")
    assert p["subject"] == "14241" and p["sample_rate"] == 4000 and len(p["recordings"]) == 4
    assert p["Murmur"] == "Present" and p["Diastolic murmur grading"] == "I/IV" and p["Additional ID"] is None
    p = circor_reader.read_patient(root / FOLDER / "training_data" / "50782.txt")
    assert p["recordings"][-2:] == [("MV", "50782_MV_1.wav"), ("MV", "50782_MV_2.wav")]


def test_murmur_task_drops_unknown_and_splits_by_patient(root, caplog):
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = load(root)
    assert "T17: dropped 8 row(s): Murmur 'Unknown'" in caplog.text  # patients 9983, 9985, 9986
    assert not {"9983", "9985", "9986"} & set(df["subject"]) and len(df) == 44
    assert df.groupby("subject")["split"].nunique().max() == 1
    assert (df["split_source"] == "seeded").all() and (df["split_seed"] == circor.SPLIT_SEED).all()
    by_patient = df.groupby("subject")["label"].first()
    assert sorted(by_patient[by_patient == 1].index, key=int) == ["9979", "13918", "14241", "49595", "68315", "85033"]
    # pinned: sklearn train_test_split over sorted patients, seed 42, stratified by murmur x outcome
    # (20 % test, then 10 % of all val); Absent/Abnormal 2530 is a stratum of one and joins Absent/Normal
    assert patients(df, "test") == ["40058", "84795", "85033"] and patients(df, "val") == ["50115", "68315"]
    row = df.set_index("clip_id").loc["13918_AV"]
    assert row["murmur_audible_here"] == False and row["location"] == "AV" and row["sex"] == "male"  # noqa: E712
    assert df.set_index("clip_id").loc["13918_TV", "murmur_audible_here"] == True  # noqa: E712
    assert {"50782_MV_1", "50782_MV_2", "68315_Phc"} <= set(df["clip_id"])


def test_outcome_task_keeps_every_patient_and_shares_the_split(root):
    df = load(root, task=1)
    assert len(df) == 52 and df["subject"].nunique() == 16
    assert df.groupby("subject")["split"].nunique().max() == 1
    labels = df.groupby("subject")["label"].first()
    assert labels["9983"] == 1 and labels["2530"] == 1 and labels["50115"] == 0  # outcome, whatever the murmur
    assert patients(df, "test") == ["9983", "40058", "84795", "85033"] and patients(df, "val") == ["50115", "68315"]
    murmur = load(root).groupby("subject")["split"].first()
    assert (df.groupby("subject")["split"].first()[murmur.index] == murmur).all()  # one patient split per dataset


def test_official_validation_and_test_sets_are_used_when_present(root):
    folder = root / FOLDER
    val = {"70000": PATIENTS["2530"], "70001": PATIENTS["9979"]}
    test = {"80000": PATIENTS["29045"], "80001": PATIENTS["13918"], "80002": PATIENTS["9983"]}
    write_part(folder, "validation_data", "validation_data.csv", val)
    write_part(folder, "test_data", "test_data.csv", test)
    df = load(root)
    assert patients(df, "val") == ["70000", "70001"] and patients(df, "test") == ["80000", "80001"]
    assert len(patients(df, "train")) == 13 and (df["split_source"] == "official").all()  # 16 minus 3 Unknown
    seeded = load(root, split="seeded")
    assert set(seeded["subject"]) == set(patients(df, "train"))
    shutil.rmtree(folder / "test_data")
    (folder / "test_data.csv").unlink()
    with pytest.raises(DatasetError, match="test_data"):
        load(root)
    with pytest.raises(ValueError, match="split=both"):
        load(root, split="both")


def test_bad_layouts_raise_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="physionet"):
        load(tmp_path)
    folder = build_circor(tmp_path)
    audio = folder / "training_data"
    (audio / "29045_MV.wav").unlink()
    with pytest.raises(DatasetError, match=r"29045_MV\.wav"):
        load(tmp_path)
    sf.write(str(audio / "29045_MV.wav"), np.zeros(300, dtype="float32"), 4000)
    sf.write(str(audio / "99999_AV.wav"), np.zeros(300, dtype="float32"), 4000)
    with pytest.raises(DatasetError, match=r"99999_AV\.wav: 1 audio file"):
        load(tmp_path)
    (audio / "99999_AV.wav").unlink()
    text = (audio / "2530.txt").read_text()
    (audio / "2530.txt").write_text(text.replace("#Murmur: Absent", "#Murmur: Maybe"))
    with pytest.raises(DatasetError, match=r"2530.txt: unknown #Murmur value\(s\) \['Maybe'\]"):
        load(tmp_path)
    (audio / "2530.txt").write_text(text.replace("#Outcome: Abnormal\n", ""))
    with pytest.raises(DatasetError, match=r"2530\.txt: no '#Outcome:' line"):
        load(tmp_path)
    (audio / "2530.txt").unlink()
    with pytest.raises(DatasetError, match=r"2530\.txt: missing patient file"):
        load(tmp_path)
    (folder / "training_data.csv").unlink()
    with pytest.raises(DatasetError, match=r"training_data\.csv: missing patient table"):
        load(tmp_path)


def test_check_and_recordings(root):
    folder = root / FOLDER
    result = circor_reader.check(folder)
    assert result.found == 52 and result.expected == circor_reader.N_RECORDINGS and not result.complete
    rec = circor_reader.recordings(folder)
    assert list(rec.columns)[:len(RECORDING_COLUMNS)] == list(RECORDING_COLUMNS) and len(rec) == 52
    row = rec.set_index("recording_id").loc["14241_PV"]
    assert row["murmur"] == "Present" and row["outcome"] == "Abnormal" and row["age"] == "Child"
    assert row["murmur_timing"] == "Early-systolic and Early-diastolic"
    assert row["murmur_grade"] == "II/VI and I/IV" and row["murmur_quality"] == "Harsh and Blowing"
    assert row["murmur_locations"] == ("aortic valve, mitral valve, pulmonary valve, tricuspid valve "
                                       "(most audible at pulmonary valve)")
    assert row["site"] == "pulmonary valve area" and row["height_cm"] == 98.0 and row["campaign"] == "CC2015"
    row = rec.set_index("recording_id").loc["9979_AV"]
    assert row["murmur_quality"] == "Harsh" and row["murmur_shape"] == "Diamond"
    pregnant = rec.set_index("recording_id").loc["50115_AV"]
    assert pregnant["pregnant"] == True and pd.isna(pregnant["age"]) and pregnant["sex"] == "female"  # noqa: E712
    assert rec.set_index("recording_id").loc["68315_Phc", "site"] == "other auscultation point"
    assert pd.isna(rec.set_index("recording_id").loc["2530_AV", "murmur_timing"])


def test_recordings_feed_the_report_templates(root):
    from acubench.align.reports import TemplateReports

    rec = circor_reader.recordings(root / FOLDER).set_index("recording_id", drop=False)
    # the phrasing is drawn per recording path, so check the facts, not the wording
    report = TemplateReports(seed=0).report(rec.loc["9979_TV"].to_dict()).lower()
    for fact in ("harsh", "high-pitched holosystolic murmur", "iii/vi", "diamond", "(most audible at tricuspid valve)",
                 "child", "female", "tricuspid valve area", "littmann 3200", "abnormal"):
        assert fact in report, fact
    report = TemplateReports(seed=0).report(rec.loc["2530_AV"].to_dict()).lower()
    assert any(s in report for s in ("no murmur", "murmur: absent", "no heart murmur")), report


def test_a_child_screened_in_both_campaigns_is_one_subject(tmp_path, caplog):
    """Two patient ids naming each other as #Additional ID are one child: one subject, one split."""
    folder = build_circor(tmp_path)
    for pid, other in (("29045", "84795"), ("84795", "29045")):
        path = folder / "training_data" / f"{pid}.txt"
        path.write_text(path.read_text().replace("#Additional ID: nan", f"#Additional ID: {other}"))
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = load(tmp_path, task=1)
    assert "2 patient id(s) name another patient as their Additional ID" not in caplog.text  # one is the root
    assert "1 patient id(s) name another patient" in caplog.text
    pair = df[df["patient"].isin(["29045", "84795"])]
    assert set(pair["subject"]) == {"29045"} and pair["split"].nunique() == 1
    assert df["subject"].nunique() == 15 and df["patient"].nunique() == 16
