"""The synthetic demo suite: determinism, metadata, splits, manifests, learnability, repair."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from acubench.audio import trim_silence
from acubench.frontends import mel_power, power_to_db
from acubench.manifest import RECORDING_COLUMNS, DatasetError, LoadContext, TaskOptionError, validate_manifest
from acubench.plugins import get_dataset, get_encoder, get_task, registries, select_tasks
from acubench.specs import resolve_ref
from acubench.tasks import demo
from acubench.tasks.demo import plan as planning
from acubench.tasks.demo import reader as demo_reader
from acubench.tasks.demo import store, synth

FIXED = ("demo-wheeze", "demo-diagnosis", "demo-murmur", "demo-cough")
LOSO = ("demo-resp-rate", "demo-fev1")


def _manifest(demo_dir: Path, task_id: str) -> pd.DataFrame:
    task = get_task(task_id)
    ctx = LoadContext(task=task, data_root=demo_dir / "no-data-root", cache_dir=demo_dir.parents[1])
    return validate_manifest(resolve_ref(task.loader)(ctx), task)


@pytest.fixture(scope="module")
def meta(demo_dir):
    return store.read_metadata(demo_dir)


# --- registry and specs ---------------------------------------------------------------


def test_registered_through_the_entry_point():
    tasks = select_tasks("demo")
    assert sorted(t.id for t in tasks) == sorted(FIXED + LOSO)
    assert {t.kind for t in tasks} == {"binary", "multiclass", "regression"}
    assert get_dataset("demo").recordings == "acubench.tasks.demo.reader:recordings" and get_dataset("demo").generated
    for t in tasks:
        assert t.suites == ("demo",) and t.dataset == "demo" and t.clip_seconds and t.description
        assert t.protocol == ("loso" if t.id in LOSO else "fixed")
        if t.kind != "regression":
            assert len(t.class_prompts) == len(t.classes)
    # Tasks on the same recordings ask for the same input policy, so their embeddings are shared.
    wheeze, diagnosis = get_task("demo-wheeze"), get_task("demo-diagnosis")
    for encoder in registries().encoders:
        assert wheeze.clip_policy(encoder) == diagnosis.clip_policy(encoder)
    # Each task declares how long its recordings are; OPERA-GT sizes one window by it where they fit.
    gt = get_encoder("opera-gt")
    for t in tasks:
        assert t.recording_seconds == demo.MODALITIES[t.modality][1]
        assert t.clip_policy(gt).window_seconds == (4.09 if t.recording_seconds == 4.0 else 8.18)


# --- metadata --------------------------------------------------------------------------


def test_recordings_table_is_complete(demo_dir, meta):
    rec = demo_reader.recordings(demo_dir)
    assert list(rec.columns) == list(RECORDING_COLUMNS)
    assert 400 <= len(rec) <= 500 and rec["recording_id"].is_unique
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in rec["audio_path"])
    assert set(rec["dataset"]) == {"demo"}
    always = ["subject", "modality", "age", "sex", "device", "diagnosis", "symptoms"]
    assert rec[always].notna().all().all()
    lung, heart = rec[rec["modality"] == "lung sounds"], rec[rec["modality"] == "heart sounds"]
    assert lung[["site", "smoker", "adventitious", "respiratory_rate"]].notna().all().all()
    assert set(lung["adventitious"]) == set(planning.ADVENTITIOUS) and set(lung["site"]) <= set(planning.CHEST_SITES)
    assert set(heart["site"]) == set(planning.HEART_SITES) and set(heart["murmur"]) == {"Present", "Absent"}
    murmur_fields = ["murmur_timing", "murmur_grade", "murmur_pitch", "murmur_shape", "murmur_quality",
                     "murmur_locations"]
    present = heart["murmur"] == "Present"
    assert heart.loc[present, murmur_fields].notna().all().all()
    assert heart.loc[~present, murmur_fields].isna().all().all()
    assert rec.loc[rec["modality"] == "nasal breathing", "respiratory_rate"].between(7, 31).all()
    # Subjects give several recordings and keep their traits across them.
    per_subject = rec.groupby("subject")
    assert per_subject.size().min() >= 2
    assert (per_subject[["age", "sex", "diagnosis", "smoker"]].nunique(dropna=False) == 1).all().all()


def test_labels_agree_with_metadata(meta):
    lung = meta[meta["modality"] == "lung sounds"]
    assert (lung["label_wheeze"] == lung["adventitious"].isin(["wheeze", "both"]).astype(int)).all()
    assert (lung["label_diagnosis"] == lung["diagnosis"].map(demo.LUNG_DIAGNOSES.index)).all()
    heart = meta[meta["modality"] == "heart sounds"]
    audible = [m == "Present" and site in str(locs).split("+")
               for m, site, locs in zip(heart["murmur"], heart["site"], heart["murmur_locations"], strict=True)]
    assert (heart["label_murmur"] == np.array(audible, dtype=int)).all()
    cough = meta[meta["modality"] == "cough"]
    assert (cough["label_infection"] == (cough["diagnosis"] == "acute respiratory infection").astype(int)).all()
    breathing = meta[meta["modality"] == "nasal breathing"]
    assert np.allclose(breathing["label_resp_rate"], breathing["respiratory_rate"])
    blows = meta[meta["modality"] == "forced exhalation"]
    # FEV1 is below FVC and tracks it (obstruction lowers the ratio), and is physiologically plausible.
    assert (blows["label_fev1"] < blows["fvc_l"]).all() and blows["label_fev1"].between(0.5, 6.0).all()
    copd = blows[blows["diagnosis"] == "COPD"]
    healthy = blows[blows["diagnosis"] == "healthy"]
    assert (copd["label_fev1"] / copd["fvc_l"]).mean() < (healthy["label_fev1"] / healthy["fvc_l"]).mean() - 0.1
    for col in planning.LABEL_COLUMNS:  # every label column belongs to exactly one modality
        assert meta.loc[meta[col].notna(), "modality"].nunique() == 1


def test_audio_files_match_their_metadata(demo_dir, meta):
    for row in meta.itertuples():
        info = sf.info(row.audio_path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames == int(round(row.duration * 16000))
        assert store._sha256(Path(row.audio_path)) == row.sha256
    info = json.loads((demo_dir / store.INFO_FILE).read_text())
    assert info["version"] == demo.GENERATOR_VERSION and info["seed"] == 0
    assert info["plan_fingerprint"] == planning.plan_fingerprint(planning.demo_plan(0))
    assert demo_dir.name == f"v{demo.GENERATOR_VERSION}-seed0"


# --- manifests and splits ---------------------------------------------------------------


@pytest.mark.parametrize("task_id", FIXED + LOSO)
def test_manifest_validates_with_published_counts(demo_dir, task_id):
    task = get_task(task_id)
    df = _manifest(demo_dir, task_id)
    counts = df["split"].value_counts().to_dict()
    assert counts == dict(task.expected_counts)
    assert all(Path(p).is_file() for p in df["path"])
    assert set(df["modality"]) == {task.modality}
    if task.kind == "regression":
        assert 12 <= df["subject"].nunique() <= 20
    else:
        assert (df["label_name"] == [task.classes[i] for i in df["label"]]).all()
        # Stratified: every class is in every split.
        assert df.groupby("split")["label"].nunique().min() == len(task.classes)


@pytest.mark.parametrize("task_id", FIXED)
def test_fixed_splits_are_subject_independent(demo_dir, task_id):
    df = _manifest(demo_dir, task_id)
    assert (df.groupby("subject")["split"].nunique() == 1).all()
    subjects = df.groupby("split")["subject"].nunique()
    share = subjects / subjects.sum()
    assert share["train"] == pytest.approx(0.6, abs=0.05)
    assert share["val"] == pytest.approx(0.2, abs=0.05) and share["test"] == pytest.approx(0.2, abs=0.05)
    assert set(df["split_seed"]) == {0}


def test_tasks_on_the_same_recordings_share_one_split(demo_dir):
    wheeze = _manifest(demo_dir, "demo-wheeze").set_index("clip_id")
    diagnosis = _manifest(demo_dir, "demo-diagnosis").set_index("clip_id")
    assert wheeze.index.equals(diagnosis.index)
    assert (wheeze["split"] == diagnosis["split"]).all() and (wheeze["path"] == diagnosis["path"]).all()


def test_loader_reads_an_explicit_folder_and_rejects_bad_options(demo_dir, tmp_path):
    murmur, wheeze = get_task("demo-murmur"), get_task("demo-wheeze")
    ctx = LoadContext(task=murmur, data_root=tmp_path, cache_dir=tmp_path / "cache", options={"folder": str(demo_dir)})
    df = demo_reader.load(ctx)
    assert len(df) == 120 and not (tmp_path / "cache").exists()  # nothing generated
    empty = tmp_path / "not-a-demo"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"metadata\.csv"):
        demo_reader.load(LoadContext(task=wheeze, data_root=tmp_path, cache_dir=tmp_path,
                                     options={"folder": str(empty)}))
    with pytest.raises(TaskOptionError, match="seed=x is not an integer"):
        demo_reader.load(LoadContext(task=wheeze, data_root=tmp_path, cache_dir=tmp_path, options={"seed": "x"}))
    with pytest.raises(TaskOptionError, match=r"folder=.*nowhere: no such folder"):
        demo_reader.load(LoadContext(task=wheeze, data_root=tmp_path, cache_dir=tmp_path,
                                     options={"folder": str(tmp_path / "nowhere")}))


def test_check_reports_generation_state(demo_dir, tmp_path):
    state = demo_reader.check(tmp_path / "demo")
    assert state.present and not state.complete and "not generated yet" in state.problems[0]
    (Path(os.environ["ACUBENCH_CACHE"]) / "demo").symlink_to(demo_dir.parent)
    state = demo_reader.check(tmp_path / "demo")
    assert state.complete and state.found == len(planning.demo_plan(0))


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_same_audio_different_seed_different_audio(demo_dir, meta):
    plan = planning.demo_plan(0)
    assert planning.plan_fingerprint(plan) == planning.plan_fingerprint(planning.demo_plan(0))
    other = planning.demo_plan(1)
    assert planning.plan_fingerprint(other) != planning.plan_fingerprint(plan)
    assert list(other["recording_id"]) != list(plan["recording_id"]) or not other["age"].equals(plan["age"])
    for modality in demo.MODALITIES:
        row = plan[plan["modality"] == modality].iloc[3].to_dict()
        stored, _ = sf.read(demo_dir / row["audio_path"], dtype="int16")
        assert np.array_equal(synth.render_recording(row, 0), stored)
        assert not np.array_equal(synth.render_recording(row, 1), stored)


#: sha256 of metadata.csv of the seed-0 suite as acubench 0.1.0 (commit c283451) generated it. The
#: table holds every WAV file's own sha256, so this pins every byte of the audio: splitting the
#: generator, or editing its documentation, must not change what users have in their caches.
METADATA_SHA256_0_1_0 = "b00dd2c148da4035b9ed4162255bda309ec78f763c774dfbbb9ec1d4f1b428e9"


def test_audio_is_byte_identical_to_acubench_0_1_0(demo_dir):
    assert hashlib.sha256((demo_dir / demo.METADATA_FILE).read_bytes()).hexdigest() == METADATA_SHA256_0_1_0
    meta = pd.read_csv(demo_dir / demo.METADATA_FILE)
    for row in meta.iloc[::37].itertuples():  # the table's digests are those of the files on disk
        assert hashlib.sha256((demo_dir / row.audio_path).read_bytes()).hexdigest() == row.sha256


def test_synthesis_fingerprint_ignores_documentation_not_code():
    source = (Path(synth.__file__)).read_text()
    edited = source.replace('"""The demo suite\'s synthesis', '"""Reworded: the demo suite\'s synthesis', 1)
    edited = edited.replace("import functools\n", "import functools  # a new comment\n", 1)
    assert edited != source and store.normalised_source(edited) == store.normalised_source(source)
    changed = source.replace("_LEVEL = {\"lung sounds\": 0.12", "_LEVEL = {\"lung sounds\": 0.13", 1)
    assert changed != source and store.normalised_source(changed) != store.normalised_source(source)
    assert len(store.synthesis_fingerprint()) == 16


