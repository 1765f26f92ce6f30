"""Masked acoustic modelling for encoders that bring no self-supervised loss of their own.

OPERA-GT's and AudioMAE's :meth:`~acubench.encoder.AudioEncoder.ssl_loss` is
their MAE reconstruction through the released decoder, which AcuLa trains
alongside the alignment loss (docs/alignment.md lists who brings what). Other
encoders, and an AudioMAE checkpoint without its decoder, get this generic
head instead:

1. ``encoder.mask_inputs`` hides random time frames of the model input
   (by default replacing them with the clip mean);
2. ``encoder.forward_tokens`` runs on the masked input → tokens (B, N, D);
3. the tokens are linearly resampled along the token axis to the T frames
   of the reconstruction target (token order is the encoder's; for
   time-major token grids this is a coarse time alignment);
4. ``Linear(D, F)`` predicts each frame; the loss is the MSE on the masked
   frames only, against ``encoder.reconstruction_target(inputs)``
   standardised per clip (zero mean, unit variance), so that the loss scale
   does not depend on the front-end's units (dB, log, [0, 1]).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from acubench.encoder import AudioEncoder


class MaskedFrameHead(nn.Module):
    """Predicts target frames (B, T, F) from encoder tokens (B, N, D).

    Parameters
    ----------
    token_dim : int
        D, the width of the encoder's tokens.
    n_features : int
        F, the size of one reconstruction-target frame (e.g. mel bins).
    """

    def __init__(self, token_dim: int, n_features: int) -> None:
        super().__init__()
        self.proj = nn.Linear(token_dim, n_features)

    def forward(self, tokens: Tensor, n_frames: int) -> Tensor:
        """Tokens (B, N, D) → predicted frames (B, ``n_frames``, F)."""
        frames = F.interpolate(tokens.transpose(1, 2), size=n_frames, mode="linear", align_corners=False)
        return self.proj(frames.transpose(1, 2))


def standardise(target: Tensor) -> Tensor:
    """Per-clip zero mean, unit variance over all frames and features of (B, T, F)."""
    dims = tuple(range(1, target.dim()))
    mean = target.mean(dim=dims, keepdim=True)
    std = target.std(dim=dims, keepdim=True).clamp_min(1e-5)
    return (target - mean) / std


def masked_frame_loss(encoder: AudioEncoder, head: MaskedFrameHead, inputs: Tensor, *,
                      mask_ratio: float, generator: torch.Generator) -> Tensor:
    """Generic masked-modelling loss of ``encoder`` on a batch of model inputs.

    Parameters
    ----------
    encoder : AudioEncoder
    head : MaskedFrameHead
    inputs : Tensor
        Output of ``encoder.featurize`` (no gradient needed).
    mask_ratio : float
        Fraction of time frames hidden, in (0, 1).
    generator : torch.Generator
        CPU generator that draws the mask (seeded by the trainer per step).

    Returns
    -------
    Tensor
        Scalar MSE over masked frames; 0 (with a graph) if no frame was masked.
    """
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
    masked, mask = encoder.mask_inputs(inputs, mask_ratio, generator)
    target = standardise(encoder.reconstruction_target(inputs).float())
    tokens = encoder.forward_tokens(masked)
    pred = head(tokens.float(), target.shape[1])
    per_frame = ((pred - target) ** 2).mean(dim=-1)
    mask = mask.to(per_frame.device)
    if not mask.any():
        return per_frame.sum() * 0.0
    return per_frame[mask].mean()
