"""The CLAP audio tower behind :mod:`acubench.encoders.clap`, built with transformers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from acubench.checkpoints import CheckpointError, fit_state_dict, read_tensors, state_digest
from acubench.encoder import AudioEncoder, WeightsInfo, resolve_config, seeded
from acubench.encoders.clap import HTSAT_AUDIO_CONFIG, PRESETS, SAMPLE_RATE, SPEC
from acubench.frontends import batch_by_length, clap_logmel
from acubench.specs import EncoderSpec

#: The released ``preprocessor_config.json`` of laion/clap-htsat-unfused, except the
#: truncation an unfused model needs (see :mod:`acubench.encoders.clap`).
FEATURE_EXTRACTOR = {
    "feature_size": 64, "sampling_rate": SAMPLE_RATE, "hop_length": 480, "fft_window_size": 1024,
    "max_length_s": 10, "frequency_min": 50, "frequency_max": 14000, "top_db": None,
    "padding": "repeatpad", "truncation": "rand_trunc",
}
#: Tensors of a ClapModel checkpoint that belong to the audio side.
AUDIO_PREFIXES = ("audio_model.", "audio_projection.")
#: Buffers computed from the architecture alone (Swin's window index, BatchNorm's counter).
_DERIVED_BUFFERS = ("relative_position_index", "num_batches_tracked")


class ClapEncoder(AudioEncoder):
    """CLAP audio tower: 10 s log-mel (1001 × 64) → 64 HTS-AT tokens (768-d) → 512-d projection.

    Parameters
    ----------
    audio_config : transformers.ClapAudioConfig
    extractor : transformers.ClapFeatureExtractor
    """

    def __init__(self, config: dict[str, Any], weights_info: WeightsInfo, audio_config, extractor) -> None:
        from transformers import ClapAudioModelWithProjection

        super().__init__(SPEC, config, weights_info)
        if audio_config.enable_fusion:
            raise ValueError(
                "encoder clap: fused CLAP checkpoints are not supported (their front-end picks random crops); "
                "use an unfused model such as laion/clap-htsat-unfused"
            )
        self.model = ClapAudioModelWithProjection(audio_config)
        self.extractor = extractor
        self.sample_rate = int(extractor.sampling_rate)
        self.embed_dim = int(audio_config.projection_dim)
        self.max_samples = int(extractor.nb_max_samples)
        # The released extractor's filters, as a buffer so that they move with the model.
        filters = np.asarray(extractor.mel_filters_slaney, dtype=np.float64)
        self.register_buffer("mel_filters", torch.from_numpy(filters), persistent=False)

    def featurize(self, waves: Sequence[Tensor] | Tensor) -> Tensor:
        """Waveforms at 48 kHz → log-mel batch (B, 1001, 64), time on dim 1, computed on the model's device.

        Each input is handled on its own (repeat-padded to 10 s; longer ones keep their first
        10 s), so a clip's features do not depend on the rest of the batch; inputs of equal
        length share one batched STFT (:func:`acubench.frontends.clap_logmel`).
        """
        device = self.device
        waves = [w.detach().reshape(-1)[: self.max_samples].to(device) for w in waves]
        if any(w.numel() == 0 for w in waves):
            raise ValueError("encoder clap: empty waveform")
        frames = 1 + self.max_samples // int(self.extractor.hop_length)
        out = torch.empty(len(waves), frames, int(self.extractor.feature_size), device=device)
        for idx, batch in batch_by_length(waves):
            out[torch.as_tensor(idx, device=device)] = clap_logmel(
                batch, self.mel_filters, max_samples=self.max_samples, n_fft=int(self.extractor.fft_window_size),
                hop_length=int(self.extractor.hop_length))
        return out

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """(B, T, 64) log-mel → HTS-AT output tokens (B, 64, D), time-major (32 time × 2 frequency groups)."""
        hidden = self.model.audio_model(input_features=inputs.unsqueeze(1)).last_hidden_state
        b, d, freq, time = hidden.shape
        return hidden.permute(0, 3, 2, 1).reshape(b, time * freq, d)

    def pool(self, tokens: Tensor) -> Tensor:
        """Mean over tokens (HTS-AT's pooled output), then ``audio_projection``: (B, N, D) → (B, 512)."""
        embedding = self.model.audio_projection(tokens.mean(dim=1))
        return F.normalize(embedding, dim=-1) if self.config["normalize"] else embedding

    def export_state_dict(self) -> dict[str, Tensor]:
        """``audio_model.*`` and ``audio_projection.*``, as in a released ``ClapModel``."""
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}


