"""A third-party acubench encoder: MFCC statistics (no weights).

Install it (``pip install ./examples/acubench-example-encoder``) and it shows up in
``acubench encoders`` and works in ``acubench run --encoder mfcc-stats``.

This module is what acubench imports to list the plugin: the spec and nothing
heavy. The model is in :mod:`acubench_example_encoder_model`, which the spec's
``factory`` names, so torch and torchaudio load only when the encoder is built.
"""

from __future__ import annotations

from acubench import contribute
from acubench.specs import ClipPolicy, EncoderSpec

N_MFCC = 20

SPEC = EncoderSpec(
    id="mfcc-stats",
    factory="acubench_example_encoder_model:build",
    sample_rate=16000,
    embed_dim=2 * N_MFCC,
    clip=ClipPolicy(trim_silence=True, min_seconds=1.0),
    family="example",
    description="Mean and std of 20 MFCCs over time (an example plugin)",
    configs=("default", "tiny"),
    supports_alignment=False,
)

plugin = contribute(encoders=[SPEC])