@pytest.mark.slow
def test_two_generations_are_byte_identical(demo_dir, tmp_path):
    again = store.ensure_demo(tmp_path)
    for name in (demo.METADATA_FILE, store.INFO_FILE):
        assert (again / name).read_bytes() == (demo_dir / name).read_bytes()
    for path in sorted((demo_dir / planning.AUDIO_DIR).rglob("*.wav")):
        assert (again / path.relative_to(demo_dir)).read_bytes() == path.read_bytes(), path.name


# --- repair and regeneration ---------------------------------------------------------------


def test_interrupted_generation_is_repaired(demo_dir, tmp_path):
    folder = store.demo_folder(tmp_path)
    shutil.copytree(demo_dir, folder)
    meta = pd.read_csv(folder / demo.METADATA_FILE)
    truncated, deleted, intact = (folder / meta["audio_path"][i] for i in (5, 200, 300))
    with open(truncated, "r+b") as fh:
        fh.truncate(truncated.stat().st_size // 2)
    deleted.unlink()
    (folder / demo.METADATA_FILE).unlink()  # killed before the completeness marker was written
    stamp = intact.stat().st_mtime_ns
    assert store.ensure_demo(tmp_path) == folder
    assert (folder / demo.METADATA_FILE).read_bytes() == (demo_dir / demo.METADATA_FILE).read_bytes()
    for path in (truncated, deleted):
        assert path.read_bytes() == (demo_dir / path.relative_to(folder)).read_bytes()
    assert intact.stat().st_mtime_ns == stamp  # complete files are kept, not rendered again
    assert not list(folder.rglob("*.tmp*"))


def test_truncated_file_behind_a_complete_marker_is_repaired(demo_dir, tmp_path):
    folder = store.demo_folder(tmp_path)
    shutil.copytree(demo_dir, folder)
    victim = next((folder / planning.AUDIO_DIR / "heart").glob("*.wav"))
    original = victim.read_bytes()
    victim.write_bytes(original[:1000])
    store.ensure_demo(tmp_path)
    assert victim.read_bytes() == original


@pytest.fixture
def small_plan(monkeypatch):
    """Shrink the suite to one recording per modality, so regeneration tests take a second."""
    full = planning.demo_plan

    def plan(seed=planning.DEFAULT_SEED):
        p = full(seed)
        return p.groupby("modality", sort=False).head(1).reset_index(drop=True)

    monkeypatch.setattr(store, "demo_plan", plan)
    return plan


def test_output_of_another_generator_is_replaced_not_mixed(small_plan, tmp_path):
    folder = store.ensure_demo(tmp_path)
    assert len(pd.read_csv(folder / demo.METADATA_FILE)) == 5
    stale = folder / planning.AUDIO_DIR / "lung" / "from-an-older-generator.wav"
    sf.write(stale, np.ones(160, dtype=np.float32) * 0.1, 16000, subtype="PCM_16")
    info = json.loads((folder / store.INFO_FILE).read_text())
    (folder / store.INFO_FILE).write_text(json.dumps({**info, "plan_fingerprint": "0" * 16}))
    store.ensure_demo(tmp_path)
    assert not stale.exists()
    assert json.loads((folder / store.INFO_FILE).read_text())["plan_fingerprint"] == info["plan_fingerprint"]
    assert len(list((folder / planning.AUDIO_DIR).rglob("*.wav"))) == 5


def test_refuses_to_write_into_a_foreign_folder(small_plan, tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a demo folder"):
        store.generate_demo(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


# --- learnability ---------------------------------------------------------------------------


def _logmel_stats(path: str) -> np.ndarray:
    """Per-band mean/std of the 64-band log-mel (dB) and of its frame-to-frame difference (256-d)."""
    wave, sr = sf.read(path, dtype="float32")
    wave = trim_silence(wave, sr)
    db = power_to_db(mel_power(torch.from_numpy(wave)[None]), ref=1.0, top_db=80.0)[0].numpy()
    diff = np.diff(db, axis=0)
    return np.concatenate([db.mean(0), db.std(0), diff.mean(0), diff.std(0)])


@pytest.fixture(scope="module")
def features(demo_dir, meta):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one STFT per file: threads only contend on a shared machine
    try:
        return {p: _logmel_stats(p) for p in meta["audio_path"]}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("task_id", FIXED)
def test_classification_tasks_are_learnable_not_trivial(demo_dir, features, task_id):
    task = get_task(task_id)
    df = _manifest(demo_dir, task_id)
    X, y = np.stack([features[p] for p in df["path"]]), df["label"].to_numpy()
    fit, test = df["split"].isin(["train", "val"]).to_numpy(), (df["split"] == "test").to_numpy()
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000)).fit(X[fit], y[fit])
    proba = probe.predict_proba(X[test])
    if task.kind == "binary":
        auroc = roc_auc_score(y[test], proba[:, 1])
    else:
        auroc = roc_auc_score(y[test], proba, multi_class="ovr", average="macro")
    assert 0.72 <= auroc < 0.99, f"{task_id}: log-mel probe AUROC {auroc:.3f}"


@pytest.mark.parametrize("task_id", LOSO)
def test_regression_tasks_are_learnable_not_trivial(demo_dir, features, task_id):
    df = _manifest(demo_dir, task_id)
    X, y = np.stack([features[p] for p in df["path"]]), df["label"].to_numpy()
    pred, mean_pred = np.empty_like(y), np.empty_like(y)
    for subject in df["subject"].unique():
        out = (df["subject"] == subject).to_numpy()
        probe = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(X[~out], y[~out])
        pred[out], mean_pred[out] = probe.predict(X[out]), y[~out].mean()
    mae, baseline = mean_absolute_error(y, pred), mean_absolute_error(y, mean_pred)
    assert 0.05 * baseline < mae < 0.6 * baseline, f"{task_id}: MAE {mae:.3f} vs mean predictor {baseline:.3f}"
