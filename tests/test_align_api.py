"""The public API and commands: align → cached checkpoint → aligned encoder → zero-shot scores."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from acubench import hookimpl, plugins
from acubench.align import api
from acubench.align.api import align, ensure_aligned, load_aligned_encoder, load_aligned_model, run_key
from acubench.align.trainer import AlignError
from acubench.cli import main
from acubench.loading import load_encoder
from acubench.manifest import LoadContext
from acubench.specs import DatasetSpec, TaskSpec
from tiny_align import make_corpus, register_tiny

FAST = {"epochs": 2, "batch_size": 8, "lr": 5e-3, "proj_dim": 16, "proj_hidden": 32, "clip_seconds": None,
        "max_pairs": None, "val_fraction": 0.25, "augment": False}

TOY_DATASET = DatasetSpec(id="toyzs", name="Toy zero-shot", folder="toyzs", url="https://example.org", license="CC0",
                          layout="wav files and labels.csv")
TOY_TASK = TaskSpec(id="toy-zs", name="toy-wheeze-zs", dataset="toyzs", loader="test_align_api:load_toy",
                    kind="binary", modality="lung", target="wheeze", classes=("no", "yes"),
                    class_prompts=("normal vesicular breath sounds . diagnosis : healthy",
                                   "wheezes heard at the left base . diagnosis : asthma"))


def load_toy(ctx: LoadContext) -> pd.DataFrame:
    frame = pd.read_csv(ctx.data_root / "toyzs" / "labels.csv")
    return frame


class ToyTaskPlugin:
    @hookimpl
    def acubench_datasets(self):
        return [TOY_DATASET]

    @hookimpl
    def acubench_tasks(self):
        return [TOY_TASK]


@pytest.fixture
def registered():
    register_tiny()
    plugins.plugin_manager().register(ToyTaskPlugin(), name="toy-zs-plugin")
    plugins.registries.cache_clear()
    yield
    plugins.reset()


@pytest.fixture(scope="module")
def corpus_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api-corpus")
    frame = make_corpus(folder, n_subjects=32)
    frame.to_csv(folder / "corpus.csv", index=False)
    return folder / "corpus.csv"


def _align(corpus_csv, teacher, tmp_path, **kw):
    options = dict(corpus=corpus_csv, teacher=str(teacher), preset="demo", overrides=FAST, cache_dir=tmp_path / "cache")
    options.update(kw)
    return align("tiny-align", **options)


@pytest.mark.slow
def test_align_caches_by_key_and_reloads_as_an_aligned_encoder(registered, corpus_csv, bert_teacher, tmp_path,
                                                                 monkeypatch):
    first = _align(corpus_csv, bert_teacher, tmp_path)
    assert first.trained and first.path.is_file() and first.encoder_file.is_file()
    assert first.path.parent == tmp_path / "cache" / "aligned" / f"tiny-align-{first.fingerprint}"
    meta = first.metadata
    assert meta["teacher"]["id"] == str(bert_teacher) and meta["corpus"]["pairs"] == 64
    assert meta["overrides"]["epochs"] == 2 and meta["align_config"]["lr"] == 5e-3
    assert run_key(meta) == first.fingerprint

    monkeypatch.setattr(api, "train", lambda **_: pytest.fail("a finished run must not train again"))
    again = ensure_aligned("tiny-align", corpus=str(corpus_csv),
                           teacher=str(bert_teacher), overrides=FAST, cache_dir=tmp_path / "cache")
    assert not again.trained and again.path == first.path and again.fingerprint == first.fingerprint
    # settings that do not change the result keep the key; others change it
    assert _align(corpus_csv, bert_teacher, tmp_path, overrides={**FAST, "num_workers": 0, "save_every": 5}).path \
        == first.path
    monkeypatch.undo()
    other = _align(corpus_csv, bert_teacher, tmp_path, overrides={**FAST, "epochs": 1})
    assert other.trained and other.fingerprint != first.fingerprint

    base = load_encoder("tiny-align")
    aligned = load_aligned_encoder(first.path)
    assert aligned.weights_info.status == "aligned" and aligned.weights_info.source == str(first.path)
    assert aligned.fingerprint() != base.fingerprint() and aligned.weights_info.from_random_init
    waves = [torch.randn(8000, generator=torch.Generator().manual_seed(1))]
    from_file = load_encoder("tiny-align", weights=first.encoder_file)
    assert torch.equal(aligned.embed(waves), from_file.embed(waves))
    assert not torch.allclose(aligned.embed(waves), base.embed(waves))
    assert load_aligned_encoder(first.path.parent).fingerprint() == aligned.fingerprint()
    model = load_aligned_model(first.path)  # the default aligns the embedding itself: no heads
    assert isinstance(model.audio_head, torch.nn.Identity) and model.space_map["rotation"].shape == (16, 32)
    summary = json.loads(first.summary_file.read_text())
    assert summary == first.summary and summary["key"] == first.fingerprint
    assert summary["heldout_cka_after"] > summary["heldout_cka_before"] > summary["heldout_cka_shuffled"]
    assert summary["aligned"] is True and summary["corpus"]["heldout_subjects"] == 8
    assert len(summary["curve"]) == 3 and 0 <= summary["retrieval"]["audio_to_report_r@1"] <= 1
    with_heads = _align(corpus_csv, bert_teacher, tmp_path, overrides={**FAST, "align_target": "heads"})
    model = load_aligned_model(with_heads.path)
    assert model.audio_head.layers[0].in_features == 16 and model.text_head.layers[0].in_features == 32


def test_an_out_folder_holding_another_run_is_refused(registered, corpus_csv, bert_teacher, tmp_path):
    out = tmp_path / "run"
    _align(corpus_csv, bert_teacher, tmp_path, out=out, overrides={**FAST, "epochs": 1})
    with pytest.raises(AlignError, match="holds a different alignment run"):
        _align(corpus_csv, bert_teacher, tmp_path, out=out, overrides={**FAST, "epochs": 1, "lr": 1e-3})
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(AlignError, match="not an alignment run folder"):
        _align(corpus_csv, bert_teacher, tmp_path, out=stranger)


def test_the_align_command(registered, corpus_csv, bert_teacher, tmp_path, capsys):
    out = tmp_path / "cli-run"
    argv = ["align", "--encoder", "tiny-align", "--corpus", str(corpus_csv), "--teacher", str(bert_teacher),
            "--epochs", "1", "--batch-size", "8", "--lr", "5e-3", "--clip-seconds", "0.5", "--no-augment",
            "--val-fraction", "0.25", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == str(out / "acula_final.pt")
    assert "held-out debiased CKA" in printed.err and (out / "alignment.json").is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["overrides"] == {"augment": False, "clip_seconds": 0.5, "epochs": 1, "lr": 0.005, "batch_size": 8,
                                "val_fraction": 0.25}
    assert main(["align", "--encoder", "tiny-frozen", "--corpus", str(corpus_csv)]) == 2
    assert "does not support alignment" in capsys.readouterr().err
    assert main(["align", "--encoder", "tiny-align", "--corpus", str(tmp_path / "none.csv")]) == 2
    assert "corpus file not found" in capsys.readouterr().err


def _toy_task_data(root, n=24):
    folder = root / "toyzs"
    folder.mkdir(parents=True)
    frame = make_corpus(folder, n_subjects=n // 2, seed=1)  # other recordings than the corpus': no test overlap
    labels = frame["report"].str.startswith("wheezes").astype(int)
    split = ["test" if int(s[1:]) % 2 else "train" for s in frame["subject"]]
    pd.DataFrame({"clip_id": frame["recording_id"], "path": frame["audio_path"], "label": labels,
                  "subject": frame["subject"], "split": split}).to_csv(folder / "labels.csv", index=False)


@pytest.mark.slow
def test_zero_shot_rows_reach_the_run_and_reproduce_from_predictions(registered, corpus_csv, bert_teacher,
                                                                      tmp_path, capsys):
    from sklearn.metrics import roc_auc_score

    from acubench.align.options import AlignOptions
    from acubench.api import run, zeroshot
    from acubench.loading import EncoderOptions

    _toy_task_data(tmp_path / "data")
    ckpt = _align(corpus_csv, bert_teacher, tmp_path, overrides={**FAST, "epochs": 5}).path
    result = run("tiny-align", tasks="toy-zs", probes=["linear", "zeroshot"], seeds=2, data_root=tmp_path / "data",
                 cache=tmp_path / "cache", out=tmp_path / "run", aligned=True,
                 align_options=AlignOptions(checkpoint=str(ckpt)),
                 encoder_options=EncoderOptions(random_init="fallback"))
    zs = [r for r in result.records if r.probe == "zeroshot"]
    assert len(zs) == 2 and all(r.aligned for r in zs)  # the base row has no joint space: no zero-shot row
    assert {r.probe for r in result.records if not r.aligned} == {"linear"}
    record = zs[0]
    assert zs[1].value == record.value and record.ci95 is not None and record.ci95[0] <= record.value <= record.ci95[1]
    assert record.hyperparams["prompts"] == list(TOY_TASK.class_prompts)
    assert record.hyperparams["teacher"] == str(bert_teacher) and record.hyperparams["temperature"] == 0.07
    assert record.hyperparams["checkpoint"] == str(ckpt) and record.hyperparams["validation"] == "none (does not train)"
    assert record.value > 0.8  # the aligned space separates the reports' classes

    clips = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    clips = clips[(clips["probe"] == "zeroshot") & (clips["seed"] == 0)]
    assert len(clips) == record.n_test == 12
    assert roc_auc_score(clips["label"], clips["score"]) == record.value  # exactly, from the stored per-clip scores
    stored = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert sum(r["probe"] == "zeroshot" for r in stored) == 2
    board = (tmp_path / "run" / "leaderboard.md").read_text()
    assert "Probe: **zeroshot**" in board and record.encoder in board.split("Probe: **zeroshot**")[1]

    # `acubench zeroshot` and the Python API are the same scorer on the same embeddings: the same number
    alone = zeroshot(ckpt, tasks="toy-zs", data_root=tmp_path / "data", cache=tmp_path / "cache")
    assert alone.skipped == {} and [r.value for r in alone.records] == [record.value]
    assert alone.label == record.encoder
    out = tmp_path / "zs.json"
    code = main(["zeroshot", "--encoder", "tiny-align", "--aligned", str(ckpt), "--tasks", "toy-zs",
                 "--data-root", str(tmp_path / "data"), "-o", str(out)])
    assert code == 0
    assert "toy-zs" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["records"][0]["value"] == record.value and payload["label"] == record.encoder
    assert main(["zeroshot", "--encoder", "tiny-frozen", "--aligned", str(ckpt), "--tasks", "toy-zs"]) == 2
    assert "aligns encoder tiny-align" in capsys.readouterr().err


def test_zero_shot_is_refused_where_it_cannot_score(registered, tmp_path, capsys):
    from acubench.align.zeroshot import checkpoint_teacher
    from acubench.engine.runner import Runner

    out = tmp_path / "run"
    assert main(["run", "--encoder", "tiny-align", "--probe", "linear,zeroshot", "--tasks", "toy-zs",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "probe zeroshot scores aligned encoders only" in err and "add --aligned" in err
    assert err.count("\n") == 1 and not out.exists()
    assert main(["run", "--encoder", "tiny-align", "--aligned", "--probe", "zeroshot", "--tasks", "demo-fev1",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "probe zeroshot does not handle regression tasks (demo-fev1" in err and "drop zeroshot from --probe" in err
    assert err.count("\n") == 1 and not out.exists()
    # through a suite, regression tasks are simply not scored by it (and skipped when no probe is left)
    assert Runner(tasks="demo", probes=["linear", "zeroshot"]).unscored == {"demo-resp-rate": ["zeroshot"],
                                                                            "demo-fev1": ["zeroshot"]}
    with pytest.raises(AlignError, match="records no teacher"):
        checkpoint_teacher({"teacher": None}, "cpu")


@pytest.mark.slow
def test_run_aligned_says_what_it_did(registered, corpus_csv, bert_teacher, tmp_path, capsys):
    from rich.console import Console

    from acubench.align.options import AlignOptions
    from acubench.api import run
    from acubench.cli.reporting import RichReporter
    from acubench.loading import EncoderOptions

    _toy_task_data(tmp_path / "data")
    fallback = EncoderOptions(random_init="fallback")
    report = RichReporter(Console(stderr=True))
    options = AlignOptions(corpus=str(corpus_csv), teacher=str(bert_teacher), preset="demo",
                           overrides={**FAST, "align_loss": "cka"})
    result = run("tiny-align", tasks="toy-zs", seeds=1, data_root=tmp_path / "data", cache=tmp_path / "cache",
                 out=tmp_path / "run", aligned=True, align_options=options, encoder_options=fallback, reporter=report)
    labels = sorted({r.encoder for r in result.records})
    assert labels[0] == "tiny-align[tiny]"
    assert labels[1].startswith("tiny-align[tiny]+acula[corpus,demo,bert-teacher") and " settings #" in labels[1]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    entry = config["align"][0]
    assert entry["label"] == labels[1] and entry["corpus"] == str(corpus_csv) and entry["teacher"] == str(bert_teacher)
    copied = json.loads((tmp_path / "run" / "alignment.json").read_text())
    assert copied["label"] == labels[1] and copied["heldout_cka_after"] is not None
    assert "+acula[corpus,demo" in capsys.readouterr().err

    # the same checkpoint, evaluated from `acubench align`'s output, keeps its label and its base row
    again = run("tiny-align", tasks="toy-zs", seeds=1, data_root=tmp_path / "data", cache=tmp_path / "cache",
                out=tmp_path / "run2", aligned=True, align_options=AlignOptions(checkpoint=entry["checkpoint"]),
                encoder_options=fallback)
    assert sorted({r.encoder for r in again.records}) == labels
    assert [r.value for r in again.records if r.aligned] == [r.value for r in result.records if r.aligned]


def test_run_aligned_never_falls_back_to_the_demo_corpus_for_real_tasks(registered, tmp_path):
    from acubench.align.corpus import CorpusError
    from acubench.align.options import AlignOptions
    from acubench.align.variant import resolve_corpus
    from acubench.api import run
    from acubench.loading import EncoderOptions

    assert resolve_corpus(None, all_demo=True) == "demo" and resolve_corpus(None, all_demo=False) == "datasets"
    assert resolve_corpus("demo", all_demo=False) == "demo"  # named explicitly: allowed
    _toy_task_data(tmp_path / "data")
    with pytest.raises(CorpusError, match="no dataset for the corpus"):
        run("tiny-align", tasks="toy-zs", seeds=1, data_root=tmp_path / "data", cache=tmp_path / "cache",
            out=tmp_path / "run", aligned=True, align_options=AlignOptions(),
            encoder_options=EncoderOptions(random_init="fallback"))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_sweep_aligns_every_combination_into_one_board_and_resumes(registered, corpus_csv, bert_teacher, tmp_path,
                                                                     monkeypatch):
    from acubench.align import variant as variant_module
    from acubench.align.trainer import train as real_train
    from acubench.cli.sweep import parse_grid

    assert parse_grid(["lambda_mam=0,1", "align-loss=cka,cka-debiased"]) == {
        "lambda_mam": [0.0, 1.0], "align_loss": ["cka", "cka-debiased"]}
    for bad, match in ((["lambda_mam"], "expected SETTING=V1,V2"), (["lr=fast"], "not a valid float"),
                       (["nope=1"], "unknown alignment setting 'nope'")):
        with pytest.raises(Exception, match=match):
            parse_grid(bad)
    _toy_task_data(tmp_path / "data")
    config = tmp_path / "settings.json"
    config.write_text(json.dumps({k: v for k, v in FAST.items() if k != "epochs"} | {"epochs": 1}))
    argv = ["sweep", "--encoder", "tiny-align", "--tasks", "toy-zs", "--data-root", str(tmp_path / "data"),
            "--corpus", str(corpus_csv), "--teacher", str(bert_teacher), "--align-preset", "demo",
            "--align-config", str(config), "--grid", "control=none,shuffled-reports", "--grid", "lambda_mam=0,1",
            "--seeds", "1", "--bootstrap", "0", "--random-init"]
    real, calls = variant_module.align, []

    def dying(*args, **kwargs):
        calls.append(kwargs["overrides"])
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated kill")
        return real(*args, **kwargs)

    monkeypatch.setattr(variant_module, "align", dying)
    monkeypatch.setenv("ACUBENCH_CACHE", str(tmp_path / "cache"))
    assert main([*argv, "--out", str(tmp_path / "cut")]) == 130
    monkeypatch.setattr(variant_module, "align", real)
    trained = []
    monkeypatch.setattr(api, "train", lambda **kw: trained.append(kw["config"]) or real_train(**kw))
    assert main([*argv, "--out", str(tmp_path / "sweep")]) == 0
    assert len(trained) == 2  # the two alignments finished before the cut came from the cache
    records = [json.loads(line) for line in (tmp_path / "sweep" / "results.jsonl").read_text().splitlines()]
    labels = sorted({r["encoder"] for r in records})
    assert len(labels) == 5 and labels[0] == "tiny-align[tiny]"
    assert any("control=shuffled-reports" in label and "lambda_mam=0.0" in label for label in labels)
    board = (tmp_path / "sweep" / "leaderboard.md").read_text()
    assert board.count("Δ acula") >= 4  # every variant is compared with the base row


def _bad_corpora(corpus_csv, bert_teacher, folder):
    """(corpus file, teacher, what the error must say) for each bad alignment input of #10."""
    frame = pd.read_csv(corpus_csv)
    cases = []
    for name, bad, message in (
            ("same.csv", frame.assign(report="normal vesicular breath sounds"), "reports of the corpus are identical"),
            ("one.csv", frame.assign(subject="s0"), "the corpus has 1 subject"),
            ("empty.csv", frame.iloc[:0], "the corpus has no rows"),
            ("gone.csv", frame.assign(audio_path=frame["audio_path"] + ".gone"), "64 missing audio")):
        bad.to_csv(folder / name, index=False)
        cases.append((folder / name, bert_teacher, message))
    broken = folder / "broken-teacher"
    broken.mkdir()
    for f in bert_teacher.iterdir():
        (broken / f.name).write_bytes(b"not a model" if f.suffix == ".safetensors" else f.read_bytes())
    cases.append((corpus_csv, broken, "cannot load the model"))
    cases.append((corpus_csv, folder / "no-such-teacher", "no-such-teacher"))
    return cases


