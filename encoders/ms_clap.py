"""Microsoft's CLAP (MS-CLAP) audio encoder, as released: ``ms-clap`` (2022) and ``ms-clap-2023``.

The OPERA benchmark's published CLAP rows are MS-CLAP 2022 (``msclap``
package, ``CLAP_weights_2022.pth``), not LAION's CLAP (``clap``): with this
encoder, ``--reference`` rows compare like with like.

Architecture and preprocessing, from the public ``microsoft/CLAP`` repository
(MIT licence; re-implemented here, nothing copied):

* **2022**: a PANNs CNN14 audio encoder (torchlibrosa front-end: Hann STFT,
  ``n_fft`` = window 1024, hop 320, power spectrum, 64 Slaney mel bands
  50–14000 Hz at 44.1 kHz, ``10·log10``; then ``bn0`` and six conv blocks, a
  2048-d ``fc1`` embedding) and a projection ``2048 → 1024`` (two bias-free
  linear layers, GELU, residual, LayerNorm). Input 5 s at 44.1 kHz.
* **2023**: an HTS-AT audio encoder (the HTS-AT release's own front-end
  tensors, which are those of 32 kHz audio, applied to 44.1 kHz input as the
  package does; 1024 time frames, token-semantic head) and a projection
  ``768 → 1024``. Input 7 s at 44.1 kHz.

The embedding is the projected 1024-d audio vector, which is what OPERA's
CLAP baseline extracted (``audio_encoder(x)[0]``) and what MS-CLAP compares
with its text embeddings.

Input length: the package tiles a clip shorter than the model's duration
(the clip, then its copies from the start, truncated) and takes a *random*,
unseeded crop of a longer one. Tiling is reproduced exactly. Instead of the
random crop, a longer recording is cut into windows of the model's duration
(hop: half a window) whose embeddings the engine averages — a deterministic
estimate of the crop's expected embedding; the tail after the last full
window is dropped. No silence trimming (as the reference).

Weights: ``CLAP_weights_<year>.pth`` from the Hugging Face repository
``microsoft/msclap`` (or ``--weights PATH`` / ``$ACUBENCH_WEIGHTS``). The
file is a torch pickle whose ``"model"`` entry is the whole CLAP state dict;
only its ``audio_encoder.*`` tensors are read (the text encoder is not
built), strictly: a missing, unexpected or mis-shaped audio key is an error.
It is read with ``weights_only=True``; the release's pickle could not be
inspected here, so if it holds Python objects beyond tensors, acubench says
so and loads it only with ``--trust-checkpoint``.
"""

from __future__ import annotations

from typing import Any

from acubench.hookspecs import contribute
from acubench.specs import ClipPolicy, EncoderSpec, WeightsRef

SAMPLE_RATE = 44100
PROJECTION_DIM = 1024
HF_REPO = "microsoft/msclap"
REFERENCE = "Elizalde et al., CLAP: Learning Audio Concepts from Natural Language Supervision, ICASSP 2023"
REFERENCE_2023 = ("Elizalde, Deshmukh & Wang, Natural Language Supervision for General-Purpose Audio "
                  "Representations, ICASSP 2024 (arXiv:2309.05767)")
LICENSE = "MIT (microsoft/CLAP code and weights)"

#: Per version: the audio encoder, its input length (s) and the released file.
VERSIONS: dict[str, dict[str, Any]] = {
    "2022": {"backbone": "cnn14", "seconds": 5.0, "filename": "CLAP_weights_2022.pth"},
    "2023": {"backbone": "htsat", "seconds": 7.0, "filename": "CLAP_weights_2023.pth"},
}

#: CNN14 as released (config_2022.yml: 64 mels 50–14000 Hz, window 1024, hop 320, 527 AudioSet classes).
CNN14 = {"channels": [64, 128, 256, 512, 1024, 2048], "mel_bins": 64, "fmin": 50.0, "fmax": 14000.0,
         "window": 1024, "hop": 320, "classes": 527, "out_emb": 2048}
#: HTS-AT as the package builds it (its config module: spec 256, patch 4, 96-d, depths 2-2-6-2, window 8).
HTSAT = {"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [4, 8, 16, 32], "window": 8, "classes": 527}

PRESETS_2022: dict[str, dict[str, Any]] = {
    "default": {"version": "2022", "cnn14": CNN14, "d_proj": PROJECTION_DIM},
    # Same front-end, layer names and pooling; toy widths for tests.
    "tiny": {"version": "2022", "cnn14": {**CNN14, "channels": [4, 4, 8, 8, 8, 16], "classes": 3, "out_emb": 16},
             "d_proj": 8},
}
PRESETS_2023: dict[str, dict[str, Any]] = {
    "default": {"version": "2023", "htsat": HTSAT, "d_proj": PROJECTION_DIM},
    "tiny": {"version": "2023", "htsat": {"embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2],
                                          "window": 8, "classes": 3}, "d_proj": 8},
}


def _clip(seconds: float) -> ClipPolicy:
    # pad "none": the model tiles short clips itself, as the package does; longer ones are windowed.
    return ClipPolicy(trim_silence=False, pad="none", window_seconds=seconds, hop_seconds=seconds / 2,
                      last_window="drop")


def _spec(spec_id: str, version: str, presets: dict, aliases: tuple[str, ...], reference: str) -> EncoderSpec:
    v = VERSIONS[version]
    return EncoderSpec(
        id=spec_id,
        factory="acubench.encoders._ms_clap_model:build",
        sample_rate=SAMPLE_RATE,
        embed_dim=PROJECTION_DIM,
        clip=_clip(v["seconds"]),
        task_clip="fixed",
        aliases=aliases,
        family="clap",
        description=(f"Microsoft CLAP {version} audio encoder ({'CNN14' if v['backbone'] == 'cnn14' else 'HTS-AT'}, "
                     f"44.1 kHz, {v['seconds']:g} s windows); 1024-d projected audio embedding"
                     + ("; the OPERA benchmark's CLAP baseline" if version == "2022" else "")),
        configs=tuple(presets),
        weights=WeightsRef(filename=v["filename"], hf_repo=HF_REPO, url=f"https://huggingface.co/{HF_REPO}"),
        supports_alignment=False,
        reference=reference,
        license=LICENSE,
    )


SPEC_2022 = _spec("ms-clap", "2022", PRESETS_2022, ("ms-clap-2022", "msclap"), REFERENCE)
SPEC_2023 = _spec("ms-clap-2023", "2023", PRESETS_2023, ("msclap-2023",), REFERENCE_2023)

plugin = contribute(encoders=[SPEC_2022, SPEC_2023])
