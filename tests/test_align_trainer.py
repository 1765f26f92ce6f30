"""The training loop on a tiny encoder: learning, held-out CKA, checkpoints, resumption, augmentation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from acubench.align.checkpoints import latest_checkpoint
from acubench.align.corpus import check_corpus
from acubench.align.data import alignment_policy, split_by_subject
from acubench.align.mam import MaskedFrameHead, masked_frame_loss, standardise
from acubench.align.presets import resolve_config
from acubench.align.teacher import Teacher
from acubench.align.trainer import AlignError, train
from acubench.specs import ClipPolicy
from tiny_align import FROZEN_SPEC, TINY_SPEC, TinyAlignEncoder, build_tiny, make_corpus

ACULA_KEYS = {"epoch", "audio_model_state_dict", "audio_projection_mlp_state_dict",
              "language_projection_mlp_state_dict", "optimizer_state_dict", "scheduler_state_dict"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy-corpus")
    return check_corpus(make_corpus(folder, n_subjects=32), source="toy").frame


def _config(**changes):
    base = dict(epochs=3, batch_size=8, grad_accum=1, lr=5e-3, warmup_steps=1, proj_dim=16, proj_hidden=32,
                val_fraction=0.25, max_pairs=None, clip_seconds=None, save_every=1, augment=False)
    base.update(changes)
    return resolve_config("demo", base)


def _train(tmp_path, corpus, teacher_dir, name="run", **changes):
    encoder = build_tiny(TINY_SPEC, config={}, weights=None, device="cpu", seed=0)
    rebuild = lambda path: build_tiny(TINY_SPEC, config={}, weights=path, device="cpu", seed=0)  # noqa: E731
    return train(encoder=encoder, rebuild=rebuild, corpus=corpus, teacher=Teacher(str(teacher_dir)),
                 config=_config(**changes), seed=0, out_dir=tmp_path / name, metadata={"encoder": "tiny-align"},
                 cache_dir=tmp_path / "cache")


@pytest.mark.slow
def test_training_learns_and_held_out_cka_rises(tmp_path, corpus, bert_teacher):
    result = _train(tmp_path, corpus, bert_teacher, epochs=5)
    epochs = [r for r in result.history if r["type"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1, 2, 3, 4, 5]
    assert epochs[0]["val_pairs"] == 16
    assert epochs[-1]["val_cka"] > epochs[0]["val_cka"] + 0.2
    assert epochs[-1]["train_loss"] < epochs[1]["train_loss"]
    assert epochs[-1]["val_mam"] < epochs[0]["val_mam"]
    steps = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    step_lines = [s for s in steps if s["type"] == "step"]
    assert len(step_lines) == 5 * 6 and all(np.isfinite(s["loss"]) and s["lr"] > 0 for s in step_lines)
    assert result.samples_per_second > 0


@pytest.mark.parametrize("target", ["heads", "embedding"])
def test_checkpoints_use_the_acula_layout_and_load_with_weights_only(tmp_path, corpus, bert_teacher, target):
    result = _train(tmp_path, corpus, bert_teacher, epochs=2, align_target=target)
    head_keys = {"layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias"} if target == "heads" else set()
    for path in (result.final, tmp_path / "run" / "checkpoints" / "acula_epoch_1.pt"):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        assert ACULA_KEYS <= set(ckpt) and "mam_head_state_dict" in ckpt
        assert ckpt["acubench"]["encoder"] == "tiny-align"
        assert set(ckpt["audio_projection_mlp_state_dict"]) == head_keys
    final = torch.load(result.final, weights_only=True)
    assert final["epoch"] == 2 and final["acubench"]["final"] is True
    alone = torch.load(result.encoder_file, weights_only=True)
    assert set(alone) == set(final["audio_model_state_dict"])
    assert all(torch.equal(alone[k], final["audio_model_state_dict"][k]) for k in alone)


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, corpus, bert_teacher, monkeypatch):
    whole = _train(tmp_path, corpus, bert_teacher, name="whole")

    calls = {"n": 0}
    real = TinyAlignEncoder.featurize

    def dying(self, waves):
        calls["n"] += 1
        if calls["n"] == 1 + 2 + 6 * 2 + 3:  # probe, validation, two epochs of 6 batches, then mid-epoch 3
            raise KeyboardInterrupt("simulated kill")
        return real(self, waves)

    monkeypatch.setattr(TinyAlignEncoder, "featurize", dying)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, corpus, bert_teacher, name="cut")
    assert latest_checkpoint(tmp_path / "cut")[0] == 2
    assert not (tmp_path / "cut" / "acula_final.pt").exists()
    monkeypatch.setattr(TinyAlignEncoder, "featurize", real)
    resumed = _train(tmp_path, corpus, bert_teacher, name="cut")
    assert resumed.resumed_from == 2 and resumed.epochs_trained == 1

    a = torch.load(whole.final, weights_only=True)
    b = torch.load(resumed.final, weights_only=True)
    for key in ("audio_model_state_dict", "audio_projection_mlp_state_dict", "language_projection_mlp_state_dict",
                "mam_head_state_dict"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    state_a, state_b = a["optimizer_state_dict"]["state"], b["optimizer_state_dict"]["state"]
    assert all(torch.equal(state_a[i]["exp_avg"], state_b[i]["exp_avg"]) for i in state_a)

    def clean(history):
        return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_second")} for r in history]

    assert clean(whole.history) == clean(resumed.history)
    lines = (tmp_path / "cut" / "train_log.jsonl").read_text().splitlines()
    assert len([line for line in lines if '"step"' in line]) == 18  # epoch 3's cut steps were dropped


@pytest.mark.slow
def test_augmentations_reach_the_training_audio_only(tmp_path, corpus, bert_teacher, monkeypatch):
    seen: dict[bool, list[list[torch.Tensor]]] = {True: [], False: []}
    real = TinyAlignEncoder.featurize
    flag = {"on": True}

    def spy(self, waves):
        seen[flag["on"]].append([w.clone() for w in waves])
        return real(self, waves)

    monkeypatch.setattr(TinyAlignEncoder, "featurize", spy)
    for on in (True, False):
        flag["on"] = on
        _train(tmp_path, corpus, bert_teacher, name=f"aug-{on}", epochs=1, augment=on, augment_p=1.0)
    # with p = 1 every augmentation fires: the gain alone changes every sample
    aug, plain = seen[True], seen[False]
    assert len(aug) == len(plain)
    # calls: probe, two validation batches, six training batches, then the final (clean) projection pass
    for i in (1, 2, 9, 10):
        assert all(torch.equal(x, y) for x, y in zip(aug[i], plain[i], strict=True)), "only training audio is augmented"
    changed = [not torch.equal(x, y) for batch_a, batch_p in zip(aug[3:9], plain[3:9], strict=True)
               for x, y in zip(batch_a, batch_p, strict=True)]
    assert len(changed) == 48 and all(changed)


def test_held_out_split_is_by_subject_and_seeded(corpus):
    train_rows, val_rows = split_by_subject(corpus, 0.25, seed=0)
    assert not set(train_rows["subject"]) & set(val_rows["subject"])
    assert val_rows["subject"].nunique() == 8 and len(train_rows) + len(val_rows) == len(corpus)
    again, _ = split_by_subject(corpus, 0.25, seed=0)
    other, _ = split_by_subject(corpus, 0.25, seed=1)
    assert again.equals(train_rows) and not other.equals(train_rows)


def test_clip_seconds_caps_windows():
    gt = ClipPolicy(trim_silence=True, window_seconds=8.18, last_window="pad")
    short = alignment_policy(gt, 2.05)
    assert short.window_seconds == 2.05 and short.hop_seconds == pytest.approx(1.025)
    assert alignment_policy(gt, None) is gt and alignment_policy(gt, 10.0) is gt
    whole = alignment_policy(ClipPolicy(min_seconds=8.0, pad="repeat"), 2.0)
    assert whole.window_seconds == 2.0 and whole.min_seconds == 2.0 and whole.last_window == "pad"


def test_unusable_setups_are_refused(tmp_path, corpus, bert_teacher):
    with pytest.raises(AlignError, match="fewer than one batch"):
        _train(tmp_path, corpus.iloc[:6], bert_teacher, name="small")
    frozen = build_tiny(FROZEN_SPEC, config={}, weights=None, device="cpu", seed=0)
    with pytest.raises(AlignError, match="does not support alignment"):
        train(encoder=frozen, rebuild=None, corpus=corpus, teacher=Teacher(str(bert_teacher)), config=_config(),
              seed=0, out_dir=tmp_path / "f", metadata={}, cache_dir=tmp_path / "c")
    with pytest.raises(AlignError, match="bf16 is for CUDA"):
        _train(tmp_path, corpus, bert_teacher, name="bf", precision="bf16")


def test_generic_masked_frame_loss_counts_masked_frames_only():
    encoder = build_tiny(TINY_SPEC, config={}, weights=None, device="cpu", seed=0)
    inputs = encoder.featurize([torch.randn(8000), torch.randn(8000)])
    head = MaskedFrameHead(16, inputs.shape[-1])
    loss = masked_frame_loss(encoder, head, inputs, mask_ratio=0.5, generator=torch.Generator().manual_seed(3))
    masked, mask = encoder.mask_inputs(inputs, 0.5, torch.Generator().manual_seed(3))
    pred = head(encoder.forward_tokens(masked), inputs.shape[1])
    manual = ((pred - standardise(inputs)) ** 2).mean(-1)[mask].mean()
    assert 0 < mask.float().mean() < 1 and torch.allclose(loss, manual)
    loss.backward()
    assert encoder.conv.weight.grad is not None and head.proj.weight.grad.abs().sum() > 0


def test_space_map_recovers_a_rotation_and_translation():
    from acubench.align.heads import fit_space_map, map_audio, map_text

    gen = torch.Generator().manual_seed(0)
    audio = torch.randn(50, 6, generator=gen)
    rotation, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen))
    text = audio @ rotation + 3.0
    space = fit_space_map(audio, text)
    assert torch.allclose(space["rotation"], rotation, atol=1e-4)
    assert torch.allclose(map_audio(audio, space), map_text(text, space), atol=1e-4)
    identity = fit_space_map(audio, text, rotate=False)
    assert torch.equal(identity["rotation"], torch.eye(6)) and torch.equal(map_audio(audio, identity), audio)
