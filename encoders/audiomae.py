"""AudioMAE (Huang et al., NeurIPS 2022): ViT-B/16 on 128-bin Kaldi fbanks, AudioSet pre-training.

The encoder of the official AudioSet-2M pre-training release (``pretrained.pth``;
its ``"model"`` dict holds timm-style ViT keys plus the MAE decoder's, which
embeddings do not use: they give AcuLa's masked modelling AudioMAE's own
loss, :mod:`acubench.encoders._audiomae_decoder`). OPERA benchmarked it as a
baseline (REFERENCE.md §2.5).

Front-end, per model input (a ≤ 10 s chunk at 16 kHz): subtract the chunk's
mean, Kaldi fbank (128 bins, 25 ms Hanning frames, 10 ms shift,
``htk_compat``, no dither, no energy), crop/zero-pad to 1024 frames.
Pooling: mean over the 512 patch tokens (the class token excluded), then
``fc_norm`` — the AudioMAE authors' ``global_pool``.

Two presets differ where the OPERA reference departed from the authors' code:

``default`` (the authors' fine-tuning / evaluation pipeline, ``dataset.py``)
    the padded fbank is normalised as ``(x - (-4.2677393)) / (2 * 4.5689974)``
    (AudioSet statistics; the factor 2 is the authors'), and ``fc_norm`` is the
    encoder's own pre-trained final LayerNorm (``norm`` in the release). The
    authors' fine-tuning creates ``fc_norm`` afresh and trains it with the
    classifier; a frozen-embedding benchmark trains nothing, so the
    pre-trained final norm is the frozen equivalent.
``reference`` (OPERA's ``extract_audioMAE_feature``)
    no normalisation, zero padding of the raw fbank, and ``fc_norm`` a fresh
    LayerNorm at identity affine (the release has no ``fc_norm``; OPERA
    loaded it with ``strict=False``).

A checkpoint that has its own ``fc_norm`` (a fine-tuned or AcuLa-aligned
AudioMAE, or the model's ``export_state_dict``) always uses it.
"""

from __future__ import annotations

from typing import Any

from acubench.hookspecs import contribute
from acubench.specs import ClipPolicy, EncoderSpec, WeightsRef

SAMPLE_RATE = 16000
#: Kaldi needs one full 25 ms frame; the reference keeps chunks of more than this many samples.
MIN_SAMPLES = 400

_ARCH = {"embed_dim": 768, "depth": 12, "num_heads": 12}
PRESETS: dict[str, dict[str, Any]] = {
    "default": {**_ARCH, "normalize": True, "fc_norm": "pretrained"},
    "reference": {**_ARCH, "normalize": False, "fc_norm": "identity"},
    # Same front-end and patch grid, toy widths: for tests.
    "tiny": {"embed_dim": 32, "depth": 2, "num_heads": 2, "normalize": True, "fc_norm": "pretrained"},
}

SPEC = EncoderSpec(
    id="audiomae",
    factory="acubench.encoders._audiomae_model:build",
    sample_rate=SAMPLE_RATE,
    embed_dim=_ARCH["embed_dim"],
    # The reference: trim, non-overlapping 10 s chunks, the last one kept shorter,
    # chunks of <= 400 samples dropped; the engine averages the chunk embeddings.
    clip=ClipPolicy(trim_silence=True, pad="none", window_seconds=10.0, hop_seconds=10.0,
                    last_window="keep", min_window_seconds=(MIN_SAMPLES + 1) / SAMPLE_RATE),
    task_clip="fixed",
    family="audiomae",
    description="AudioMAE ViT-B/16, AudioSet-2M self-supervised pre-training; 128-bin fbank, 10 s chunks, "
                "mean-pooled patch tokens (768-d)",
    configs=tuple(PRESETS),
    weights=WeightsRef(filename="pretrained.pth",
                       url="https://drive.google.com/file/d/1ni_DV4dRf7GxM8k-Eirx71WP9Gg89wwu/view"),
    pretrained_on=(),
    supports_alignment=True,
    reference="Huang et al., Masked Autoencoders that Listen, NeurIPS 2022 (arXiv:2207.06405); "
              "https://github.com/facebookresearch/AudioMAE",
    license="CC BY-NC 4.0 (AudioMAE code and weights)",
)

plugin = contribute(encoders=[SPEC])