def _audio_config(folder: Path | None, settings: dict[str, Any]):
    """The audio tower's config: from the model folder's ``config.json`` if there is one."""
    from transformers import ClapAudioConfig

    if folder is None or not (folder / "config.json").is_file():
        return ClapAudioConfig(**settings)
    try:
        raw = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / 'config.json'}: unreadable ({exc})") from None
    if raw.get("model_type") == "clap":
        return ClapAudioConfig(**raw.get("audio_config", {}))
    if raw.get("model_type") == "clap_audio_model":
        return ClapAudioConfig(**raw)
    raise CheckpointError(
        f"{folder / 'config.json'}: model_type {raw.get('model_type')!r} is not a CLAP model "
        f"(expected 'clap', e.g. laion/clap-htsat-unfused)"
    )


def _extractor(folder: Path | None):
    """The released feature extractor (or the folder's own), with the unfused truncation."""
    from transformers import ClapFeatureExtractor

    if folder is not None and (folder / "preprocessor_config.json").is_file():
        fe = ClapFeatureExtractor.from_pretrained(str(folder), local_files_only=True)
        fe.truncation, fe.padding = "rand_trunc", "repeatpad"
        return fe
    return ClapFeatureExtractor(**FEATURE_EXTRACTOR)


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool = True, trust_checkpoint: bool = False) -> ClapEncoder:
    """Build the CLAP audio encoder (factory of :data:`SPEC`; contract in :mod:`acubench.loading`).

    Parameters
    ----------
    config : dict
        ``{"name": "default" | "tiny", ...overrides}``; settings: ``audio``
        (``ClapAudioConfig`` arguments, used without a model folder) and
        ``normalize`` (bool: unit-length embeddings).
    weights : Path or None
        A Hugging Face ``ClapModel`` folder (``config.json`` + weights; its
        architecture wins over ``audio``), or a weights file with
        ``audio_model.*``/``audio_projection.*`` tensors (a ``ClapModel``
        state dict or :meth:`ClapEncoder.export_state_dict`); ``None`` →
        seeded random init.
    """
    cfg = resolve_config(spec, PRESETS, config)
    folder = weights if weights is not None and Path(weights).is_dir() else None
    audio_config = _audio_config(folder, cfg["audio"])
    cfg["audio"] = {k: getattr(audio_config, k) for k in HTSAT_AUDIO_CONFIG}
    extractor = _extractor(folder)
    if weights is None:
        with seeded(seed):
            encoder = ClapEncoder(cfg, WeightsInfo.random_init(seed), audio_config, extractor)
        return encoder.to(device).eval()
    state = read_tensors(weights, AUDIO_PREFIXES, trust=trust_checkpoint)
    with seeded(seed):
        info = WeightsInfo("pretrained", str(weights), state_digest(state))
        encoder = ClapEncoder(cfg, info, audio_config, extractor)
    # Buffers that are functions of the architecture alone may be absent from older
    # conversions; the model's own values are the ones the release computed.
    own = encoder.model.state_dict()
    state.update({k: v for k, v in own.items() if k.endswith(_DERIVED_BUFFERS) and k not in state})
    fit_state_dict(encoder.model, state, strict=strict, source=str(weights))
    return encoder.to(device).eval()
