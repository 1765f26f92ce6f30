"""The Qwen2.5-Omni audio tower behind :mod:`acubench.encoders.qwen_omni`, built with transformers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from acubench.checkpoints import CheckpointError, fit_state_dict, read_tensors, state_digest
from acubench.encoder import AudioEncoder, WeightsInfo, resolve_config, seeded
from acubench.encoders.qwen_omni import MAX_SECONDS, PRESETS, SAMPLE_RATE, SPEC, TOWER_PREFIXES
from acubench.specs import EncoderSpec

#: Inputs shorter than this many samples (three 10 ms frames) yield no output frame; they
#: are zero-padded to it.
MIN_SAMPLES = 480


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
        # The extractor's STFT and mel projection run in torch on the model's device (one batched call).
        out = self.extractor(arrays, sampling_rate=SAMPLE_RATE, padding="max_length", return_attention_mask=True,
                             return_tensors="pt", device=str(self.device))
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
