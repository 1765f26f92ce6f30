"""`acubench run` end to end: files, cache reuse, determinism, skipped tasks, bad audio."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from sklearn.metrics import mean_absolute_error, roc_auc_score

import toy_task
from acubench import plugins
from acubench.cli import main
from acubench.records.results import read_records


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("runner-cache")


def _metrics(run_dir):
    return sorted((r.task, r.probe, r.seed, r.value, json.dumps(r.metrics, sort_keys=True), r.ci95)
                  for r in read_records(run_dir))


def _recompute_with_sklearn(rec, rows: pd.DataFrame) -> float:
    """A record's headline metric from its predictions.parquet rows, by scikit-learn alone."""
    y = rows["label"].to_numpy()
    if rec.kind == "binary":
        return roc_auc_score(y.astype(int), rows["score"])
    if rec.kind == "multiclass":
        present = np.unique(y.astype(int))
        return float(np.average([roc_auc_score(y == c, rows[f"score_{rec.classes[c]}"]) for c in present]))
    if rec.split_scheme == "loso":
        folds = rows.groupby("fold", sort=False)
        return float(np.mean([mean_absolute_error(g["label"], g["score"]) for _, g in folds]))
    return mean_absolute_error(y, rows["score"])


@pytest.mark.slow
def test_demo_run_writes_everything_and_reruns_from_cache(tmp_path, shared_cache, monkeypatch, capsys):
    monkeypatch.setenv("ACUBENCH_CACHE", str(shared_cache))
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", "--encoder", "logmel", "--tasks", "demo", "--seeds", "2", "--out", str(a)]) == 0
    capsys.readouterr()
    assert main(["run", "--encoder", "logmel", "--tasks", "demo", "--seeds", "2", "--out", str(b)]) == 0
    err = capsys.readouterr().err
    assert "computed (no encoder forward)" in err and "0 computed" in err
    for name in ("config.json", "results.jsonl", "leaderboard.md", "leaderboard.csv"):
        assert (b / name).is_file(), name
    assert _metrics(a) == _metrics(b)
    config = json.loads((b / "config.json").read_text())
    assert config["seeds"] == [0, 1] and config["versions"]["torch"]
    assert config["encoders"][0]["id"] == "logmel" and len(config["encoders"][0]["fingerprint"]) == 16
    tasks = {t["id"]: t for t in config["tasks"]}
    assert all(t["manifest_sha256"] for t in tasks.values())
    records = read_records(b)
    kinds = {r.kind for r in records}
    assert kinds == {"binary", "multiclass", "regression"}
    predictions = pd.read_parquet(b / "predictions.parquet")
    pd.testing.assert_frame_equal(predictions, pd.read_parquet(a / "predictions.parquet"))
    for r in records:
        assert r.n_test > 0 and np.isfinite(r.value)
        if r.metric == "auroc":
            assert 0.0 <= r.value <= 1.0
        rows = predictions[(predictions["encoder"] == r.encoder) & (predictions["task"] == r.task)
                           & (predictions["probe"] == r.probe) & (predictions["seed"] == r.seed)]
        assert rows["clip_id"].is_unique and set(rows["fold"].isna()) == {r.split_scheme == "fixed"}
        assert _recompute_with_sklearn(r, rows) == pytest.approx(r.value, rel=1e-12, abs=1e-15)
        low, high = r.ci95
        assert low <= r.value <= high and r.bootstrap["resamples"] == 1000 and r.bootstrap["seed"] == 0
        assert r.dataset == "demo" and r.split_scheme == tasks[r.task]["split_protocol"]
    assert config["bootstrap"] == {"resamples": 1000, "seed": 0, "unit": "subject"}


