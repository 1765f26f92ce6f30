"""``acubench data status | manifest | prepare`` through :func:`acubench.cli.main`."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat
import sys
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from acubench import plugins
from acubench.cli import main
from acubench.plugins import Registries, Registry
from acubench.specs import TaskSpec
from acubench.tasks import coswara, coughvid, coviduk, demo, icbhi, kauh
from layouts.coughvid import build_coughvid
from layouts.icbhi import build_icbhi
from layouts.kauh import build_kauh

MODULES = {"coviduk": coviduk, "coughvid": coughvid, "icbhi": icbhi, "coswara": coswara, "kauh": kauh}
DEMO = TaskSpec(id="demo-wheeze", name="demo-wheeze", dataset="demo", loader="acubench.tasks.demo:load",
                kind="binary", modality="lung sounds", target="wheeze", classes=("no", "yes"), suites=("demo",))


def install_registry(monkeypatch, *, replace: dict[str, TaskSpec] | None = None) -> None:
    """Serve exactly these five dataset plugins (+ the built-in demo dataset and one of its tasks) from the registry."""
    replace = replace or {}
    datasets = [(name, mod.DATASET) for name, mod in MODULES.items()] + [("demo", demo.DATASET)]
    tasks = [(name, replace.get(t.id, t)) for name, mod in MODULES.items() for t in mod.TASKS]
    registry = Registries(encoders=Registry.build("encoder", []), datasets=Registry.build("dataset", datasets),
                          tasks=Registry.build("task", [*tasks, ("demo", DEMO)]))
    monkeypatch.setattr(plugins, "registries", lambda: registry)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich folds long paths at the default 80 columns
    install_registry(monkeypatch)


def test_status_on_an_empty_root_says_what_to_do_first(tmp_path, capsys):
    root = tmp_path / "nothing-yet"
    assert main(["data", "status", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"Data root: {root.absolute()} (from --data-root) — does not exist yet" in out
    assert "No dataset is in place yet" in out and "acubench run --encoder opera --tasks demo" in out
    for spec in (m.DATASET for m in MODULES.values()):
        assert str(root.absolute() / spec.folder) in out and spec.url in out and spec.license in out
    assert "icbhi-copd" in out and "ICBHI_final_database/" in out
    assert "✗" not in out and "error" not in out.lower()


def test_status_on_a_partial_root(tmp_path, capsys, monkeypatch):
    build_icbhi(tmp_path)
    build_kauh(tmp_path)  # 48 of the 336 recordings
    monkeypatch.setenv("ACUBENCH_DATA", str(tmp_path))
    assert main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert "from $ACUBENCH_DATA" in out
    status_table = out.split("Not downloaded yet")[0]
    lines = {line.split("│")[1].strip(): line for line in status_table.splitlines() if line.count("│") > 4}
    assert "✓ complete" in lines["icbhi"] and "25/25" in lines["icbhi"]
    assert "✗ incomplete" in lines["kauh"] and "48/336" in lines["kauh"]
    assert "– not downloaded" in lines["coughvid"] and "built in" in lines["demo"]
    assert f"Expected in {tmp_path / 'KAUH'}: the audio folder 'Audio Files/'" in out
    assert "Not downloaded yet" in out and str(tmp_path / "Coswara-Data") in out
    assert "1 of 8 dataset tasks have their data (T05)" in out


def test_status_json(tmp_path, capsys):
    build_icbhi(tmp_path)
    assert main(["data", "status", "--data-root", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    states = {d["id"]: d for d in report["datasets"]}
    assert report["data_root"] == str(tmp_path.absolute()) and report["data_root_source"] == "--data-root"
    assert states["icbhi"]["state"] == "complete" and states["icbhi"]["found"] == 25
    assert states["coughvid"]["state"] == "absent" and states["coughvid"]["folder"] == str(tmp_path / "coughvid")
    assert states["demo"]["state"] == "built-in"
    assert report["summary"]["tasks_ready"] == ["T05", "demo-wheeze"] and report["summary"]["tasks_total"] == 9


def test_manifest_to_a_file_with_published_counts(tmp_path, capsys, monkeypatch):
    build_icbhi(tmp_path)
    t05 = icbhi.TASKS[0]
    install_registry(monkeypatch, replace={"T05": dataclasses.replace(
        t05, expected_counts={"train": 13, "val": 4, "test": 6})})
    out_csv = tmp_path / "out" / "t05.csv"
    assert main(["data", "manifest", "icbhi-copd", "--data-root", str(tmp_path), "--protocol", "reference",
                 "-o", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert f"Wrote 23 clips of T05 (icbhi-copd, protocol reference) to {out_csv}" in out
    assert all(f"{n} ✓" in out for n in (13, 4, 6)) and "✗" not in out
    df = pd.read_csv(out_csv, dtype={"subject": str})
    assert list(df.columns[:5]) == ["clip_id", "path", "label", "subject", "split"]
    assert "start" not in df.columns and len(df) == 23 and df["path"].map(lambda p: Path(p).is_file()).all()
    assert sorted(os.listdir(out_csv.parent)) == ["t05.csv"]  # no temporary file left behind

    assert main(["data", "manifest", "T05", "--data-root", str(tmp_path), "-o", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert "published (reference protocol)" in out and "✓" not in out
    assert (pd.read_csv(out_csv, dtype={"subject": str}).query("subject == '156'")["split"] == "test").all()


def test_manifest_to_stdout_and_a_mismatch(tmp_path, capsys):
    build_icbhi(tmp_path)
    assert main(["data", "manifest", "T05", "--data-root", str(tmp_path), "--protocol", "reference"]) == 0
    captured = capsys.readouterr()
    df = pd.read_csv(io.StringIO(captured.out))
    assert len(df) == 23 and set(df["split"]) == {"train", "val", "test"}
    assert "369 ✗" in captured.err and "differ from the published counts" in captured.err


def test_manifest_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "manifest", "T08", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("acubench: error:") and str(tmp_path / "KAUH") in err and kauh.DATASET.url in err
    assert main(["data", "manifest", "T99", "--data-root", str(tmp_path)]) == 2
    assert "unknown task 'T99'" in capsys.readouterr().err
    build_kauh(tmp_path)
    assert main(["data", "manifest", "T08", "--data-root", str(tmp_path), "--task-arg", "oops"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


FAKE_FFMPEG = """#!{python}
import sys
import numpy as np
import soundfile as sf
args = sys.argv[1:]
source = args[args.index("-i") + 1]
with open({log!r}, "a") as fh:
    fh.write(source + "\\n")
