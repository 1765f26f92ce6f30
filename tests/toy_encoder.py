"""A tiny deterministic AudioEncoder for engine tests (not registered as a plugin)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from acubench.encoder import AudioEncoder, WeightsInfo
from acubench.specs import ClipPolicy, EncoderSpec

FRAME = 160

TOY_SPEC = EncoderSpec(id="toy", factory="toy_encoder:build", sample_rate=16000, embed_dim=8,
                       clip=ClipPolicy(trim_silence=False, window_seconds=0.5), task_clip="fixed")


class ToyEncoder(AudioEncoder):
    """Frames of 10 ms → a fixed random projection → mean; counts forward passes and batch sizes."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__(TOY_SPEC, {"name": "toy"}, WeightsInfo("random-init", "seed 0", "toy"))
        gen = torch.Generator().manual_seed(0)
        self.proj = nn.Linear(FRAME, 8)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(8, FRAME, generator=gen))
            self.proj.bias.zero_()
        self.calls = 0
        self.batch_sizes: list[int] = []
        self.fail_after = fail_after

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        self.calls += 1
        self.batch_sizes.append(len(waves))
        n = min(len(w) for w in waves) // FRAME * FRAME
        return torch.stack([w[:n].reshape(-1, FRAME) for w in waves])

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        return torch.tanh(self.proj(inputs))
