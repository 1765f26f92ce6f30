"""The log-mel statistics baseline's computation (declared in :mod:`acubench.encoders.logmel`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from acubench.encoder import AudioEncoder, WeightsInfo, resolve_config
from acubench.encoders.logmel import PRESETS, SPEC
from acubench.errors import OptionError
from acubench.frontends import OPERA_MEL, MelConfig, batch_by_length, mel_filterbank, mel_power, power_to_db
from acubench.specs import EncoderSpec

#: Frames either side of the HTK delta regression.
DELTA_N = 2


def delta(x: Tensor, lengths: Tensor, n: int = DELTA_N) -> Tensor:
    """HTK regression deltas along time, per clip with its own length.

    ``d_t = Σ_{k=1..n} k (x_{t+k} − x_{t−k}) / (2 Σ k²)``, frame indices clamped
    to ``[0, length − 1]`` of each clip (edge replication).

    Parameters
    ----------
    x : Tensor, shape (B, T, F)
        Frames; frames at ``t >= lengths[b]`` are ignored.
    lengths : LongTensor, shape (B,)
        Valid frames per clip (>= 1).

    Returns
    -------
    Tensor, shape (B, T, F)
        Deltas (meaningless beyond each clip's length).
    """
    b, t, f = x.shape
    pos = torch.arange(t, device=x.device).unsqueeze(0)
    last = (lengths - 1).unsqueeze(1)
    x = torch.nan_to_num(x)
    out = torch.zeros_like(x)
    for k in range(1, n + 1):
        ahead = torch.minimum(pos + k, last).clamp(min=0)
        behind = torch.clamp(pos - k, min=0).minimum(last)
        fwd = torch.gather(x, 1, ahead.unsqueeze(-1).expand(b, t, f))
        bwd = torch.gather(x, 1, behind.unsqueeze(-1).expand(b, t, f))
        out = out + k * (fwd - bwd)
    return out / (2 * sum(k * k for k in range(1, n + 1)))


def _masked_mean_std(x: Tensor, valid: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    w = valid.unsqueeze(-1).to(x.dtype)
    denom = lengths.to(x.dtype).unsqueeze(-1)
    mean = (torch.nan_to_num(x) * w).sum(1) / denom
    var = (((torch.nan_to_num(x) - mean.unsqueeze(1)) ** 2) * w).sum(1) / denom
    return mean, var.sqrt()


class LogMelStats(AudioEncoder):
    """The log-mel statistics baseline (see :mod:`acubench.encoders.logmel`)."""

    impl_version = "1"

    def __init__(self, config: dict[str, Any], mel: MelConfig = OPERA_MEL) -> None:
        super().__init__(SPEC, config, WeightsInfo("none"))
        self.mel = mel
        # A buffer, so that .to(device) moves the front-end and ``self.device`` reports it.
        self.register_buffer("filterbank", mel_filterbank(mel), persistent=False)

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        """Waveforms (16 kHz) → log-mel in dB, (B, T_max, 64), NaN beyond each clip's end.

        Clips of equal length share one STFT call; a batch of equal-length
        windows is a single call and has no NaN.
        """
        device = self.device
        waves = [w.detach().to(device, torch.float32).reshape(-1) for w in waves]
        groups = [(idx, power_to_db(mel_power(batch, self.mel, filterbank=self.filterbank), ref=1.0, top_db=80.0))
                  for idx, batch in batch_by_length(waves)]
        t_max = max(db.shape[1] for _, db in groups)
        out = torch.full((len(waves), t_max, self.mel.n_mels), float("nan"), device=device)
        for idx, db in groups:
            out[torch.as_tensor(idx, device=device), : db.shape[1]] = db
        return out

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """Log-mel (B, T, 64) with NaN padding → one statistics token (B, 1, 256)."""
        valid = ~torch.isnan(inputs[..., 0])
        lengths = valid.sum(1)
        if bool((lengths == 0).any()):
            raise ValueError("logmel: a clip in the batch has no frames")
        mean, std = _masked_mean_std(inputs, valid, lengths)
        d_mean, d_std = _masked_mean_std(delta(inputs, lengths), valid, lengths)
        return torch.cat([mean, std, d_mean, d_std], dim=-1).unsqueeze(1)


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool = True, trust_checkpoint: bool = False) -> LogMelStats:
    """Build the baseline (factory of :data:`SPEC`). It has no weights; ``seed`` is unused because nothing is random."""
    if weights is not None:
        raise OptionError(f"encoder {spec.id} has no weights; do not pass --weights ({weights})")
    return LogMelStats(resolve_config(spec, PRESETS, config)).to(device).eval()
