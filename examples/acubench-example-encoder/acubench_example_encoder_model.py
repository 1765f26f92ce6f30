"""The model behind the example plugin :mod:`acubench_example_encoder` (imported only to build it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torchaudio
from acubench_example_encoder import N_MFCC
from torch import Tensor

from acubench.encoder import AudioEncoder, WeightsInfo
from acubench.specs import EncoderSpec


class MfccStats(AudioEncoder):
    """Waveforms (16 kHz) → MFCC frames (B, T, 20) → [mean, std] over time (B, 40)."""

    def __init__(self, spec: EncoderSpec, config: dict) -> None:
        super().__init__(spec, config, WeightsInfo("none"))
        self.mfcc = torchaudio.transforms.MFCC(sample_rate=spec.sample_rate, n_mfcc=N_MFCC,
                                               melkwargs={"n_fft": 400, "hop_length": 160, "n_mels": 40})

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        # Clips of different lengths are padded with zeros; the statistics then
        # include the padding, so the runner's equal-length windows are preferred.
        batch = torch.nn.utils.rnn.pad_sequence([w.float() for w in waves], batch_first=True)
        return self.mfcc(batch.to(self.device)).transpose(1, 2)  # (B, T, 20)

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        return inputs

    def pool(self, tokens: Tensor) -> Tensor:
        return torch.cat([tokens.mean(dim=1), tokens.std(dim=1)], dim=1)


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool, trust_checkpoint: bool) -> MfccStats:
    return MfccStats(spec, config).to(device)
