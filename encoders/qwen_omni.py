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
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from acubench.encoder import AudioEncoder, WeightsInfo, resolve_config, seeded
from acubench.hookspecs import hookimpl
from acubench.specs import ClipPolicy, EncoderSpec, WeightsRef
from acubench.weights import CheckpointError, _hub_download, fit_state_dict, read_tensors, state_digest

SAMPLE_RATE = 16000
#: The Whisper front-end's maximum input (s); Qwen2_5OmniProcessor pads every input to it.
MAX_SECONDS = 30.0
#: Where the tower's tensors sit: the full Omni model, a saved thinker, a thinker in
#: transformers' internal layout. The first prefix with tensors is used.
TOWER_PREFIXES = ("thinker.audio_tower.", "audio_tower.", "model.audio_tower.")
#: Inputs shorter than this many samples (three 10 ms frames) yield no output frame; they
#: are zero-padded to it.
MIN_SAMPLES = 480

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
    factory="acubench.encoders.qwen_omni:build",
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
    configs=("default", "7b", "tiny"),
    weights=WeightsRef(filename="", hf_repo="Qwen/Qwen2.5-Omni-3B", url="https://huggingface.co/Qwen/Qwen2.5-Omni-3B"),
    supports_alignment=True,
    reference="Xu et al., Qwen2.5-Omni Technical Report (arXiv:2503.20215)",
    license="Qwen Research License (3B) / Apache-2.0 (7B)",
)


def output_frames(feature_lens: Tensor) -> Tensor:
    """Output frames of the tower for inputs of ``feature_lens`` mel frames (conv stride 2, pool 2)."""
    after_conv = (feature_lens - 1) // 2 + 1
    return (after_conv - 2) // 2 + 1


class QwenOmniAudioEncoder(AudioEncoder):
    """Qwen2.5-Omni audio tower over a batch of clips of different lengths.

    Model inputs are (B, T, 129): the 128 log-mel bins of each clip's own
    frames, zero after its end, and in the last channel 1 for the clip's own
    frames and 0 for padding, so that the frame counts travel with the batch
    (:meth:`forward_tokens` packs only real frames into the tower).
    """

    def __init__(self, config: dict[str, Any], weights_info: WeightsInfo, audio_config) -> None:
        from transformers import WhisperFeatureExtractor
        from transformers.models.qwen2_5_omni.modeling_qwen2_5_omni import Qwen2_5OmniAudioEncoder

        super().__init__(SPEC, config, weights_info)
        self.tower = Qwen2_5OmniAudioEncoder(audio_config)
        self.extractor = WhisperFeatureExtractor(feature_size=audio_config.num_mel_bins, sampling_rate=SAMPLE_RATE,
                                                 hop_length=160, n_fft=400, chunk_length=int(MAX_SECONDS))
        self.embed_dim = int(audio_config.output_dim)

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        """Waveforms at 16 kHz (≤ 30 s; longer ones are cut to their first 30 s) → (B, T, 129)."""
        limit = int(MAX_SECONDS * SAMPLE_RATE)
        arrays = []
        for w in waves:
            a = w.detach().cpu().numpy().astype(np.float32).reshape(-1)[:limit]
            if a.size == 0:
                raise ValueError("encoder qwen-omni: empty waveform")
            arrays.append(np.pad(a, (0, max(0, MIN_SAMPLES - a.size))))
        out = self.extractor(arrays, sampling_rate=SAMPLE_RATE, padding="max_length", return_attention_mask=True,
                             return_tensors="pt")
        lengths = out["attention_mask"].sum(dim=1)
        frames = int(lengths.max())
        mel = out["input_features"][:, :, :frames].transpose(1, 2).float()
        valid = (torch.arange(frames)[None, :] < lengths[:, None]).float()
        mel = mel * valid[..., None]
        return torch.cat([mel, valid[..., None]], dim=-1).to(self.device)

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """(B, T, 129) → output frames (B, N, D), N = the longest clip's frame count.

        A shorter clip's positions past its end hold the mean of its own
        frames, so the plain mean over N (the default :meth:`pool`) equals the
        mean over the clip's frames, in value and in gradient.
        """
        valid = inputs[..., -1] > 0.5
        lengths = valid.sum(dim=1)
        packed = inputs[..., :-1][valid].transpose(0, 1)
        hidden = self.tower(input_features=packed, feature_lens=lengths).last_hidden_state
        counts = output_frames(lengths).tolist()
        width = max(counts)
        rows = []
        for frames in hidden.split(counts, dim=0):
            fill = frames.mean(dim=0, keepdim=True).expand(width - frames.shape[0], -1)
            rows.append(torch.cat([frames, fill], dim=0))
        return torch.stack(rows)

    def mask_inputs(self, inputs: Tensor, mask_ratio: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Hide random real frames (never padding), filling them with the clip's mean log-mel frame."""
        mel, valid = inputs[..., :-1], inputs[..., -1:]
        b, t = mel.shape[:2]
        scores = torch.rand(b, t, generator=generator, device="cpu").to(inputs.device)
        mask = (scores < mask_ratio) & (valid[..., 0] > 0.5)
        fill = (mel * valid).sum(dim=1, keepdim=True) / valid.sum(dim=1, keepdim=True).clamp(min=1)
        masked = torch.where(mask[..., None], fill.expand_as(mel), mel)
        return torch.cat([masked, valid], dim=-1), mask

    def reconstruction_target(self, inputs: Tensor) -> Tensor:
        """The log-mel frames (B, T, 128), without the validity channel."""
        return inputs[..., :-1]

    def export_state_dict(self) -> dict[str, Tensor]:
        """The tower's tensors under ``thinker.audio_tower.``, as in the released checkpoint."""
        return {TOWER_PREFIXES[0] + k: v.detach().cpu() for k, v in self.tower.state_dict().items()}


def _audio_config(folder: Path | None, settings: dict[str, Any]):
    """The tower's config: from the model folder's ``config.json`` if there is one."""
    from transformers import Qwen2_5OmniAudioEncoderConfig

    if folder is None or not (folder / "config.json").is_file():
        return Qwen2_5OmniAudioEncoderConfig(**settings)
    path = folder / "config.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc})") from None
    kind = raw.get("model_type")
    if kind == "qwen2_5_omni":
        raw = raw.get("thinker_config", {}).get("audio_config")
    elif kind == "qwen2_5_omni_thinker":
        raw = raw.get("audio_config")
    elif kind != "qwen2_5_omni_audio_encoder":
        raw = None
    if not raw:
        raise CheckpointError(
            f"{path}: model_type {kind!r} has no Qwen2.5-Omni audio tower config "
            f"(expected a Qwen/Qwen2.5-Omni-3B or -7B folder)"
        )
    return Qwen2_5OmniAudioEncoderConfig(**{k: v for k, v in raw.items() if k != "model_type"})


