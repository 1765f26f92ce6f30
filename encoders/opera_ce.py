"""OPERA-CE: the contrastive OPERA encoder with an EfficientNet-B0 backbone, 1280-d.

Input: the whole silence-trimmed clip, repeat-padded to at least 8 s (tasks
set their own minimum, e.g. 2 s for coughs), as one 64-band log-mel of its
own length (:func:`acubench.frontends.opera_logmel`, min–max scaled per
clip). Backbone: ``cnn1`` Conv2d(1, 3, 3 × 3, no padding) lifts the
(T, 64) spectrogram to three channels for EfficientNet-B0
(:mod:`acubench.encoders._efficientnet`); the embedding is the global
average of its final 1280-channel feature map.

Clips of different lengths are never padded together — padding would enter
the global average and the squeeze-excite pools — so a batch is run as one
forward per distinct length, exactly as the reference embeds each clip alone.

Weights: ``encoder-operaCE.ckpt`` (Lightning; ``encoder.cnn1.*``,
``encoder.efficientnet.*`` plus the COLA head ``g``, ``layer_norm``, ``linear``, which is ignored).
"""

from __future__ import annotations

from typing import Any

from acubench.encoders._opera import LICENSE, PRETRAINED_ON, REFERENCE, SAMPLE_RATE, WHOLE_CLIP, weights_ref
from acubench.hookspecs import contribute
from acubench.specs import EncoderSpec

PRESETS: dict[str, dict[str, Any]] = {
    "default": {"backbone": "efficientnet-b0", "drop_connect_rate": 0.1},
    "tiny": {"backbone": "tiny", "drop_connect_rate": 0.1},
}

SPEC = EncoderSpec(
    id="opera-ce",
    factory="acubench.encoders._opera_ce_model:build",
    sample_rate=SAMPLE_RATE,
    embed_dim=1280,
    clip=WHOLE_CLIP,
    task_clip="min_seconds",
    aliases=("operace",),
    family="opera",
    description="OPERA-CE: contrastive (COLA) EfficientNet-B0 (4M params) pre-trained on 5 respiratory corpora; "
                "whole clip as one log-mel, global average pool (1280-d)",
    configs=tuple(PRESETS),
    weights=weights_ref("operaCE"),
    pretrained_on=PRETRAINED_ON,
    supports_alignment=True,
    reference=REFERENCE,
    license=LICENSE,
)

plugin = contribute(encoders=[SPEC])