def _one_error_line(err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("acubench: error")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(n in lines[0] for n in needles), (needles, lines[0])
    return lines[0]


@pytest.mark.slow
def test_bad_alignment_input_is_one_line_naming_the_file_and_leaves_nothing(registered, corpus_csv, bert_teacher,
                                                                            tmp_path, capsys, monkeypatch):
    """Empty, one-subject, identical-report and missing-audio corpora, and teachers that do not load, through
    `align`, `run --aligned` and `sweep`: exit 2, one line naming the file, no run folder, no checkpoint folder."""
    _toy_task_data(tmp_path / "data")
    cache = tmp_path / "cache"
    monkeypatch.setenv("ACUBENCH_CACHE", str(cache))
    for k, (corpus, teacher, message) in enumerate(_bad_corpora(corpus_csv, bert_teacher, tmp_path)):
        named = str(teacher) if corpus == corpus_csv else str(corpus)
        for command in (["align"], ["run", "--aligned"], ["sweep", "--grid", "control=none,shuffled-reports"]):
            out = tmp_path / f"out-{k}-{command[0]}"
            evaluation = [] if command[0] == "align" else [
                "--tasks", "toy-zs", "--data-root", str(tmp_path / "data"), "--seeds", "1", "--bootstrap", "0"]
            code = main([*command, "--encoder", "tiny-align", *evaluation, "--corpus", str(corpus), "--teacher",
                         str(teacher), "--random-init", "--out", str(out)])
            assert code == 2, (corpus, command)
            _one_error_line(capsys.readouterr().err, message, named)
            assert not out.exists(), (corpus, command)
            assert not (cache / "aligned").exists() or not any((cache / "aligned").iterdir()), (corpus, command)
