"""The alignment helpers' own checks: the tiny encoder honours the encoder contract; the tiny teachers build offline."""

from __future__ import annotations

import torch

from tiny_align import N_MELS, TINY_SPEC, build_tiny, make_bert_teacher, make_gemma3_teacher


def test_tiny_encoder_honours_the_encoder_contract(tmp_path):
    enc = build_tiny(TINY_SPEC, config={}, weights=None, device="cpu", seed=0)
    waves = [torch.randn(8000), torch.randn(8000)]
    inputs = enc.featurize(waves)
    assert inputs.shape[0] == 2 and inputs.shape[2] == N_MELS
    assert enc.embed(waves).shape == (2, 16)
    path = tmp_path / "w.pt"
    torch.save(enc.export_state_dict(), path)
    again = build_tiny(TINY_SPEC, config={}, weights=path, device="cpu", seed=5)
    assert torch.equal(again.embed(waves), enc.embed(waves))


def test_tiny_teachers_build_offline(tmp_path):
    from transformers import AutoConfig

    bert = make_bert_teacher(tmp_path / "bert")
    gemma = make_gemma3_teacher(tmp_path / "gemma")
    assert AutoConfig.from_pretrained(bert).hidden_size == 32
    cfg = AutoConfig.from_pretrained(gemma)
    assert getattr(cfg, "hidden_size", None) is None and cfg.text_config.hidden_size == 24