if "broken" in source:
    sys.stderr.write("Invalid data found when processing input\\n")
    sys.exit(1)
sf.write(args[-1], np.full(1600, 0.1, dtype="float32"), int(args[args.index("-ar") + 1]), format="WAV")
"""


def coughvid_sources(root: Path, names: list[str]) -> Path:
    folder = build_coughvid(root, wav=False)
    for name in names:
        (folder / coughvid.SOURCE_DIR / name).write_bytes(b"\x1aE\xdf\xa3 not really webm")
    return folder


def fake_ffmpeg(tmp_path: Path, monkeypatch) -> Path:
    bin_dir, log = tmp_path / "bin", tmp_path / "ffmpeg.log"
    bin_dir.mkdir()
    script = bin_dir / "ffmpeg"
    script.write_text(FAKE_FFMPEG.format(python=sys.executable, log=str(log)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))
    return log


def test_prepare_coughvid_converts_resumably(tmp_path, capsys, monkeypatch):
    names = ["aaaa-1.webm", "bbbb-2.ogg", "cccc-3.webm"]
    folder = coughvid_sources(tmp_path, names)
    log = fake_ffmpeg(tmp_path, monkeypatch)
    assert main(["data", "prepare", "coughvid", "--data-root", str(tmp_path)]) == 0
    assert "Converting 3 of 3 CoughVID recordings" in capsys.readouterr().err
    assert sorted(os.listdir(folder / "wav")) == ["aaaa-1.wav", "bbbb-2.wav", "cccc-3.wav"]  # full name for .ogg too
    wave, sr = sf.read(str(folder / "wav" / "bbbb-2.wav"))
    assert sr == 16000 and wave.ndim == 1
    assert len(log.read_text().splitlines()) == 3

    (folder / "wav" / "cccc-3.wav").unlink()
    assert main(["data", "prepare", "coughvid", "--data-root", str(tmp_path)]) == 0
    assert "Converting 1 of 3" in capsys.readouterr().err and len(log.read_text().splitlines()) == 4
    assert main(["data", "prepare", "coughvid", "--data-root", str(tmp_path)]) == 0
    assert "already converted" in capsys.readouterr().err and len(log.read_text().splitlines()) == 4

    (folder / coughvid.SOURCE_DIR / "dddd-broken.webm").write_bytes(b"")
    assert main(["data", "prepare", "coughvid", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "dddd-broken.webm: 1 of 1 recording(s) could not be converted" in err and "Invalid data" in err
    assert sorted(os.listdir(folder / "wav")) == ["aaaa-1.wav", "bbbb-2.wav", "cccc-3.wav"]  # no partial output


def test_prepare_without_ffmpeg_converts_nothing_and_says_how_to_install(tmp_path, capsys, monkeypatch):
    folder = coughvid_sources(tmp_path, ["aaaa-1.webm"])
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main(["data", "prepare", "coughvid", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "FFmpeg not found on PATH, so nothing was converted" in err
    assert "apt-get install ffmpeg" in err and "conda install" in err and "brew install ffmpeg" in err
    assert not (folder / "wav").exists()


def test_prepare_other_cases(tmp_path, capsys):
    assert main(["data", "prepare", "icbhi", "--data-root", str(tmp_path)]) == 0
    assert "needs no preparation" in capsys.readouterr().err
    assert main(["data", "prepare", "coughvid", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "coughvid") in err and coughvid.DATASET.url in err
