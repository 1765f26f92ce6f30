"""UK COVID-19 Vocal Audio loaders (T01, T02) on a miniature open-access edition."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, TaskOptionError, validate_manifest
from acubench.tasks import _coviduk_reader as coviduk_reader
from acubench.tasks import coviduk
from layouts.coviduk import RESULTS, SPLITS, N, build_coviduk, file_name

SMALL = {"train": 4, "val": 2, "test": 3}


@pytest.fixture
def root(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(coviduk_reader, "SUBSET_SIZES", SMALL)
    build_coviduk(tmp_path)
    return tmp_path


def load(root: Path, modality: str = "exhalation", protocol: str = "default", **options) -> pd.DataFrame:
    task = coviduk.TASKS[0] if modality == "exhalation" else coviduk.TASKS[1]
    ctx = LoadContext(task=task, data_root=root, cache_dir=root / "cache", protocol=protocol, options=options)
    return validate_manifest(coviduk_reader.load(ctx), task)


def eligible(modality: str) -> dict[str, list[int]]:
    """Participants per official split with a PCR result and a recording of ``modality``, by hand."""
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i in range(N):
        split, result = SPLITS[i % len(SPLITS)], RESULTS[i % len(RESULTS)]
        recorded = not ((modality == "cough" and i == 8) or (modality == "exhalation" and i == 12))
        if split in out and result in ("Negative", "Positive") and recorded:
            out[split].append(i)
    return out


def members(df: pd.DataFrame, split: str) -> list[int]:
    return sorted(int(s) - 5000 for s in df.loc[df["split"] == split, "subject"])


def test_full_official_split_with_pcr_labels(root, caplog):
    with caplog.at_level(logging.INFO, logger="acubench.tasks"):
        df = load(root, "cough", subset="full")
    for split, expected in eligible("cough").items():
        assert members(df, split) == expected
    assert "no cough recording" in caplog.text and "no PCR result" in caplog.text and "'long'" in caplog.text
    results = df["subject"].astype(int).map(lambda p: RESULTS[(p - 5000) % len(RESULTS)])
    assert (df["label"] == (results == "Positive")).all() and set(df["label_name"]) == {"negative", "positive"}
    assert (df["subset"] == "full official split").all() and df["split_seed"].isna().all()


def test_default_draws_a_seeded_subset_of_participants(root):
    df = load(root)
    assert {s: members(df, s) for s in ("train", "val", "test")} == {
        "train": [0, 23, 25, 32], "val": [2, 9], "test": [10, 22, 27]}  # pinned draw, RandomState(42)
    for split, chosen in eligible("exhalation").items():
        assert set(members(df, split)) <= set(chosen)
    assert (df["split_seed"] == 42).all() and df["subset"].str.startswith("seeded").all()
    assert load(root, subset="2/1/2")["split"].value_counts().to_dict() == {"train": 2, "test": 2, "val": 1}
    with pytest.raises(TaskOptionError, match="subset=half: expected 'full' or three sizes"):
        load(root, subset="half")


def test_operas_subset_lists_are_used_as_they_are(root):
    folder = root / coviduk.DATASET.folder
    with pytest.raises(DatasetError, match=r"exhalation_training_files_downsample\.npy"):
        load(root, protocol="reference")
    chosen = {"train": [0, 4], "val": [9], "test": [10, 34]}
    for split, people in chosen.items():
        np.save(folder / f"exhalation_{coviduk_reader.LIST_STEMS[split]}_files_downsample.npy",
                np.array([file_name(i, "exhalation") for i in people]))
    for protocol in ("default", "reference"):
        df = load(root, protocol=protocol)
        assert {s: members(df, s) for s in chosen} == chosen and (df["subset"] == "reference lists").all()
    np.save(folder / "exhalation_val_files_downsample.npy", np.array([file_name(12, "exhalation")]))
    with pytest.raises(DatasetError, match=r"exhalation_val_files_downsample\.npy: 1 listed file"):
        load(root)


def test_bad_layouts_raise_one_clear_error(root):
    folder = root / coviduk.DATASET.folder
    (folder / "audio" / file_name(0, "exhalation")).unlink()
    with pytest.raises(DatasetError, match=f"{file_name(0, 'exhalation')}: 1 of"):
        load(root, subset="full")
    (folder / "audio" / "extra.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"extra\.wav.*not in the metadata"):
        load(root, subset="full")
    (folder / "audio" / "extra.wav").unlink()
    people = folder / coviduk.PARTICIPANTS
    people.write_text(people.read_text().replace("Unknown/Void", "Inconclusive"))
    with pytest.raises(DatasetError, match=r"covid_test_result value.*Inconclusive"):
        load(root, subset="full")
    (folder / coviduk.SPLITS_FILE).unlink()
    with pytest.raises(DatasetError, match=coviduk.SPLITS_FILE):
        load(root, subset="full")


def test_operas_audio_folder_name_works(tmp_path, monkeypatch):
    monkeypatch.setattr(coviduk_reader, "SUBSET_SIZES", SMALL)
    build_coviduk(tmp_path, audio_dir="audio_selected")
    assert "audio_selected" in load(tmp_path)["path"].iloc[0]


def test_check_and_recordings(root):
    folder = root / coviduk.DATASET.folder
    result = coviduk_reader.check(folder)
    assert result.complete and result.found == result.expected == 3 * N - 2
    rec = coviduk_reader.recordings(folder)
    assert list(rec.columns) == list(RECORDING_COLUMNS) and len(rec) == 3 * N - 2
    row = rec.set_index("recording_id").loc[file_name(5, "three_cough")[:-4]]
    assert row["modality"] == "three cough" and row["sex"] == "Male" and row["smoker"] == "Never smoked"
    assert row["diagnosis"] == "SARS-CoV-2 PCR positive (COVID-19); respiratory conditions: asthma"
    assert row["symptoms"] == "shortness of breath"
