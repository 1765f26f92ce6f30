"""LAION-CLAP's audio tower (HTS-AT, unfused) through transformers' ``ClapAudioModelWithProjection``.

Default weights: the Hugging Face repository ``laion/clap-htsat-unfused``
(a ``ClapModel``; only its ``audio_model.*`` and ``audio_projection.*``
tensors are read, the RoBERTa text tower is never loaded).

Front-end: transformers' ``ClapFeatureExtractor`` with the released settings
(48 kHz, 64 Slaney mel bins 50–14000 Hz, 1024-point FFT, hop 480, 10 s →
1001 frames, ``padding="repeatpad"``: a shorter input is tiled whole and then
zero-padded to 10 s). The release's ``truncation="fusion"`` feeds four
channels that only a *fused* model accepts; an unfused model takes
``"rand_trunc"``, whose random crop of a longer input is not seeded. Here
the crop never happens: the clip policy cuts recordings into 10 s windows
whose embeddings the engine averages, and an input longer than 10 s that
reaches the model's ``featurize`` directly is cut to its first 10 s.

Embedding: the 512-d *projected* audio embedding (``audio_projection`` of
the mean-pooled HTS-AT output). The projection is what CLAP trained against
text, so it is the space of zero-shot prompts and of AcuLa's teacher
alignment, as OPERA's CLAP baseline (MS-CLAP, 1024-d) used its own projection.
By default it is left un-normalised, as OPERA and ``ClapAudioModelWithProjection``
give it; ``normalize=True`` returns the unit-length vector of
``ClapModel.get_audio_features``.

MS-CLAP 2022 (CNN14, 44.1 kHz, 5 s), the exact OPERA baseline, is a different
model: ``ms-clap`` (:mod:`acubench.encoders.ms_clap`).
"""

from __future__ import annotations

from typing import Any

from acubench.hookspecs import contribute
from acubench.specs import ClipPolicy, EncoderSpec, WeightsRef

SAMPLE_RATE = 48000
WINDOW_SECONDS = 10.0

HTSAT_AUDIO_CONFIG = {  # laion/clap-htsat-unfused's audio_config (transformers' ClapAudioConfig defaults)
    "spec_size": 256, "num_mel_bins": 64, "patch_size": 4, "patch_stride": [4, 4],
    "patch_embeds_hidden_size": 96, "depths": [2, 2, 6, 2], "num_attention_heads": [4, 8, 16, 32],
    "window_size": 8, "mlp_ratio": 4.0, "hidden_size": 768, "projection_dim": 512,
    "enable_fusion": False, "projection_hidden_act": "relu",
}

PRESETS: dict[str, dict[str, Any]] = {
    "default": {"audio": HTSAT_AUDIO_CONFIG, "normalize": False},
    # Same front-end, Swin layout and token grid; toy widths for tests.
    "tiny": {"audio": {**HTSAT_AUDIO_CONFIG, "patch_embeds_hidden_size": 8, "depths": [1, 1, 1, 1],
                       "num_attention_heads": [1, 1, 2, 2], "hidden_size": 64, "projection_dim": 16},
             "normalize": False},
}

SPEC = EncoderSpec(
    id="clap",
    factory="acubench.encoders._clap_model:build",
    sample_rate=SAMPLE_RATE,
    embed_dim=HTSAT_AUDIO_CONFIG["projection_dim"],
    # No trim (as the reference's CLAP baseline); 10 s windows, the tail kept short so that
    # the extractor repeat-pads it; a tail under 1 s would be tiled >10x into a window of its
    # own, so it is dropped (a recording shorter than 1 s is still embedded whole).
    clip=ClipPolicy(trim_silence=False, pad="none", window_seconds=WINDOW_SECONDS, hop_seconds=WINDOW_SECONDS,
                    last_window="keep", min_window_seconds=1.0),
    task_clip="fixed",
    aliases=("laion-clap",),
    family="clap",
    description="LAION-CLAP HTS-AT audio tower (unfused), 48 kHz, 10 s windows; 512-d projected audio embedding",
    configs=tuple(PRESETS),
    weights=WeightsRef(filename="", hf_repo="laion/clap-htsat-unfused",
                       url="https://huggingface.co/laion/clap-htsat-unfused"),
    supports_alignment=True,
    reference="Wu et al., Large-scale Contrastive Language-Audio Pretraining with Feature Fusion and "
              "Keyword-to-Caption Augmentation, ICASSP 2023 (arXiv:2211.06687)",
    license="Apache-2.0 (laion/clap-htsat-unfused)",
)

plugin = contribute(encoders=[SPEC])
