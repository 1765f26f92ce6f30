"""The bad-input suite: every kind of bad input, fault and race ends in one clear line (exit 2) or a correct result.

One test per kind, on tiny generated files, through the command line a user types.
A failing case must leave nothing half-written. Cases covered in depth elsewhere
are exercised here once, end to end, and their dedicated tests are named:
metadata paths (test_metadata_paths), checkpoint formats (test_weights), run
folders (test_rundir), HEAR modules (test_encoder_hear), audio decoding
(test_audio), determinism of a whole run (test_runner).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import toy_task
from acubench import plugins
from acubench.cli import main

SR = 16000
#: The command line in a fresh interpreter, as a user starts it.
ACUBENCH = [sys.executable, "-c", "import sys; from acubench.cli import main; sys.exit(main(sys.argv[1:]))"]


def _cli(capsys, *argv: str) -> tuple[int, str]:
    """Run the command line in-process; an unexpected exception (a traceback for the user) fails the test."""
    code = main(list(argv))
    return code, capsys.readouterr().err


def _one_clear_line(code: int, err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("acubench: error:")]
    assert code == 2 and len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _wav(path: Path, data: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> Path:
    sf.write(str(path), data, sr, subtype=subtype)
    return path


def _tone(seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


# -- audio ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["corrupt", "empty", "silent", "nan"])
def test_bad_audio_is_one_line_naming_the_file_and_writes_nothing(kind, tmp_path, capsys):
    path = tmp_path / f"{kind}.wav"
    if kind == "corrupt":
        path.write_bytes(b"RIFF\x00\x00garbage" * 10)
    elif kind == "empty":
        _wav(path, np.zeros(0, np.float32))
    elif kind == "silent":
        _wav(path, np.zeros(SR, np.float32))
    else:
        data = _tone()
        data[100] = np.nan
        _wav(path, data)
    out = tmp_path / "emb.npy"
    code, err = _cli(capsys, "embed", "--encoder", "logmel", str(path), "-o", str(out))
    _one_clear_line(code, err, str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no output, no temp file


def test_multichannel_and_odd_rate_audio_give_the_mono_resampled_embedding(tmp_path, capsys):
    mono = _wav(tmp_path / "mono.wav", _tone())
    stereo = _wav(tmp_path / "stereo.wav", np.stack([_tone(), _tone()], axis=1))
    odd = _wav(tmp_path / "odd.wav", _tone(sr=11025), sr=11025)
    out = tmp_path / "emb.npy"
    assert main(["embed", "--encoder", "logmel", str(mono), str(stereo), str(odd), "-o", str(out)]) == 0
    emb = np.load(out)
    np.testing.assert_allclose(emb[1], emb[0], rtol=1e-5, atol=1e-5)  # stereo of identical channels = mono
    assert np.corrcoef(emb[2], emb[0])[0, 1] > 0.999  # 11025 Hz, resampled to 16 kHz: the same tone


# -- metadata ------------------------------------------------------------------------------------------


@pytest.fixture
def toy_data(tmp_path):
    """The test task plugin (toy_task) with 24 good clips under data/toyset."""
    root = tmp_path / "data"
    folder = root / "toyset"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    rows = []
    for i in range(24):
        loud = i % 2
        _wav(folder / f"c{i}.wav", ((0.5 if loud else 0.02) * rng.standard_normal(8000)).astype(np.float32))
        rows.append(f"c{i},{folder / f'c{i}.wav'},{loud},s{i},{['train', 'train', 'val', 'test'][(i // 2) % 4]}")
    (folder / "labels.csv").write_text("clip_id,path,label,subject,split\n" + "\n".join(rows) + "\n")
    plugins.plugin_manager().register(toy_task, name="toy-task-plugin")
    plugins.registries.cache_clear()
    yield root
    plugins.reset()


def test_a_named_task_whose_metadata_is_malformed_stops_the_run(toy_data, tmp_path, capsys):
    labels = toy_data / "toyset" / "labels.csv"
    labels.write_text(labels.read_text().replace(",1,s1,", ",seven,s1,"))
    out = tmp_path / "run"
    code, err = _cli(capsys, "run", "--encoder", "logmel", "--tasks", "toy-task", "--data-root", str(toy_data),
                     "--seeds", "1", "--out", str(out))
    _one_clear_line(code, err, "task toy-task (toy-loudness) does not load", "non-numeric labels", "c1")
    assert not out.exists()


@pytest.mark.slow
def test_under_all_a_malformed_dataset_is_reported_loudly_and_recorded(toy_data, tmp_path, capsys):
    labels = toy_data / "toyset" / "labels.csv"
    labels.write_text("clip_id,path\n")  # the publisher's file, truncated
    out = tmp_path / "run"
    assert main(["run", "--encoder", "logmel", "--tasks", "all,demo-wheeze", "--data-root", str(toy_data),
                 "--seeds", "1", "--bootstrap", "0", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "FAILED toy-task: its dataset is there but does not load" in err
    config = json.loads((out / "config.json").read_text())
    assert "missing column(s)" in config["failed_tasks"]["toy-task"]
    assert "toy-task" not in config["skipped_tasks"]


def test_an_unknown_task_option_and_a_bad_value_are_refused(capsys):
    code, err = _cli(capsys, "run", "--encoder", "logmel", "--tasks", "demo-wheeze", "--task-arg", "sed=3")
    _one_clear_line(code, err, "--task-arg sed: no selected task takes this option", "seed (demo generator seed")
    code, err = _cli(capsys, "run", "--encoder", "logmel", "--tasks", "demo-wheeze", "--task-arg", "seed=x")
    _one_clear_line(code, err, "--task-arg seed=x is not an integer")
    code, err = _cli(capsys, "data", "manifest", "demo-wheeze", "--task-arg", "split=seeded")
    _one_clear_line(code, err, "--task-arg split: no selected task takes this option")


# -- checkpoints ---------------------------------------------------------------------------------------


class _Payload:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


@pytest.mark.parametrize("kind", ["mismatched", "malicious", "html", "random"])
def test_bad_checkpoints_are_one_line_and_nothing_runs(kind, tmp_path, capsys):
    clip = _wav(tmp_path / "clip.wav", _tone(2.0))
    ckpt = tmp_path / "encoder.ckpt"
    if kind == "mismatched":
        torch.save({"state_dict": {"encoder.weight": torch.zeros(3)}}, ckpt)
        needles = ("does not fit",)
    elif kind == "malicious":
        torch.save({"state_dict": {}, "x": _Payload()}, ckpt)
        needles = ("--trust-checkpoint", "asks for the Python object print")
    elif kind == "html":
        ckpt.write_text("<!DOCTYPE html><html><body>Access denied</body></html>")
        needles = ("an HTML page",)
    else:
        ckpt.write_bytes(bytes(range(256)) * 8)
        needles = ("not a checkpoint",)
    code, err = _cli(capsys, "embed", "--encoder", "opera-gt", "--config", "tiny", "--weights", str(ckpt),
                     str(clip), "-o", str(tmp_path / "emb.npy"))
    _one_clear_line(code, err, str(ckpt), *needles)
    if kind in ("html", "random"):
        assert "--trust-checkpoint" not in err
    assert "unpickled code ran" not in capsys.readouterr().out
    assert not (tmp_path / "emb.npy").exists()


# -- flags ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, needles", [
    (["run", "-e", "logmel", "--probe", "foo"], ["unknown probe", "foo", "linear"]),
    (["run", "-e", "logmel", "--seeds", "0"], ["--seeds", "0"]),
    (["run", "-e", "logmel", "--batch-size", "0"], ["batch"]),
    (["run", "-e", "logmel", "--batch-size", "-4"], ["batch"]),
    (["run", "-e", "logmel", "--bootstrap", "-1"], ["--bootstrap"]),
    (["run", "-e", "logmel", "--config", "nope"], ["unknown config 'nope'", "default"]),
    (["run", "-e", "logmel", "--weights", __file__], ["has no weights", "--weights"]),
    (["run", "-e", "nosuch"], ["unknown encoder 'nosuch'"]),
    (["run", "-e", "logmel", "--tasks", "T99"], ["unknown task 'T99'"]),
    (["run", "-e", "logmel", "--task-arg", "novalue"], ["--task-arg 'novalue': expected KEY=VALUE"]),
    (["run", "-e", "hear:no_such_hear_module"], ["hear:no_such_hear_module", "pip install"]),
    (["run", "-e", "hear"], ["hear:MODULE"]),
    (["embed", "-e", "logmel", "--clip-policy", "bogus", "CLIP", "-o", "e.npy"], ["--clip-policy 'bogus'"]),
    (["embed", "-e", "logmel", "CLIP", "-o", "e.txt"], ["-o e.txt: the output must end in .npy or .parquet"]),
    (["embed", "-e", "logmel", "missing.wav", "-o", "e.npy"], ["missing.wav"]),
    (["leaderboard", "nowhere", "-o", "board.xlsx"], ["unknown format '.xlsx'"]),
    (["tasks", "--suite", "nosuch"], ["--suite nosuch: no such suite", "demo"]),
])
def test_bad_flags_are_one_line_with_the_fix(argv, needles, capsys, tmp_path, tmp_path_factory, monkeypatch):
    clip = _wav(tmp_path_factory.mktemp("audio") / "clip.wav", _tone())
    monkeypatch.chdir(tmp_path)
    code, err = _cli(capsys, *[str(clip) if a == "CLIP" else a for a in argv])
    _one_clear_line(code, err, *needles)
    assert list(tmp_path.iterdir()) == []  # no run folder, no output file


# -- outputs -------------------------------------------------------------------------------------------


def test_unwritable_outputs_fail_before_any_compute(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = tmp_path / "cache"
    monkeypatch.setenv("ACUBENCH_CACHE", str(cache))
    clip = _wav(tmp_path / "clip.wav", _tone())
    for argv, needle in (
        (["run", "-e", "logmel", "--tasks", "demo-wheeze", "--out", str(blocker / "run")], "run folder (--out)"),
        (["run", "-e", "logmel", "--tasks", "demo-wheeze", "--runs-dir", str(blocker / "runs")], "--runs-dir"),
        (["embed", "-e", "logmel", str(clip), "-o", str(blocker / "e.npy")], "embeddings file"),
        (["data", "manifest", "demo-wheeze", "-o", str(blocker / "m.csv")], "manifest file"),
    ):
        code, err = _cli(capsys, *argv)
        _one_clear_line(code, err, str(blocker), needle)
    monkeypatch.setenv("ACUBENCH_CACHE", str(blocker / "cache"))
    code, err = _cli(capsys, "run", "-e", "logmel", "--tasks", "demo-wheeze", "--out", str(tmp_path / "r"))
    _one_clear_line(code, err, "embedding cache", "--no-cache")
    assert not cache.exists() and not (tmp_path / "r").exists()  # nothing was computed


def test_out_on_a_finished_run_refuses_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.jsonl").write_text("{}\n")
    code, err = _cli(capsys, "run", "-e", "logmel", "--tasks", "demo-wheeze", "--out", str(out))
    _one_clear_line(code, err, str(out), "--overwrite")
    assert (out / "results.jsonl").read_text() == "{}\n"


@pytest.mark.slow
def test_a_failure_while_writing_leaves_no_half_written_run(tmp_path, capsys, monkeypatch):
    import acubench.leaderboard.render as render

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render, "write_leaderboard", broken)
    out = tmp_path / "runs" / "run"
    code, err = _cli(capsys, "run", "-e", "logmel", "--tasks", "demo-wheeze", "--seeds", "1", "--bootstrap", "0",
                     "--out", str(out))
    _one_clear_line(code, err, "No space left on device", "Free space")
    assert list((tmp_path / "runs").iterdir()) == []  # no config.json, no results.jsonl, no staging folder


def test_a_failure_while_saving_embeddings_leaves_no_temp_files(tmp_path, capsys, monkeypatch):
    import acubench.engine.embedding as embedding

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    clip = _wav(tmp_path / "clip.wav", _tone())
    monkeypatch.setattr(embedding.np, "save", full)
    code, err = _cli(capsys, "embed", "--encoder", "logmel", "--no-cache", str(clip), "-o",
                     str(tmp_path / "out" / "e.npy"))
    _one_clear_line(code, err, "No space left on device")
    assert list((tmp_path / "out").iterdir()) == []


# -- races and faults (slow: real processes) -------------------------------------------------------------


def _run_cmd(out: Path, cache: Path) -> tuple[list[str], dict]:
    env = {**os.environ, "ACUBENCH_CACHE": str(cache)}
    cmd = ACUBENCH + ["run", "--encoder", "logmel", "--tasks", "demo-wheeze,demo-murmur",
           "--seeds", "2", "--out", str(out)]
    return cmd, env


@pytest.mark.slow
def test_two_concurrent_runs_into_one_runs_folder_both_keep_their_results(tmp_path):
    env = {**os.environ, "ACUBENCH_CACHE": str(tmp_path / "cache")}
    subprocess.run(ACUBENCH + ["data", "manifest", "demo-wheeze"], env=env,
                   capture_output=True, check=True)  # generate the demo once, outside the race
    cmd = ACUBENCH + ["run", "--encoder", "logmel", "--tasks", "demo-wheeze", "--seeds", "1",
           "--bootstrap", "0", "--runs-dir", str(tmp_path / "runs")]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all((f / "results.jsonl").is_file() and (f / "leaderboard.md").is_file()
                                     for f in folders)


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_gives_byte_identical_results(tmp_path):
    """A run killed with SIGKILL after its first task is embedded resumes from the cache to the same bytes as an
    uninterrupted run."""
    whole, cache_a = tmp_path / "a" / "run", tmp_path / "cache-a"
    cmd, env = _run_cmd(whole, cache_a)
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    killed, cache_b = tmp_path / "b" / "run", tmp_path / "cache-b"
    cmd, env = _run_cmd(killed, cache_b)
    subprocess.run(ACUBENCH + ["data", "manifest", "demo-wheeze"], env=env,
                   capture_output=True, check=True)  # the demo audio first, so the kill lands in the embedding
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    embeddings = cache_b / "embeddings"
    while time.monotonic() < deadline and proc.poll() is None:
        if embeddings.is_dir() and any(embeddings.rglob("seg-*.npy")):  # one task's store is written
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "results.jsonl").exists()
    subprocess.run(cmd, env=env, check=True, capture_output=True)  # the same command again
    for name in ("results.jsonl", "predictions.parquet"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name


def test_alignment_outputs_are_checked_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for argv, needle in (
        (["align", "--encoder", "opera-gt", "--config", "tiny", "--random-init", "--out", str(blocker / "run")],
         "alignment run folder (--out)"),
        (["corpus", "--datasets", "demo", "-o", str(blocker / "corpus.csv")], "corpus file (-o)"),
        (["zeroshot", "--encoder", "opera-gt", "--aligned", str(tmp_path / "none.pt"), "-o", str(blocker / "z.json")],
         "results file (-o)"),
    ):
        code, err = _cli(capsys, *argv)
        _one_clear_line(code, err, str(blocker), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
