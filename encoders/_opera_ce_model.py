"""The OPERA-CE model (declared in :mod:`acubench.encoders.opera_ce`): COLA's encoder, EfficientNet-B0."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from acubench.encoder import WeightsInfo, resolve_config
from acubench.encoders._efficientnet import B0_STAGES, EfficientNet, Stage
from acubench.encoders._opera_model import COLA_HEAD_KEYS, WholeClipOpera, build_opera, nan_pad
from acubench.encoders.opera_ce import PRESETS, SPEC
from acubench.errors import OptionError
from acubench.frontends import opera_logmels
from acubench.specs import EncoderSpec

#: Backbones by config name: (block table, stem width, head width = embedding size).
BACKBONES: dict[str, tuple[tuple[Stage, ...], int, int]] = {
    "efficientnet-b0": (B0_STAGES, 32, 1280),
    # Same block types, strides, padding and SE, toy widths and one block per stage: for tests.
    "tiny": ((Stage(1, 3, 1, 1, 8, 8), Stage(1, 3, 2, 2, 8, 8), Stage(1, 5, 2, 2, 8, 16), Stage(1, 3, 2, 2, 16, 16),
              Stage(1, 5, 2, 2, 16, 16)), 8, 32),
}


class ColaEncoder(nn.Module):
    """OPERA's ``Encoder``: ``cnn1`` (1 → 3 channels, 3 × 3, no padding) then ``efficientnet``."""

    def __init__(self, backbone: str, drop_connect_rate: float) -> None:
        super().__init__()
        stages, stem, head = BACKBONES[backbone]
        self.cnn1 = nn.Conv2d(1, 3, kernel_size=3)
        self.efficientnet = EfficientNet(stages, stem=stem, head=head, drop_connect_rate=drop_connect_rate)

    def forward(self, mel: Tensor) -> Tensor:
        """Log-mel (B, T, 64) → feature map tokens (B, H'·W', C)."""
        # Channels-last activations take oneDNN's fast depthwise/pointwise kernels (same arithmetic).
        x = self.cnn1(mel.unsqueeze(1)).contiguous(memory_format=torch.channels_last)
        return self.efficientnet(x).flatten(2).transpose(1, 2)


class OperaCE(WholeClipOpera):
    """OPERA-CE as an acubench encoder (see the module docstring).

    Its ``state_dict`` (and so :meth:`export_state_dict`) is ``encoder.cnn1.*``
    and ``encoder.efficientnet.*``, as in ``encoder-operaCE.ckpt`` without the COLA head.
    """

    def __init__(self, config: dict[str, Any], weights_info: WeightsInfo) -> None:
        super().__init__(SPEC, config, weights_info)
        if config["backbone"] not in BACKBONES:
            raise OptionError(f"encoder {SPEC.id}: backbone must be one of {sorted(BACKBONES)}, "
                             f"got {config['backbone']!r}")
        self.encoder = ColaEncoder(config["backbone"], config["drop_connect_rate"])
        self.embed_dim = self.encoder.efficientnet.out_channels
        # Static padding lets small inputs shrink below a 5 × 5 kernel: 34 frames (1.06 s) for B0.
        self.min_frames = next(t for t in range(3, 4096) if self.encoder.efficientnet.output_side(t - 2) > 0)

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        """Clips (n_samples,) at 16 kHz → log-mel (B, T_max, 64), each at its own length, NaN beyond its end."""
        mels = opera_logmels([w.detach().reshape(-1).float().to(self.device) for w in waves])
        short = [m.shape[0] for m in mels if m.shape[0] < self.min_frames]
        if short:
            raise ValueError(f"OPERA-CE needs clips of at least {self.min_frames} log-mel frames "
                             f"({(self.min_frames - 1) * 512} samples at 16 kHz), got one of {short[0]} frames; "
                             f"pad short clips (ClipPolicy.min_seconds, e.g. 2 s)")
        return nan_pad(mels)

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """Log-mel (B, T_max, 64) → final feature-map tokens (B, N_max, 1280); one forward per clip length."""
        lengths = (~torch.isnan(inputs[..., 0])).sum(dim=1)
        groups = {int(n): torch.nonzero(lengths == n).flatten() for n in torch.unique(lengths)}
        if len(groups) == 1:
            return self.encoder(inputs)
        parts = {n: self.encoder(inputs[idx, :n]) for n, idx in groups.items()}
        out = inputs.new_full((inputs.shape[0], max(p.shape[1] for p in parts.values()), self.embed_dim), float("nan"))
        for n, idx in groups.items():
            out[idx, : parts[n].shape[1]] = parts[n]
        return out


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool = True, trust_checkpoint: bool = False) -> OperaCE:
    """Build OPERA-CE (factory of :data:`SPEC`; contract in :mod:`acubench.loading`).

    Parameters
    ----------
    config : dict
        ``{"name": "default" | "tiny", ...overrides of backbone, drop_connect_rate}``.
    weights : Path or None
        ``encoder-operaCE.ckpt`` or an exported state dict; ``None`` → seeded random initialisation.
    """
    cfg = resolve_config(spec, PRESETS, config)
    return build_opera(lambda info: OperaCE(cfg, info), lambda enc: enc, weights=weights, device=device, seed=seed,
                       strict=strict, trust_checkpoint=trust_checkpoint, ignore_unexpected=COLA_HEAD_KEYS)
