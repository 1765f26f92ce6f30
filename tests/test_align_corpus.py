"""Corpus building: test recordings and test subjects excluded with counts; bad rows counted; CSV reading."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from acubench import hookimpl, plugins
from acubench.align.corpus import CorpusError, build_corpus, check_corpus, corpus_hash, read_corpus, write_corpus
from acubench.align.leakcheck import CorpusLeakError, check_corpus_leaks
from acubench.manifest import RECORDING_COLUMNS, LoadContext
from acubench.specs import DatasetSpec, TaskSpec

SR = 8000
FIXED = DatasetSpec(id="toyrec", name="Toy recordings", folder="toyrec", url="https://example.org", license="CC0",
                    layout="*.wav and meta.csv", recordings="test_align_corpus:recordings")
LOSO = DatasetSpec(id="toyloso", name="Toy LOSO", folder="toyloso", url="https://example.org", license="CC0",
                   layout="*.wav and meta.csv", recordings="test_align_corpus:recordings")
UNTASKED = DatasetSpec(id="toyfree", name="Toy without tasks", folder="toyfree", url="https://example.org",
                       license="CC0", layout="*.wav and meta.csv", recordings="test_align_corpus:recordings")
ABSENT = DatasetSpec(id="toyabsent", name="Toy absent", folder="toyabsent", url="https://example.org",
                     license="CC0", layout="*.wav", recordings="test_align_corpus:recordings")
TASKS = [
    TaskSpec(id="toy-fixed", name="toy-fixed", dataset="toyrec", loader="test_align_corpus:load_fixed",
             kind="binary", modality="lung", target="wheeze", classes=("no", "yes"),
             protocols=("default", "reference")),
    TaskSpec(id="toy-loso", name="toy-loso", dataset="toyloso", loader="test_align_corpus:load_loso",
             kind="regression", modality="breath", target="rate", protocol="loso"),
]


def _meta(folder):
    return pd.read_csv(folder / "meta.csv", dtype={"subject": str})


def recordings(folder):
    meta = _meta(folder)
    meta["audio_path"] = [str(folder / f) for f in meta["file"]]
    meta["dataset"] = folder.name
    return meta.reindex(columns=list(RECORDING_COLUMNS))


def load_fixed(ctx: LoadContext) -> pd.DataFrame:
    """One clip per subject (its first recording); test subjects 8, 9 (reference protocol: 7 too)."""
    meta = _meta(ctx.data_root / "toyrec")
    first = meta[meta["file"].str.endswith("_0.wav")]
    test = {"8", "9"} | ({"7"} if ctx.protocol == "reference" else set())
    test |= set(filter(None, ctx.options.get("more_test", "").split(",")))  # a loader option, like --task-arg
    return pd.DataFrame({"clip_id": first["file"], "path": [str(ctx.data_root / "toyrec" / f) for f in first["file"]],
                         "label": [int(s) % 2 for s in first["subject"]], "subject": first["subject"],
                         "split": ["test" if s in test else ("val" if s == "6" else "train")
                                   for s in first["subject"]]})


def load_loso(ctx: LoadContext) -> pd.DataFrame:
    meta = _meta(ctx.data_root / "toyloso")
    return pd.DataFrame({"clip_id": meta["file"], "path": [str(ctx.data_root / "toyloso" / f) for f in meta["file"]],
                         "label": 12.0, "subject": meta["subject"], "split": "pool"})


class ToyPlugin:
    @hookimpl
    def acubench_datasets(self):
        return [FIXED, LOSO, UNTASKED, ABSENT]

    @hookimpl
    def acubench_tasks(self):
        return TASKS


def _dataset(folder, n_subjects=10):
    folder.mkdir(parents=True)
    rows = []
    rng = np.random.default_rng(zlib.crc32(folder.name.encode()))  # distinct audio per dataset: no accidental copies
    for s in range(n_subjects):
        for k in range(2):
            name = f"p{s}_{k}.wav"
            sf.write(str(folder / name), (0.1 * rng.standard_normal(SR // 2)).astype(np.float32), SR)
            rows.append({"file": name, "subject": str(s), "recording_id": name[:-4], "modality": "lung sounds",
                         "diagnosis": "asthma" if s % 2 else "healthy", "site": ["trachea", "left base"][k]})
    pd.DataFrame(rows).to_csv(folder / "meta.csv", index=False)


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / "data"
    for name in ("toyrec", "toyloso", "toyfree"):
        _dataset(root / name)
    plugins.plugin_manager().register(ToyPlugin(), name="toy-corpus-plugin")
    plugins.registries.cache_clear()
    yield root
    plugins.reset()


DATASETS = ["toyrec", "toyloso", "toyfree", "toyabsent"]


def test_test_recordings_and_test_subjects_are_excluded_with_counts(data_root):
    build = build_corpus(data_root, datasets=DATASETS)
    fixed = build.exclusions["toyrec"]
    # default protocol tests subjects 8, 9; the reference protocol adds 7: their first
    # recordings are test files, their second recordings belong to test subjects
    assert (fixed.recordings, fixed.test_recordings, fixed.test_subject_recordings) == (20, 3, 3)
    assert fixed.tasks == ["toy-fixed@default", "toy-fixed@reference"]
    loso = build.exclusions["toyloso"]
    assert (loso.test_recordings, loso.test_subject_recordings) == (20, 0)  # every pooled recording is tested
    assert build.exclusions["toyfree"].excluded == 0
    assert "toyabsent" in build.skipped and "not present" in build.skipped["toyabsent"]
    kept = build.corpus[build.corpus["dataset"] == "toyrec"]
    assert len(kept) == 14 and not {"7", "8", "9"} & set(kept["subject"])
    assert (build.corpus["dataset"] == "toyloso").sum() == 0 and (build.corpus["dataset"] == "toyfree").sum() == 20
    assert build.corpus["report"].str.contains("Diagnosis|diagnosis").all()


def test_include_test_keeps_everything(data_root):
    build = build_corpus(data_root, datasets=DATASETS, include_test=True)
    assert len(build.corpus) == 60 and all(e.excluded == 0 for e in build.exclusions.values())


def test_default_selection_skips_the_demo_and_absent_data(data_root):
    build = build_corpus(data_root)
    assert {"toyrec", "toyloso", "toyfree"} <= set(build.exclusions) and "demo" not in build.exclusions
    with pytest.raises(CorpusError, match="no recordings loader"):
        plugins.plugin_manager().register(type("P", (), {"acubench_datasets": hookimpl(lambda self: [
            DatasetSpec(id="bare", name="Bare", folder="bare", url="u", license="l", layout="x")])})(), name="bare")
        plugins.registries.cache_clear()
        build_corpus(data_root, datasets=["bare"])


def test_bad_rows_are_counted_per_reason_and_never_silently_dropped(data_root, tmp_path):
    build = build_corpus(data_root, datasets=["toyfree"])
    frame = build.corpus.copy()
    frame.loc[0, "report"] = "  "
    frame.loc[1, "audio_path"] = str(tmp_path / "gone.wav")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEjunk")
    frame.loc[2, "audio_path"] = str(broken)
    frame.loc[3, ["start", "end"]] = [0.4, 0.1]
    with pytest.raises(CorpusError) as err:
        check_corpus(frame, source="corpus.csv")
    message = str(err.value)
    for part in ("4 bad row(s)", "1 empty report", "1 missing audio", "1 unreadable audio", "1 bad segment",
                 "--skip-bad", "gone.wav"):
        assert part in message, part
    checked = check_corpus(frame, source="corpus.csv", skip_bad=True)
    assert len(checked.frame) == 16
    assert checked.bad == {"empty report": 1, "missing audio": 1, "bad segment": 1, "unreadable audio": 1}


def test_reading_a_csv_accepts_acula_columns_and_relative_paths(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    sf.write(str(folder / "a.wav"), np.ones(800, np.float32) * 0.1, SR)
    sf.write(str(folder / "b.wav"), np.ones(800, np.float32) * 0.2, SR)
    pd.DataFrame({"audio_path": ["a.wav", "b.wav"], "Gen_Report": ["Normal.", "Wheezes."]}).to_csv(
        folder / "acula.csv", index=False)
    corpus = read_corpus(folder / "acula.csv")
    assert corpus.frame["report"].tolist() == ["Normal.", "Wheezes."]
    assert corpus.frame["audio_path"].tolist() == [str(folder.resolve() / "a.wav"), str(folder.resolve() / "b.wav")]
    assert corpus.frame["subject"].tolist() == corpus.frame["audio_path"].tolist()  # own subject when unknown
    out = write_corpus(corpus.frame, tmp_path / "round.csv")
    assert read_corpus(out).frame.equals(corpus.frame)
    assert corpus_hash(read_corpus(out).frame) == corpus_hash(corpus.frame)
    pd.DataFrame({"path": ["a.wav"]}).to_csv(folder / "bad.csv", index=False)
    with pytest.raises(CorpusError, match="missing column"):
        read_corpus(folder / "bad.csv")
    with pytest.raises(CorpusError, match="not found"):
        read_corpus(folder / "nope.csv")


def test_corpus_hash_changes_with_reports_and_audio(tmp_path):
    folder = tmp_path / "h"
    folder.mkdir()
    sf.write(str(folder / "a.wav"), np.ones(800, np.float32) * 0.1, SR)
    frame = check_corpus(pd.DataFrame({"audio_path": [str(folder / "a.wav")], "report": ["x"]}), source="t").frame
    h = corpus_hash(frame)
    assert corpus_hash(frame.assign(report=["y"])) != h
    sf.write(str(folder / "a.wav"), np.ones(800, np.float32) * 0.3, SR)  # same size, new content
    assert corpus_hash(frame) != h


def test_the_corpus_command_writes_the_csv_and_reports_exclusions(data_root, tmp_path, capsys):
    from acubench.cli import main

    out = tmp_path / "corpus.csv"
    code = main(["corpus", "--data-root", str(data_root), "--datasets", "toyrec,toyfree", "-o", str(out)])
    assert code == 0
    printed = capsys.readouterr()
    assert "| toyrec" in printed.out and "wrote 34 pairs" in printed.err
    row = next(line for line in printed.out.splitlines() if line.startswith("| toyrec"))
    assert [c.strip() for c in row.strip("|").split("|")] == ["toyrec", "20", "3", "3", "14"]
    written = pd.read_csv(out)
    toyrec = written[written["dataset"] == "toyrec"]
    assert len(written) == 34 and not toyrec["audio_path"].str.contains("p8_|p9_|p7_").any()
    assert main(["corpus", "--data-root", str(data_root), "--generator", "llm", "-o", str(out)]) == 2
    assert "--llm-model" in capsys.readouterr().err


def test_exclusion_applies_the_evaluations_task_options(data_root):
    plain = build_corpus(data_root, datasets=["toyrec"])
    optioned = build_corpus(data_root, datasets=["toyrec"], options={"more_test": "5"})
    assert "5" in set(plain.corpus["subject"]) and "5" not in set(optioned.corpus["subject"])
    assert optioned.exclusions["toyrec"].excluded == plain.exclusions["toyrec"].excluded + 2


def test_a_corpus_holding_test_clips_is_refused_by_path_and_by_content(data_root, tmp_path):
    import shutil

    copy = tmp_path / "renamed.wav"
    shutil.copy(data_root / "toyrec" / "p9_0.wav", copy)  # a test clip under another name
    clean = [str(data_root / "toyfree" / f"p{s}_0.wav") for s in range(3)]
    corpus = [*clean, str(data_root / "toyrec" / "p8_0.wav"), str(copy), str(data_root / "toyrec" / "p9_1.wav")]
    with pytest.raises(CorpusLeakError, match=r"2 corpus recording\(s\) are test clips of toy-fixed") as err:
        check_corpus_leaks(corpus, source="mine.csv", data_root=data_root, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert "p8_0.wav = toy-fixed test clip p8_0.wav" in message
    assert f"{copy} = toy-fixed test clip p9_0.wav (a copy of" in message and "--allow-test-overlap" in message
    info = check_corpus_leaks(corpus, source="mine.csv", data_root=data_root, cache_dir=tmp_path / "cache", allow=True)
    assert info["overlapping_files"] == 2 and info["allow_test_overlap"] is True
    assert {o["how"] for o in info["overlaps"]} == {"path", "content"}
    assert "toy-loso@default" in info["checked_tasks"]  # every task with data present is consulted
    # every pooled clip of a LOSO task is a test clip; the option-given test subject is caught too
    with pytest.raises(CorpusLeakError, match="toy-loso"):
        check_corpus_leaks([str(data_root / "toyloso" / "p0_0.wav")], source="x", data_root=data_root,
                           cache_dir=tmp_path / "cache")
    assert check_corpus_leaks(clean, source="x", data_root=data_root,
                              cache_dir=tmp_path / "cache")["overlapping_files"] == 0
    with pytest.raises(CorpusLeakError, match=r"p5_0\.wav"):
        check_corpus_leaks([str(data_root / "toyrec" / "p5_0.wav")], source="x", data_root=data_root,
                           cache_dir=tmp_path / "cache", options={"more_test": "5"})
