"""The audio tower of Qwen2.5-Omni (a Whisper-large-v3-style encoder) as a clip encoder.

Weights: only the audio tower is read out of the full Qwen2.5-Omni
checkpoint, whose tensors sit under ``thinker.audio_tower.`` (transformers'
``Qwen2_5OmniForConditionalGeneration`` → ``thinker`` →
``audio_tower``). The sharded safetensors are opened shard by shard through
their index and only the tower's tensors are read, so a user never loads
the 3B/7B language model, the vision tower or the talker.

Front-end: ``WhisperFeatureExtractor(feature_size=128)`` (16 kHz, 25 ms
Hann window, 10 ms hop, 128 Slaney mel bins, log10 floored at max − 8,
scaled (x + 4) / 4), exactly as ``Qwen2_5OmniProcessor`` calls it: every
input zero-padded to 30 s, with the attention mask marking its own frames.
The padding makes a clip's frames independent of the rest of the batch (with
``padding="longest"`` the last frames of the longest clip would see
reflection instead of zeros); only the clip's own frames are then packed
into the tower's input, (128, Σ frames) with ``feature_lens``.

Tower: conv stem (stride 2), 32 pre-norm transformer layers attending within
2 s chunks, stride-2 average pooling, LayerNorm and a projection to the
language model's width (``output_dim``: 2048 for the 3B model, 3584 for the
7B, read from the checkpoint's config). One output frame per 40 ms; the clip
embedding is the mean over the clip's own output frames.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from acubench.hookspecs import contribute
from acubench.specs import ClipPolicy, EncoderSpec, WeightsRef
from acubench.weights import _hub_download

SAMPLE_RATE = 16000
#: The Whisper front-end's maximum input (s); Qwen2_5OmniProcessor pads every input to it.
MAX_SECONDS = 30.0

#: Where the tower's tensors sit: the full Omni model, a saved thinker, a thinker in
#: transformers' internal layout. The first prefix with tensors is used.
TOWER_PREFIXES = ("thinker.audio_tower.", "audio_tower.", "model.audio_tower.")

_TOWER = {  # Qwen2.5-Omni-3B and -7B share the tower; only the projection to the LM differs
    "num_mel_bins": 128, "d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20,
    "encoder_ffn_dim": 5120, "n_window": 100, "max_source_positions": 1500,
}

PRESETS: dict[str, dict[str, Any]] = {
    "default": {"audio": {**_TOWER, "output_dim": 2048}},  # Qwen/Qwen2.5-Omni-3B
    "7b": {"audio": {**_TOWER, "output_dim": 3584}},  # Qwen/Qwen2.5-Omni-7B
    # The same chunking, stem and pooling with toy widths, for tests.
    "tiny": {"audio": {**_TOWER, "d_model": 32, "encoder_layers": 2, "encoder_attention_heads": 2,
                       "encoder_ffn_dim": 64, "output_dim": 24}},
}

SPEC = EncoderSpec(
    id="qwen-omni",
    factory="acubench.encoders._qwen_omni_model:build",
    sample_rate=SAMPLE_RATE,
    embed_dim=PRESETS["default"]["audio"]["output_dim"],
    # Whole clips up to 30 s; longer ones in 30 s windows averaged by the engine. A tail
    # under 1 s would weigh as much as a full window, so it is dropped.
    clip=ClipPolicy(trim_silence=False, pad="none", window_seconds=MAX_SECONDS, hop_seconds=MAX_SECONDS,
                    last_window="keep", min_window_seconds=1.0),
    task_clip="fixed",
    aliases=("qwen2.5-omni",),
    family="qwen-omni",
    description="Qwen2.5-Omni audio tower (Whisper-style, 32 layers), 128-bin Whisper log-mel, "
                "mean of 40 ms output frames (2048-d for 3B; config '7b': 3584-d)",
    configs=tuple(PRESETS),
    weights=WeightsRef(filename="", hf_repo="Qwen/Qwen2.5-Omni-3B", url="https://huggingface.co/Qwen/Qwen2.5-Omni-3B"),
    supports_alignment=True,
    reference="Xu et al., Qwen2.5-Omni Technical Report (arXiv:2503.20215)",
    license="Qwen Research License (3B) / Apache-2.0 (7B)",
)


def resolve_weights(spec: EncoderSpec, source: str | None) -> Path | None:
    """Fetch only the files the audio tower needs from a Qwen2.5-Omni Hub repository.

    ``config.json``, the shard index and the shards that hold
    ``thinker.audio_tower.*`` (from the Hugging Face cache, or downloaded
    unless offline), instead of the whole 11–22 GB repository. Returns their
    snapshot folder, or ``None`` to leave other sources (a local path,
    ``$ACUBENCH_WEIGHTS``, the whole-repository download) to the built-in resolver.
    """
    if spec.id != SPEC.id:
        return None
    if source is not None and (Path(source).expanduser().exists() or "/" not in source
                               or source.startswith((".", "/", "~"))):
        return None
    repo = (source or spec.weights.hf_repo or "").partition(":")[0]
    config = _hub_download(repo, "config.json")
    index = _hub_download(repo, "model.safetensors.index.json")
    if config is None or index is None:
        return None
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    shards = sorted({shard for key, shard in weight_map.items() if key.startswith(TOWER_PREFIXES)})
    if not shards or any(_hub_download(repo, shard) is None for shard in shards):
        return None
    return config.parent

plugin = contribute(encoders=[SPEC], resolve_weights=resolve_weights)
