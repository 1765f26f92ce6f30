"""NoseMic loader (T16) on a miniature copy of the publisher's audio folder."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, validate_manifest
from acubench.plugins import get_encoder
from acubench.tasks import _nosemic_reader as nosemic_reader
from acubench.tasks import nosemic
from layouts.nosemic import FILES, build_nosemic


def load(root: Path) -> pd.DataFrame:
    df = nosemic_reader.load(LoadContext(task=nosemic.TASKS[0], data_root=root, cache_dir=root / "cache"))
    return validate_manifest(df, nosemic.TASKS[0])


def test_rate_from_the_file_name_and_one_pool_over_participants(tmp_path):
    build_nosemic(tmp_path)
    df = load(tmp_path)
    assert len(df) == 32 and (df["split"] == "pool").all()
    assert df["subject"].nunique() == 16 and set(df["subject"]) == set(nosemic.REFERENCE_UIDS)
    row = df.set_index("clip_id").loc["10_2_b_15.5"]
    assert (row["label"], row["subject"], row["recording"]) == (15.5, "10", "2_b")
    assert df.set_index("clip_id").loc["4_1_a_16", "label"] == 16.0 and df["label"].dtype == "float64"
    # OPERA's order: sorted file names ("10_…" before "4_…")
    assert df["clip_id"].tolist()[:3] == ["10_1_a_15", "10_2_b_15.5", "11_1_a_16"]
    assert Path(df.loc[0, "path"]).is_absolute() and Path(df.loc[0, "path"]).is_file()


def test_extra_participant_only_trains_and_is_logged(tmp_path, caplog):
    build_nosemic(tmp_path, FILES + ["2_1_a_20.25.wav"])
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = load(tmp_path)
    row = df.set_index("clip_id").loc["2_1_a_20.25"]
    assert df["subject"].nunique() == 17 and row["label"] == 20.25 and row["split"] == "train"
    assert set(df.loc[df["subject"] != "2", "split"]) == {"pool"}
    assert "['2']" in caplog.text


def test_spec_matches_the_reference_inputs():
    task = nosemic.TASKS[0]
    assert task.kind == "regression" and task.protocol == "loso" and task.clip_seconds == 1.0
    ct, gt = task.clip_policy(get_encoder("opera-ct")), task.clip_policy(get_encoder("opera-gt"))
    assert ct.min_seconds == 30.0 and ct.pad == "repeat"
    assert gt.window_seconds == 8.0
    assert task.probe_options["l2_strength"] == 0.1 and "early_stopping_patience" not in task.probe_options


def test_check_and_recordings(tmp_path):
    audio = build_nosemic(tmp_path)
    folder = audio.parent
    assert nosemic_reader.check(folder).complete and nosemic_reader.check(folder).found == 32
    rec = nosemic_reader.recordings(folder)
    assert list(rec.columns) == list(RECORDING_COLUMNS) and len(rec) == 32
    assert rec.set_index("recording_id").loc["21_1_a_12", ["subject", "respiratory_rate"]].tolist() == ["21", 12.0]
    for name in FILES[:2]:
        (audio / name).unlink()
    assert nosemic_reader.check(folder).problems == ("no recordings of participant(s) ['4']",)
    assert nosemic_reader.check(tmp_path / "absent").present is False


@pytest.mark.parametrize("bad", ["4_1_a_fast.wav", "4_1_a.wav", "4_1_a_b_12.wav", "4_1_a_-3.wav", "notes.txt"])
def test_odd_file_names_raise(tmp_path, bad):
    build_nosemic(tmp_path, FILES)
    (tmp_path / "nosemic" / "audio" / bad).write_bytes(b"x")
    with pytest.raises(DatasetError, match=bad.replace(".", r"\.")):
        load(tmp_path)


def test_missing_folder_audio_or_participant_raise(tmp_path):
    with pytest.raises(DatasetError, match="nosemic"):
        load(tmp_path)
    (tmp_path / "nosemic").mkdir()
    with pytest.raises(DatasetError, match="audio"):
        load(tmp_path)
    (tmp_path / "nosemic" / "audio").mkdir()
    with pytest.raises(DatasetError, match="no NoseMic recordings"):
        load(tmp_path)
    for name in [f for f in FILES if not f.startswith("17_")]:
        sf.write(str(tmp_path / "nosemic" / "audio" / name), np.zeros(50, dtype="float32"), 16000)
    with pytest.raises(DatasetError, match=r"\['17'\]"):
        load(tmp_path)
