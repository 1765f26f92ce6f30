"""Manifest validation and the subject-leakage check."""

from __future__ import annotations

import pandas as pd
import pytest

from acubench.manifest import ManifestError, check_leakage, split_counts, validate_manifest
from acubench.specs import TaskSpec

BIN = TaskSpec(id="t", name="t", dataset="d", loader="m:f", kind="binary", modality="m", target="x",
               classes=("no", "yes"))
REG = TaskSpec(id="r", name="r", dataset="d", loader="m:f", kind="regression", modality="m", target="y",
               protocol="loso")


def _df(**over):
    base = {"clip_id": ["a", "b", "c", "d"], "path": ["/a", "/b", "/c", "/d"], "label": [0, 1, 0, 1],
            "subject": ["s1", "s2", "s3", "s4"], "split": ["train", "train", "val", "test"]}
    base.update(over)
    return pd.DataFrame(base)


def test_valid_manifest_is_normalised():
    out = validate_manifest(_df(), BIN)
    assert out["label"].dtype == "int64" and {"start", "end"} <= set(out.columns)
    assert split_counts(out) == {"train": 2, "val": 1, "test": 1}


@pytest.mark.parametrize("over, message", [
    ({"split": ["train", "train", "val", "dev"]}, "split values"),
    ({"label": [0, 1, 2, 1]}, "outside 0..1"),
    ({"label": [0, 1, None, 1]}, "non-numeric labels"),
    ({"clip_id": ["a", "a", "c", "d"]}, "duplicate clip_id"),
    ({"split": ["train", "train", "val", "val"]}, "no 'test' clips"),
    ({"subject": ["s1", "s1", "s3", "s1"]}, "more than one split"),
])
def test_invalid_manifests_fail_loudly(over, message):
    with pytest.raises(ManifestError, match=message):
        validate_manifest(_df(**over), BIN)


def test_leakage_names_subjects_and_can_be_allowed_for_reference_protocols():
    df = _df(subject=["s1", "s2", "s1", "s4"])
    with pytest.raises(ManifestError, match="s1 in train/val"):
        check_leakage(df)
    assert len(validate_manifest(df, BIN, allow_leakage=True)) == 4


def test_loso_manifest_uses_pool():
    df = _df(split=["pool"] * 4, label=[1.5, 2.0, 3.0, 4.5])
    out = validate_manifest(df, REG)
    assert out["label"].dtype == "float64"
    with pytest.raises(ManifestError, match="not allowed"):
        validate_manifest(_df(split=["pool", "val", "pool", "pool"], label=[1.0, 2.0, 3.0, 4.0]), REG)


def test_loso_training_only_subjects_cannot_also_be_folds():
    ok = _df(split=["pool", "pool", "train", "train"], label=[1.0, 2.0, 3.0, 4.0])
    assert validate_manifest(ok, REG)["split"].tolist() == ["pool", "pool", "train", "train"]
    clash = ok.assign(subject=["s1", "s2", "s1", "s3"])
    with pytest.raises(ManifestError, match=r"\['s1'\].*both"):
        validate_manifest(clash, REG)
