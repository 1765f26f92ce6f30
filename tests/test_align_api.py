"""The public API and commands: align → cached checkpoint → aligned encoder → zero-shot scores."""

from __future__ import annotations

import json

import numpy as np
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
from test_align_fixtures import bert_teacher, make_corpus, register_tiny  # noqa: F401

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


def test_align_caches_by_key_and_reloads_as_an_aligned_encoder(registered, corpus_csv, bert_teacher, tmp_path,
                                                                 monkeypatch):  # noqa: F811
    first = _align(corpus_csv, bert_teacher, tmp_path)
    assert first.trained and first.path.is_file() and first.encoder_file.is_file()
    assert first.path.parent == tmp_path / "cache" / "aligned" / f"tiny-align-{first.fingerprint}"
    meta = first.metadata
    assert meta["teacher"]["id"] == str(bert_teacher) and meta["corpus"]["pairs"] == 64
    assert meta["overrides"]["epochs"] == 2 and meta["align_config"]["lr"] == 5e-3
    assert run_key(meta) == first.fingerprint

    monkeypatch.setattr(api, "train", lambda **_: pytest.fail("a finished run must not train again"))
    again = ensure_aligned("tiny-align", weights=None, random_init="never", corpus=str(corpus_csv),
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
    model = load_aligned_model(first.path)
    assert model.audio_head.layers[0].in_features == 16 and model.text_head.layers[0].in_features == 32


def test_an_out_folder_holding_another_run_is_refused(registered, corpus_csv, bert_teacher, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    _align(corpus_csv, bert_teacher, tmp_path, out=out, overrides={**FAST, "epochs": 1})
    with pytest.raises(AlignError, match="holds a different alignment run"):
        _align(corpus_csv, bert_teacher, tmp_path, out=out, overrides={**FAST, "epochs": 1, "lr": 1e-3})
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(AlignError, match="not an alignment run folder"):
        _align(corpus_csv, bert_teacher, tmp_path, out=stranger)


def test_the_align_command(registered, corpus_csv, bert_teacher, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "cli-run"
    argv = ["align", "--encoder", "tiny-align", "--corpus", str(corpus_csv), "--teacher", str(bert_teacher),
            "--epochs", "1", "--batch-size", "8", "--lr", "5e-3", "--clip-seconds", "0.5", "--no-augment",
            "--val-fraction", "0.25", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == str(out / "acula_final.pt")
    assert "held-out CKA" in printed.err
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
    frame = make_corpus(folder, n_subjects=n // 2)
    labels = frame["report"].str.startswith("wheezes").astype(int)
    split = ["test" if int(s[1:]) % 2 else "train" for s in frame["subject"]]
    pd.DataFrame({"clip_id": frame["recording_id"], "path": frame["audio_path"], "label": labels,
                  "subject": frame["subject"], "split": split}).to_csv(folder / "labels.csv", index=False)


def test_zero_shot_scores_a_task_from_class_prompts(registered, corpus_csv, bert_teacher, tmp_path, capsys):  # noqa: F811
    _toy_task_data(tmp_path / "data")
    ckpt = _align(corpus_csv, bert_teacher, tmp_path, overrides={**FAST, "epochs": 5}).path
    from acubench.align.zeroshot import zeroshot

    results, skipped = zeroshot(ckpt, tasks="toy-zs", data_root=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert skipped == {} and len(results) == 1
    result = results[0]
    assert result.n_test == 12 and result.prompts == list(TOY_TASK.class_prompts)
    assert result.auroc > 0.8  # the aligned space separates the reports' classes
    out = tmp_path / "zs.json"
    code = main(["zeroshot", "--encoder", "tiny-align", "--aligned", str(ckpt), "--tasks", "toy-zs",
                 "--data-root", str(tmp_path / "data"), "-o", str(out)])
    assert code == 0
    assert "toy-zs" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["results"][0]["auroc"] == pytest.approx(result.auroc)
    assert main(["zeroshot", "--encoder", "tiny-frozen", "--aligned", str(ckpt), "--tasks", "toy-zs"]) == 2
    assert "aligns encoder tiny-align" in capsys.readouterr().err


def test_zero_shot_scoring_rules():
    from acubench.align.zeroshot import class_prompts, zero_shot_scores

    sims = torch.tensor([[0.1, 0.5, 0.2], [0.9, 0.0, 0.1]])
    probs = zero_shot_scores(sims, "multiclass", 0.07)
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1) and probs[0].argmax() == 1
    assert np.allclose(zero_shot_scores(sims[:, :2], "binary", 0.07), [0.4, -0.9])
    plain = TaskSpec(id="t", name="t", dataset="d", loader="m:f", kind="binary", modality="m", target="murmur",
                     classes=("absent", "present"))
    assert class_prompts(plain) == ["murmur: absent", "murmur: present"]
