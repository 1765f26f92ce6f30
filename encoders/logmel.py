"""The log-mel statistics baseline: no learning, just how the spectrum sits and moves.

Per clip: the 64-band mel power spectrogram of the OPERA front-end
(16 kHz, ``n_fft`` 1024, hop 512, 50–8000 Hz, Slaney), in absolute dB
(``10 log10(power)``, floored at the clip's peak minus 80 dB) — *not* min–max
scaled, so loudness differences between recordings survive — summarised by

* the mean and standard deviation over time of each band (2 × 64), and
* the mean and standard deviation over time of each band's first-order delta
  (HTK regression over ±2 frames, edges replicated; 2 × 64),

concatenated into a 256-d vector ``[mean | std | delta mean | delta std]``.
Standard deviations are population (ddof 0). A clip of one frame has zero std and zero deltas.

Every model in the benchmark should beat this; a task where it does not is a
task where the learned encoders add nothing over the spectrum's statistics.
"""

from __future__ import annotations

from typing import Any

from acubench.hookspecs import contribute
from acubench.specs import ClipPolicy, EncoderSpec

#: The OPERA front-end's rate and bands (:data:`acubench.frontends.OPERA_MEL`, which the model uses).
SAMPLE_RATE = 16000
N_MELS = 64
EMBED_DIM = 4 * N_MELS

PRESETS: dict[str, dict[str, Any]] = {"default": {}}

SPEC = EncoderSpec(
    id="logmel",
    factory="acubench.encoders._logmel_model:build",
    sample_rate=SAMPLE_RATE,
    embed_dim=EMBED_DIM,
    # Statistics need no fixed length: the whole silence-trimmed clip, unpadded.
    clip=ClipPolicy(trim_silence=True, pad="none"),
    task_clip="fixed",
    aliases=("log-mel", "baseline"),
    family="baseline",
    description="Log-mel statistics baseline: per-band mean/std of the 64-band log-mel (dB) and of its "
                "deltas over time (256-d); no weights",
    supports_alignment=False,
    reference="Per-band log-mel summary statistics, the classical hand-crafted baseline "
              "(cf. the OPERA benchmark's opensmile/VGGish baselines, arXiv:2406.16148)",
    license="MIT",
)

plugin = contribute(encoders=[SPEC])