@pytest.fixture
def toy_plugin(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "toyset").mkdir(parents=True)
    rng = np.random.default_rng(1)
    rows = []
    for i in range(24):
        loud = i % 2
        path = root / "toyset" / f"c{i}.wav"
        sf.write(str(path), ((0.5 if loud else 0.02) * rng.standard_normal(8000)).astype(np.float32), 16000)
        rows.append({"clip_id": f"c{i}", "path": str(path), "label": loud, "subject": f"s{i}",
                     "split": ["train", "train", "val", "test"][(i // 2) % 4]})  # both classes in every split
    bad = root / "toyset" / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    rows.append({"clip_id": "bad", "path": str(bad), "label": 1, "subject": "s99", "split": "train"})
    pd.DataFrame(rows).to_csv(root / "toyset" / "labels.csv", index=False)
    plugins.plugin_manager().register(toy_task, name="toy-task-plugin")
    plugins.registries.cache_clear()
    yield root
    plugins.reset()


def test_bad_audio_stops_the_run_or_is_counted(toy_plugin, tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["run", "--encoder", "logmel", "--tasks", "toy-task", "--data-root", str(toy_plugin),
                 "--seeds", "1", "--out", str(out)])
    assert code == 2 and "bad.wav" in capsys.readouterr().err
    assert not (out / "results.jsonl").exists()
    assert main(["run", "--encoder", "logmel", "--tasks", "toy-task", "--data-root", str(toy_plugin),
                 "--seeds", "1", "--out", str(out), "--skip-bad-audio"]) == 0
    (rec,) = read_records(out)
    assert rec.n_bad_audio == 1 and rec.value > 0.9


def test_a_published_task_reaches_the_reference_rows_end_to_end(toy_plugin, tmp_path):
    """Spec → record → leaderboard: the task's OPERA number travels on the record, nowhere else."""
    out = tmp_path / "r"
    assert main(["run", "--encoder", "logmel", "--tasks", "toy-task", "--data-root", str(toy_plugin), "--seeds", "1",
                 "--out", str(out), "--skip-bad-audio", "--reference", "--bootstrap", "0"]) == 0
    (rec,) = read_records(out)
    assert (rec.published_as, rec.dataset, rec.split_scheme, rec.classes) == ({"opera": 12}, "toyset", "fixed",
                                                                              ["quiet", "loud"])
    assert rec.ci95 is None and "--bootstrap 0" in rec.bootstrap["reason"]
    text = (out / "leaderboard.md").read_text()
    assert "| OPERA-CT" in text and "0.781 ± 0.000" in text  # OPERA task 12 (SSBPR), published AUROC
    assert "never tested" in text and "No task in this table has a published" not in text


@pytest.mark.slow
def test_tasks_without_data_are_skipped_with_a_reason(toy_plugin, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--encoder", "logmel", "--tasks", "toy-task,demo-wheeze", "--data-root",
                 str(tmp_path / "empty"), "--seeds", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "skipped toy-task" in err
    config = json.loads((out / "config.json").read_text())
    assert "toy-task" in config["skipped_tasks"]


def test_no_task_with_data_is_one_clear_error(toy_plugin, tmp_path, capsys):
    code = main(["run", "--encoder", "logmel", "--tasks", "toy-task", "--data-root", str(tmp_path / "empty"),
                 "--seeds", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "acubench data status" in err and err.count("\n") <= 2


def test_python_api_is_quiet_and_returns_the_board_the_terminal_shows(toy_plugin, tmp_path, capsys):
    """The API reports only through logging; the CLI prints the very board the files were rendered from."""
    from acubench import api

    result = api.run("logmel", tasks="toy-task", data_root=toy_plugin, seeds=1, out=tmp_path / "api",
                     skip_bad_audio=True, reference_rows=True, bootstrap=0)
    assert capsys.readouterr() == ("", "")
    assert result.board.reference and result.out_dir == tmp_path / "api"
    assert (result.out_dir / "results.jsonl").is_file()
    assert main(["run", "--encoder", "logmel", "--tasks", "toy-task", "--data-root", str(toy_plugin), "--seeds", "1",
                 "--out", str(tmp_path / "cli"), "--skip-bad-audio", "--reference", "--bootstrap", "0"]) == 0
    err = capsys.readouterr().err
    assert "OPERA-CT" in err and "0.781" in err  # the published rows reach the terminal table too


@pytest.mark.parametrize("flags, message", [
    (["--probe", "nope"], "unknown probe"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--batch-size", "0"], "batch size must be a positive integer"),
    (["--protocol", "default", "--config", "nope"], "unknown config 'nope'"),
])
def test_bad_flags_are_one_clear_line(flags, message, toy_plugin, tmp_path, capsys):
    code = main(["run", "--encoder", "logmel", "--tasks", "toy-task", "--data-root", str(toy_plugin),
                 "--out", str(tmp_path / "r"), *flags])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("acubench: error: ") and message in last
    assert not (tmp_path / "r").exists()
