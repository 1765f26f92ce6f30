"""OPERA-GT: the generative (masked-autoencoder) OPERA encoder, ViT-small on 64-band log-mels.

Input: 8.18 s windows (256 frames of :func:`acubench.frontends.opera_logmel`)
with 50 % overlap, the last one repeat-padded (``spec.clip``; on a task, as
:func:`~acubench.encoders._opera.gt_task_clip` decides); the engine
averages the window embeddings into the clip embedding, as OPERA's
``extract_opera_feature`` does. Embedding: the mean of the encoder's patch
tokens, then its final LayerNorm (OPERA's ``forward_feature``), 384-d.

For AcuLa, the model's ``ssl_loss`` is the MAE masked-reconstruction loss
(mask ratio 0.7) through the released Swin decoder, and
its ``export_state_dict`` writes the released key layout, i.e.
AcuLa's ``audio_model_state_dict``. Weights: ``encoder-operaGT.ckpt``
(Lightning, MAE keys at top level under ``state_dict``), AcuLa's
``acula_*.pt`` and ``acula_audio_encoder.pt`` all load.
"""

from __future__ import annotations

from typing import Any

from acubench.encoders._opera import GT_WINDOWS, LICENSE, PRETRAINED_ON, REFERENCE, SAMPLE_RATE, weights_ref
from acubench.hookspecs import contribute
from acubench.specs import EncoderSpec

PRESETS: dict[str, dict[str, Any]] = {
    "default": {"embed_dim": 384, "depth": 12, "num_heads": 6,
                "decoder_dim": 256, "decoder_depth": 16, "decoder_heads": 16, "feat_size": [32, 8]},
    # Same front-end, token grid and decoder arithmetic (decoder_dim = 8 × 2), toy widths.
    "tiny": {"embed_dim": 32, "depth": 2, "num_heads": 2,
             "decoder_dim": 16, "decoder_depth": 2, "decoder_heads": 2, "feat_size": [8, 2]},
}

SPEC = EncoderSpec(
    id="opera-gt",
    factory="acubench.encoders._opera_gt_model:build",
    sample_rate=SAMPLE_RATE,
    embed_dim=384,
    clip=GT_WINDOWS,
    task_clip="acubench.encoders._opera:gt_task_clip",
    aliases=("opera", "operagt"),
    family="opera",
    description="OPERA-GT: masked-autoencoder ViT-small (21M encoder params) pre-trained on 5 respiratory "
                "corpora; 8.18 s log-mel windows, mean-pooled patch tokens (384-d)",
    configs=tuple(PRESETS),
    weights=weights_ref("operaGT"),
    pretrained_on=PRETRAINED_ON,
    supports_alignment=True,
    reference=REFERENCE,
    license=LICENSE,
)

plugin = contribute(encoders=[SPEC])
