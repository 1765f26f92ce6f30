"""Every registered encoder family that supports alignment, in its tiny config, learns under AcuLa.

On a fixed batch the total loss falls over a few optimiser steps, and linear
CKA between projected audio and projected teacher vectors of held-out pairs
rises.
"""

from __future__ import annotations

import json

import pytest
import torch

from acubench.align.corpus import check_corpus
from acubench.align.data import PairAudio, alignment_policy, split_by_subject
from acubench.align.losses import linear_cka
from acubench.align.model import build_model
from acubench.align.presets import resolve_config
from acubench.align.teacher import Teacher
from acubench.align.validation import recalibrate_batchnorm
from acubench.cli import main
from acubench.loading import load_encoder
from acubench.plugins import registries
from tiny_align import make_corpus

ALIGNABLE = sorted(s.id for s in registries().encoders if s.supports_alignment and "tiny" in s.configs)
CONFIG = resolve_config("demo", {"proj_dim": 32, "proj_hidden": 64, "dropout": 0.0, "clip_seconds": 1.1,
                                 "align_target": "heads", "align_loss": "cka"})
STEPS, BATCH = 24, 8
#: AudioMAE pools the 512 patch tokens of a 10.24 s input that the 1.1 s clips fill a tenth of, so its
#: pooled embedding moves slower per step; with its own MAE loss (no generic head) it gets a larger step.
LR = {"audiomae": 3e-3}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """32 training and 16 held-out pairs; the recordings' level (±20 dB) masks the class until learnt."""
    folder = tmp_path_factory.mktemp("enc-corpus")
    frame = check_corpus(make_corpus(folder, n_subjects=24, seconds=1.2, variants=1, coloured=True),
                         source="toy").frame
    return split_by_subject(frame, 0.34, seed=0)


def _inputs(encoder, rows):
    data = PairAudio(rows, encoder.sample_rate, alignment_policy(encoder.spec.clip, CONFIG.clip_seconds), seed=0,
                     train=False, augment_config=None)
    return encoder.featurize([torch.from_numpy(data[i][0]) for i in range(len(rows))])


def _settle_batchnorm(model, inputs) -> None:
    """Recalibrate BatchNorm statistics on the training inputs, as the trainer does before saving.

    OPERA-CE's BatchNorms use momentum 0.01, so 24 steps move their running
    statistics only ~20 % of the way; eval-mode numbers would then measure the
    stale statistics, not what was learnt.
    """
    with torch.no_grad(), torch.random.fork_rng(devices=[]):  # leave the training's random stream alone
        recalibrate_batchnorm(model.encoder, inputs.split(BATCH))


def _has_batchnorm(model) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _fixed_batch_loss(model, inputs, text) -> float:
    # BatchNorm models are scored on batch statistics, as the optimiser saw them: their running
    # statistics mix clean and masked (MAM) inputs, so eval mode would score neither faithfully.
    # The running statistics are restored afterwards, so the measurement leaves no trace.
    buffers = {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches" in k}
    model.train(_has_batchnorm(model))
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same masks before and after training
        loss = float(model(inputs, text, torch.Generator().manual_seed(0))["loss"])
    model.load_state_dict(buffers, strict=False)
    model.train()
    return loss


def _held_out_cka(model, inputs, text) -> float:
    model.eval()
    with torch.no_grad():
        cka = float(linear_cka(model.audio_head(model.embed(inputs)), model.text_head(text)))
    model.train()
    return cka


def test_some_encoder_families_are_alignable():
    assert {"audiomae", "clap", "qwen-omni"} <= set(ALIGNABLE)


@pytest.mark.slow
@pytest.mark.parametrize("encoder_id", ALIGNABLE)
def test_loss_falls_and_held_out_cka_rises(encoder_id, pairs, bert_teacher):
    train_rows, val_rows = pairs
    encoder = load_encoder(encoder_id, config="tiny", random_init="always")
    teacher = Teacher(str(bert_teacher))
    inputs, val_inputs = _inputs(encoder, train_rows), _inputs(encoder, val_rows)
    text, val_text = teacher.encode(train_rows["report"].tolist()), teacher.encode(val_rows["report"].tolist())
    torch.manual_seed(0)
    model = build_model(encoder, teacher.dim, CONFIG, seed=0, sample_inputs=inputs[:1])
    fixed = slice(0, BATCH)
    loss_before = _fixed_batch_loss(model, inputs[fixed], text[fixed])
    _settle_batchnorm(model, inputs)
    cka_before = _held_out_cka(model, val_inputs, val_text)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR.get(encoder_id, 1e-3))
    order = torch.Generator().manual_seed(0)
    for step in range(STEPS):
        pick = torch.randperm(len(inputs), generator=order)[:BATCH]
        loss = model(inputs[pick], text[pick], torch.Generator().manual_seed(step))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    loss_after = _fixed_batch_loss(model, inputs[fixed], text[fixed])
    _settle_batchnorm(model, inputs)
    cka_after = _held_out_cka(model, val_inputs, val_text)
    assert loss_after < loss_before, (loss_before, loss_after)
    # +0.2, or half the remaining gap where the random-init encoder already sits close to 1.
    assert cka_after > cka_before + min(0.2, 0.5 * (1 - cka_before)), (cka_before, cka_after)


@pytest.mark.slow
def test_audiomae_aligns_with_its_released_decoder_and_falls_back_without_one(tmp_path, bert_teacher, capsys):
    """``acubench align --encoder audiomae``: a random-init (or released) AudioMAE trains its MAE decoder loss
    and the held-out masked-modelling loss falls; a checkpoint without a decoder gets the generic head, and
    ``alignment.json`` says so."""
    corpus = tmp_path / "corpus.csv"
    (tmp_path / "clips").mkdir()
    make_corpus(tmp_path / "clips", n_subjects=16, seconds=1.2).to_csv(corpus, index=False)
    common = ["align", "--encoder", "audiomae", "--config", "tiny", "--corpus", str(corpus), "--teacher",
              str(bert_teacher), "--epochs", "3", "--batch-size", "8", "--lr", "3e-3", "--clip-seconds", "1.0",
              "--no-augment", "--val-fraction", "0.25"]
    assert main([*common, "--random-init", "--out", str(tmp_path / "own")]) == 0
    summary = json.loads((tmp_path / "own" / "alignment.json").read_text())
    assert summary["masked_modelling"] == {"kind": "ssl_loss", "notice": None}
    assert summary["heldout_mam_after"] < summary["heldout_mam_before"], summary["curve"]
    final = torch.load(tmp_path / "own" / "acula_final.pt", weights_only=True)
    assert "mam_head_state_dict" not in final
    start = load_encoder("audiomae", config="tiny", random_init="always", seed=0).decoder.state_dict()
    trained = final["audio_model_state_dict"]
    assert set(start) <= set(trained) and not torch.equal(trained["decoder_pred.weight"], start["decoder_pred.weight"])

    finetuned = tmp_path / "finetuned.pth"
    torch.save({"model": {k: v for k, v in trained.items() if not k.startswith(("decoder_", "mask_token"))}},
               finetuned)
    capsys.readouterr()
    assert main([*common, "--weights", str(finetuned), "--out", str(tmp_path / "generic")]) == 0
    assert "masked modelling" in capsys.readouterr().err
    summary = json.loads((tmp_path / "generic" / "alignment.json").read_text())
    assert summary["masked_modelling"]["kind"] == "generic head"
    assert str(finetuned) in summary["masked_modelling"]["notice"]
    assert "mam_head_state_dict" in torch.load(tmp_path / "generic" / "acula_final.pt", weights_only=True)
