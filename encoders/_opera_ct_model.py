"""The OPERA-CT model (declared in :mod:`acubench.encoders.opera_ct`): COLA's HTS-AT encoder.

In eval mode the mel-bin BatchNorm (``bn0``), which the reference applies
before stretching, is applied after it here; a per-bin affine map commutes
with the stretch (bicubic weights sum to one), so the result is the same up
to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from acubench.encoder import WeightsInfo, resolve_config
from acubench.encoders._htsat import HTSATSwin, stretch
from acubench.encoders._opera_model import COLA_HEAD_KEYS, WholeClipOpera, build_opera, nan_pad, nested
from acubench.encoders.opera_ct import PRESETS, SPEC
from acubench.errors import OptionError
from acubench.frontends import batch_by_length, opera_logmel
from acubench.specs import EncoderSpec

#: Frames HTS-AT sees per crop: 256 × freq_ratio 4.
CROP = 1024
#: Hop between crops of clips longer than :data:`CROP`.
CROP_HOP = 512
_CROPS = ("cover", "reference")

_ARCH_KEYS = ("embed_dim", "depths", "num_heads", "window", "num_classes")


def crop_starts(frames: int, mode: str = "cover") -> list[int]:
    """First frames of the 1024-frame crops of a clip longer than 1024 frames.

    Parameters
    ----------
    frames : int
        Clip length T (> 1024).
    mode : {"cover", "reference"}
        See the module docstring.
    """
    if mode == "reference":
        return list(range(0, frames - CROP - 1, CROP_HOP)) or [0]
    starts = list(range(0, frames - CROP + 1, CROP_HOP))
    if starts[-1] != frames - CROP:
        starts.append(frames - CROP)
    return starts


class OperaCT(WholeClipOpera):
    """OPERA-CT as an acubench encoder (see the module docstring).

    Its ``state_dict`` (and so :meth:`export_state_dict`) is the backbone under
    ``encoder.encoder.htsat.``, as in ``encoder-operaCT.ckpt`` without the COLA head.
    """

    def __init__(self, config: dict[str, Any], weights_info: WeightsInfo) -> None:
        super().__init__(SPEC, config, weights_info)
        if config["long_clip_crops"] not in _CROPS:
            raise OptionError(f"encoder {SPEC.id}: long_clip_crops must be one of {_CROPS}, "
                             f"got {config['long_clip_crops']!r}")
        arch = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k in _ARCH_KEYS}
        self.encoder = nested(HTSATSwin(**arch), "encoder.htsat")
        self.embed_dim = self.htsat.num_features

    @property
    def htsat(self) -> HTSATSwin:
        return self.encoder.encoder.htsat  # type: ignore[return-value]

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        """Clips (n_samples,) at 16 kHz → crops (B, K·1024, 64), K the most crops of any clip.

        Each clip's log-mel is computed at its own length (equal lengths share
        one STFT call) and stretched to 1024 frames, or cut into crops if
        longer; a clip with fewer than K crops is NaN-padded.
        """
        device = self.device
        per_clip: list[Tensor | None] = [None] * len(waves)
        for idx, batch in batch_by_length([w.detach().reshape(-1).float().to(device) for w in waves]):
            mels = opera_logmel(batch)
            t = mels.shape[1]
            if t <= CROP:
                crops = stretch(mels, CROP).unsqueeze(1)
            else:
                starts = crop_starts(t, self.config["long_clip_crops"])
                crops = torch.stack([mels[:, s:s + CROP] for s in starts], dim=1)
            for j, i in enumerate(idx):
                per_clip[i] = crops[j].reshape(-1, mels.shape[2])
        return nan_pad(per_clip)  # type: ignore[arg-type]

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """Crops (B, K·1024, 64) → final HTS-AT tokens (B, K·64, 768), NaN for padding crops."""
        b, length, f = inputs.shape
        if length % CROP:
            raise ValueError(f"OPERA-CT inputs must hold whole {CROP}-frame crops, got {length} frames")
        crops = inputs.view(b, length // CROP, CROP, f)
        valid = ~torch.isnan(crops[:, :, 0, 0])
        tokens = self.htsat(crops[valid])
        if bool(valid.all()):
            return tokens.reshape(b, -1, tokens.shape[-1])
        out = tokens.new_full((b, crops.shape[1], *tokens.shape[1:]), float("nan"))
        out[valid] = tokens
        return out.reshape(b, -1, tokens.shape[-1])


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool = True, trust_checkpoint: bool = False) -> OperaCT:
    """Build OPERA-CT (factory of :data:`SPEC`; contract in :mod:`acubench.loading`).

    Parameters
    ----------
    config : dict
        ``{"name": "default" | "reference" | "tiny", ...overrides of embed_dim,
        depths, num_heads, window, num_classes, long_clip_crops}``.
    weights : Path or None
        ``encoder-operaCT.ckpt`` or an exported state dict; ``None`` → seeded random initialisation.
    """
    cfg = resolve_config(spec, PRESETS, config)
    return build_opera(lambda info: OperaCT(cfg, info), lambda enc: enc, weights=weights, device=device, seed=seed,
                       strict=strict, trust_checkpoint=trust_checkpoint, ignore_unexpected=COLA_HEAD_KEYS)
