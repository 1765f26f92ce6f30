"""OPERA-CT: the contrastive OPERA encoder with an HTS-AT (Swin transformer) backbone, 768-d.

Input: the whole silence-trimmed clip, repeat-padded to at least 8 s (on a
task, to its ``clip_seconds`` or to what OPERA's benchmark used there:
:func:`~acubench.encoders._opera.ct_task_clip`), as one 64-band log-mel of its own length
(:func:`acubench.frontends.opera_logmel`, min–max scaled per clip). A clip of
up to 1024 frames (32.8 s) is bicubically stretched in time to exactly 1024
frames — an 8 s clip (251 frames) is stretched about fourfold — and
embedded once. A longer clip is cut into 1024-frame crops with a 512-frame
hop whose embeddings are averaged.

The two presets differ only for clips longer than 1024 frames:

``default``
    crops start at 0, 512, … and a last crop ends at the clip's end, so every frame is seen.
``reference``
    OPERA's crops, ``range(0, T − 1025, 512)``: the tail after the last crop
    is never seen, and for T of 1025 or 1026 frames, where that range is
    empty and the reference fails, the single crop at 0 is used.

Embedding: HTS-AT's ``latent_output``, the mean of the 8 × 8 final tokens
after the last LayerNorm.

Weights: ``encoder-operaCT.ckpt`` (Lightning; ``encoder.encoder.htsat.*`` plus
the COLA head ``g``, ``layer_norm``, ``linear``, which is ignored).
"""

from __future__ import annotations

from typing import Any

from acubench.encoders._opera import LICENSE, PRETRAINED_ON, REFERENCE, SAMPLE_RATE, WHOLE_CLIP, weights_ref
from acubench.hookspecs import contribute
from acubench.specs import EncoderSpec

_DEFAULT = {"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [4, 8, 16, 32], "window": 8, "num_classes": 527}
PRESETS: dict[str, dict[str, Any]] = {
    "default": {**_DEFAULT, "long_clip_crops": "cover"},
    "reference": {**_DEFAULT, "long_clip_crops": "reference"},
    # Same front-end, folding and Swin geometry (shifted windows, merging), toy widths.
    "tiny": {"embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 1, 2, 2], "window": 8, "num_classes": 4,
             "long_clip_crops": "cover"},
}

SPEC = EncoderSpec(
    id="opera-ct",
    factory="acubench.encoders._opera_ct_model:build",
    sample_rate=SAMPLE_RATE,
    embed_dim=768,
    clip=WHOLE_CLIP,
    task_clip="acubench.encoders._opera:ct_task_clip",
    aliases=("operact",),
    family="opera",
    description="OPERA-CT: contrastive (COLA) HTS-AT Swin transformer (28M params) pre-trained on 5 respiratory "
                "corpora; whole clip as one log-mel stretched to 1024 frames (768-d)",
    configs=tuple(PRESETS),
    weights=weights_ref("operaCT"),
    pretrained_on=PRETRAINED_ON,
    supports_alignment=True,
    reference=REFERENCE,
    license=LICENSE,
)

plugin = contribute(encoders=[SPEC])
