"""Run folders: claimed when chosen (unique across processes), filled all at once, never overwritten by surprise."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acubench.engine.rundir import LOCK_NAME, RunFolderError, reserve_run_folder
from acubench.paths import OutputError

NOW = dt.datetime(2026, 1, 2, 3, 4, 5)


def _finish(folder, files=("config.json", "results.jsonl")) -> None:
    stage = folder.staging()
    for name in files:
        (stage / name).write_text(name)
    folder.commit()


def test_concurrent_processes_in_the_same_second_get_distinct_folders(tmp_path):
    code = ("import datetime as dt, sys; from acubench.engine.rundir import reserve_run_folder; "
            "f = reserve_run_folder(runs_dir=sys.argv[1], encoders=['logmel'], now=dt.datetime(2026, 1, 2, 3, 4, 5)); "
            "print(f.path)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    paths = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(Path(p).name for p in paths) == ["20260102-030405-logmel", "20260102-030405-logmel-2",
                                                    "20260102-030405-logmel-3", "20260102-030405-logmel-4"]
    assert all((Path(p) / LOCK_NAME).is_file() for p in paths)


def test_outputs_appear_together_and_a_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="late failure"):
        with reserve_run_folder(runs_dir=tmp_path, encoders=["a"], now=NOW) as folder:
            (folder.staging() / "config.json").write_text("{}")
            raise RuntimeError("late failure")
    assert list(tmp_path.iterdir()) == []  # no run folder, no staging folder, no lock
    with reserve_run_folder(runs_dir=tmp_path, encoders=["a"], now=NOW) as folder:
        stage = folder.staging()
        (stage / "config.json").write_text("{}")
        assert sorted(p.name for p in folder.path.iterdir()) == [LOCK_NAME]  # nothing visible before commit
        _finish(folder, ("results.jsonl", "leaderboard.md"))
    assert sorted(p.name for p in folder.path.iterdir()) == ["config.json", "leaderboard.md", "results.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.path.name]


def test_out_on_a_finished_run_needs_overwrite_and_foreign_files_are_never_touched(tmp_path):
    out = tmp_path / "run"
    _finish(reserve_run_folder(out=out))
    with pytest.raises(RunFolderError, match=r"holds a finished run \(config.json, results.jsonl…\); pass --overwrite"):
        reserve_run_folder(out=out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "results.jsonl"]  # untouched, lock released
    folder = reserve_run_folder(out=out, overwrite=True)
    stage = folder.staging()
    (stage / "config.json").write_text("new")
    folder.commit()
    assert [p.name for p in out.iterdir()] == ["config.json"] and (out / "config.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the replaced run is gone, nothing left over
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match=r"not an acubench run folder \(it holds \['notes.txt'\]\)"):
        reserve_run_folder(out=out, overwrite=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    _finish(reserve_run_folder(out=empty))
    assert (empty / "results.jsonl").is_file()


def test_a_live_claim_is_respected_and_a_dead_ones_taken_over(tmp_path):
    out = tmp_path / "run"
    live = reserve_run_folder(out=out)
    with pytest.raises(RunFolderError, match=rf"another acubench run is writing to this folder \(pid {os.getpid()}"):
        reserve_run_folder(out=out)
    live.release()
    assert not out.exists()
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    claim = json.loads(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename, "started": "earlier"}))
    (out / LOCK_NAME).write_text(json.dumps(claim))  # a run killed with -9 left its claim behind
    folder = reserve_run_folder(out=out)
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
    _finish(folder)
    assert not (out / LOCK_NAME).exists()


def test_unwritable_locations_fail_before_anything_is_made(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError, match=r"a-file/runs: cannot write the runs folder \(--runs-dir\) there: .*a-file "
                                          r"is not a folder; choose another --runs-dir or --out"):
        reserve_run_folder(runs_dir=blocker / "runs", encoders=["a"])
    with pytest.raises(OutputError, match=r"run folder \(--out\).*choose another --out"):
        reserve_run_folder(out=blocker / "run")
    with pytest.raises(RunFolderError, match="exists and is not a folder"):
        reserve_run_folder(out=blocker)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_parent_is_refused(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        with pytest.raises(OutputError, match=r"Permission denied.*choose another --runs-dir"):
            reserve_run_folder(runs_dir=parent / "runs", encoders=["a"])
    finally:
        parent.chmod(0o700)