def _tower_state(path: Path, trust: bool) -> dict[str, Tensor]:
    """The tower's tensors, prefix stripped, read without touching any other tensor."""
    tensors = read_tensors(path, TOWER_PREFIXES, trust=trust)
    prefixes = sorted({p for p in TOWER_PREFIXES for k in tensors if k.startswith(p)}, key=TOWER_PREFIXES.index)
    if len(prefixes) > 1:
        raise CheckpointError(f"{path}: holds audio-tower tensors under several prefixes {prefixes}; "
                              f"which tower to use is ambiguous")
    prefix = prefixes[0]
    return {k[len(prefix):]: v for k, v in tensors.items()}


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool = True, trust_checkpoint: bool = False) -> QwenOmniAudioEncoder:
    """Build the Qwen2.5-Omni audio tower (factory of :data:`SPEC`; contract in :mod:`acubench.loading`).

    Parameters
    ----------
    config : dict
        ``{"name": "default" | "7b" | "tiny", ...overrides}``; setting ``audio``:
        ``Qwen2_5OmniAudioEncoderConfig`` arguments, used without a model folder.
    weights : Path or None
        A Qwen2.5-Omni model folder (``config.json`` + sharded safetensors),
        or a weights file holding ``thinker.audio_tower.*`` tensors (e.g.
        :meth:`QwenOmniAudioEncoder.export_state_dict`); ``None`` → seeded random init.

    Raises
    ------
    CheckpointError
        If the folder's tower does not have the named config's size (e.g.
        config ``"7b"`` with the 3B weights that are found by default).
    """
    cfg = resolve_config(spec, PRESETS, config)
    folder = weights if weights is not None and Path(weights).is_dir() else None
    audio_config = _audio_config(folder, cfg["audio"])
    if folder is not None and audio_config.output_dim != cfg["audio"]["output_dim"]:
        raise CheckpointError(
            f"{folder}: its audio tower projects to {audio_config.output_dim} dims, config {cfg['name']!r} "
            f"to {cfg['audio']['output_dim']}; pass the matching weights (config '7b': --weights "
            f"Qwen/Qwen2.5-Omni-7B; default: Qwen/Qwen2.5-Omni-3B) or the matching config"
        )
    cfg["audio"] = {k: getattr(audio_config, k) for k in cfg["audio"]}
    if weights is None:
        with seeded(seed):
            encoder = QwenOmniAudioEncoder(cfg, WeightsInfo.random_init(seed), audio_config)
        return encoder.to(device).eval()
    state = _tower_state(Path(weights), trust_checkpoint)
    with seeded(seed):
        encoder = QwenOmniAudioEncoder(cfg, WeightsInfo("pretrained", str(weights), state_digest(state)), audio_config)
    fit_state_dict(encoder.tower, state, strict=strict, source=str(weights))
    return encoder.to(device).eval()


@hookimpl
def acubench_encoders() -> list[EncoderSpec]:
    return [SPEC]


@hookimpl
def acubench_resolve_weights(spec: EncoderSpec, source: str | None) -> Path | None:
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
