"""A third-party acubench encoder: MFCC statistics (no weights).

Install it (``pip install ./examples/acubench-example-encoder``) and it shows up in
``acubench encoders`` and works in ``acubench run --encoder mfcc-stats``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torchaudio
from torch import Tensor

from acubench import hookimpl
from acubench.encoder import AudioEncoder, WeightsInfo
from acubench.specs import ClipPolicy, EncoderSpec

N_MFCC = 20

SPEC = EncoderSpec(
    id="mfcc-stats",
    factory="acubench_example_encoder:build",
    sample_rate=16000,
    embed_dim=2 * N_MFCC,
    clip=ClipPolicy(trim_silence=True, min_seconds=1.0),
    family="example",
    description="Mean and std of 20 MFCCs over time (an example plugin)",
    configs=("default", "tiny"),
    supports_alignment=False,
)


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


@hookimpl
def acubench_encoders() -> list[EncoderSpec]:
    return [SPEC]
