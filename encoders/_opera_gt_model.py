"""The OPERA-GT model (declared in :mod:`acubench.encoders.opera_gt`): the released MAE, encoder and decoder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from acubench.encoder import AudioEncoder, WeightsInfo, resolve_config
from acubench.encoders._mae import MaskedAutoencoderViT
from acubench.encoders._opera_model import build_opera, equal_length_batch
from acubench.encoders.opera_gt import PRESETS, SPEC
from acubench.frontends import opera_logmel
from acubench.specs import EncoderSpec

#: AcuLa's and OPERA's masking ratio for the MAE loss.
MASK_RATIO = 0.7

_ARCH_KEYS = ("embed_dim", "depth", "num_heads", "decoder_dim", "decoder_depth", "decoder_heads", "feat_size")


class OperaGT(AudioEncoder):
    """OPERA-GT as an acubench encoder (see :mod:`acubench.encoders.opera_gt`).

    Attributes
    ----------
    model : MaskedAutoencoderViT
        Encoder and decoder, parameter names as released.
    """

    has_ssl_loss = True

    def __init__(self, config: dict[str, Any], weights_info: WeightsInfo) -> None:
        super().__init__(SPEC, config, weights_info)
        arch = {k: config[k] for k in _ARCH_KEYS}
        arch["feat_size"] = tuple(arch["feat_size"])
        self.model = MaskedAutoencoderViT(**arch)
        self.embed_dim = config["embed_dim"]

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        """Equal-length windows (n_samples,) at 16 kHz → log-mel (B, T, 64) in [0, 1], one STFT call.

        8.18 s windows give T = 256. Each window is min–max scaled on its own.
        """
        return opera_logmel(equal_length_batch(waves, SPEC.id).to(self.device))

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """Log-mel (B, T, 64) → encoder patch tokens (B, (T//4)·16, 384), before the final norm."""
        return self.model.encode(inputs)

    def pool(self, tokens: Tensor) -> Tensor:
        """OPERA's ``forward_feature`` pooling: mean over patch tokens, then ``norm`` → (B, 384)."""
        return self.model.norm(tokens.mean(dim=1))

    def ssl_loss(self, inputs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """MAE reconstruction loss on ``inputs`` (B, 256, 64), mask ratio 0.7, differentiable.

        The mask is drawn from ``generator`` (CPU) or, by default, the global torch RNG.
        """
        return self.model.mae_loss(inputs, MASK_RATIO, generator=generator)

    def export_state_dict(self) -> dict[str, Tensor]:
        """The released MAE keys at top level (``cls_token``, ``blocks.*``, ``decoder_blocks.*``…), as
        AcuLa's ``audio_model_state_dict``."""
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool = True, trust_checkpoint: bool = False) -> OperaGT:
    """Build OPERA-GT (factory of :data:`SPEC`; contract in :mod:`acubench.loading`).

    Parameters
    ----------
    config : dict
        ``{"name": "default" | "tiny", ...overrides of embed_dim, depth, num_heads,
        decoder_dim, decoder_depth, decoder_heads, feat_size}``.
    weights : Path or None
        ``encoder-operaGT.ckpt``, an AcuLa checkpoint, or an exported state
        dict; ``None`` → seeded random initialisation.
    """
    cfg = resolve_config(spec, PRESETS, config)
    return build_opera(lambda info: OperaGT(cfg, info), lambda enc: enc.model, weights=weights, device=device,
                       seed=seed, strict=strict, trust_checkpoint=trust_checkpoint)
