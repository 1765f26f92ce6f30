"""The MS-CLAP audio encoders behind :mod:`acubench.encoders.ms_clap` (2022: CNN14, 2023: HTS-AT)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from acubench.checkpoints import CheckpointError, fit_state_dict, load_checkpoint, strip_prefix
from acubench.encoder import AudioEncoder, WeightsInfo, resolve_config, seeded
from acubench.encoders._cnn14 import Cnn14, TorchlibrosaLogmel
from acubench.encoders._htsat import HTSATSwin, stretch
from acubench.encoders.ms_clap import PRESETS_2022, PRESETS_2023, SAMPLE_RATE, SPEC_2022, SPEC_2023, VERSIONS
from acubench.specs import EncoderSpec
from acubench.weights import file_sha256

#: Where the audio tower sits in the released CLAP state dict (the text tower and logit_scale are not read).
AUDIO_PREFIX = "audio_encoder."


class Projection(nn.Module):
    """MS-CLAP's projection: ``LayerNorm(l1(x) + l2(GELU(l1(x))))``, both linear layers bias-free.

    (Dropout between ``linear2`` and the sum is inactive in eval.)
    """

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_in, d_out, bias=False)
        self.linear2 = nn.Linear(d_out, d_out, bias=False)
        self.layer_norm = nn.LayerNorm(d_out)

    def forward(self, x: Tensor) -> Tensor:
        h = self.linear1(x)
        return self.layer_norm(h + self.linear2(F.gelu(h)))


class HtsatBase(nn.Module):
    """The 2023 audio encoder: HTS-AT (keys under ``htsat.``) fed from its own torchlibrosa tensors.

    The package builds HTS-AT from the HTS-AT release's config module, so its
    front-end tensors are those of 32 kHz audio (64 mels, 50–14000 Hz) while
    the input is resampled to 44.1 kHz; the loaded tensors are used as they are.
    """

    def __init__(self, htsat: dict[str, Any]) -> None:
        super().__init__()
        self.htsat = HTSATSwin(embed_dim=htsat["embed_dim"], depths=tuple(htsat["depths"]),
                               num_heads=tuple(htsat["num_heads"]), window=htsat["window"],
                               num_classes=htsat["classes"])
        self.out_emb = self.htsat.num_features

    def forward(self, waves: Tensor) -> Tensor:
        """Waveforms (B, N) → ``latent_output`` (B, 768): mean of the normed final tokens."""
        mel = TorchlibrosaLogmel.logmel(self.htsat, waves)    # (B, T, 64); ≤ 1024 frames for 7 s
        # bn0 comes first in the package and the bicubic stretch after; in eval bn0 is a per-bin affine
        # map and the stretch's weights sum to one, so the order does not change the result.
        return self.htsat(stretch(mel, self.htsat.frames)).mean(dim=1)


class MsClapAudio(nn.Module):
    """``audio_encoder`` of the released CLAP: ``base`` (CNN14 or HTS-AT) and ``projection``."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        if cfg["version"] == "2022":
            c = cfg["cnn14"]
            self.base: nn.Module = Cnn14(sample_rate=SAMPLE_RATE, window=c["window"], hop=c["hop"],
                                         mel_bins=c["mel_bins"], fmin=c["fmin"], fmax=c["fmax"],
                                         channels=list(c["channels"]), out_emb=c["out_emb"], classes=c["classes"])
        else:
            self.base = HtsatBase(cfg["htsat"])
        self.projection = Projection(self.base.out_emb, cfg["d_proj"])

    def forward(self, waves: Tensor) -> Tensor:
        return self.projection(self.base(waves))


class MsClapEncoder(AudioEncoder):
    """MS-CLAP as an acubench encoder: windows at 44.1 kHz → one 1024-d projected embedding each."""

    def __init__(self, spec: EncoderSpec, config: dict[str, Any], weights_info: WeightsInfo) -> None:
        super().__init__(spec, config, weights_info)
        self.audio_encoder = MsClapAudio(config)
        self.embed_dim = config["d_proj"]
        self.samples = int(VERSIONS[config["version"]]["seconds"] * SAMPLE_RATE)

    def featurize(self, waves: Sequence[Tensor]) -> Tensor:
        """Waveforms → (B, samples): each tiled from its start to the model's duration, as the package does.

        A longer input (a window never is) is cut to its first ``samples``.
        """
        rows = []
        for w in waves:
            w = w.detach().reshape(-1).float()
            if w.numel() == 0:
                raise ValueError(f"encoder {self.spec.id}: empty waveform")
            rows.append(w.repeat(-(-self.samples // w.numel()))[: self.samples])
        return torch.stack(rows).to(self.device)

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """(B, samples) → the projected embedding as one token, (B, 1, 1024)."""
        return self.audio_encoder(inputs).unsqueeze(1)

    def export_state_dict(self) -> dict[str, Tensor]:
        """``audio_encoder.*`` as in the released ``CLAP_weights_<year>.pth`` ``"model"`` dict."""
        return {k: v.detach().cpu() for k, v in self.state_dict().items()}


def _audio_state(weights: Path, trust: bool) -> dict[str, Tensor]:
    """The ``audio_encoder.*`` tensors of a released file (``{"model": state}``) or of a raw state dict."""
    obj = load_checkpoint(weights, trust=trust)
    state = obj.get("model", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict) or not any(k.startswith(AUDIO_PREFIX) for k in state):
        sample = list(state)[:5] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{weights}: not an MS-CLAP checkpoint: no '{AUDIO_PREFIX}*' tensors (it holds e.g. "
                              f"{sample}); expected microsoft/msclap's CLAP_weights_<year>.pth")
    return {AUDIO_PREFIX + k: v for k, v in strip_prefix(state, AUDIO_PREFIX).items()}


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool = True, trust_checkpoint: bool = False) -> MsClapEncoder:
    """Build MS-CLAP 2022 (``ms-clap``) or 2023 (``ms-clap-2023``) (factory of both specs).

    Parameters
    ----------
    config : dict
        ``{"name": "default" | "tiny", ...overrides}``.
    weights : Path or None
        ``CLAP_weights_<year>.pth`` (its ``"model"`` dict), or a file holding
        :meth:`MsClapEncoder.export_state_dict`; ``None`` → seeded random init.
    """
    presets = PRESETS_2022 if spec.id == SPEC_2022.id else PRESETS_2023
    if spec.id not in (SPEC_2022.id, SPEC_2023.id):
        raise ValueError(f"encoder {spec.id}: not an MS-CLAP spec")
    cfg = resolve_config(spec, presets, config)
    if weights is None:
        with seeded(seed):
            encoder = MsClapEncoder(spec, cfg, WeightsInfo.random_init(seed))
        return encoder.to(device).eval()
    weights = Path(weights)
    state = _audio_state(weights, trust_checkpoint)
    with seeded(seed):
        encoder = MsClapEncoder(spec, cfg, WeightsInfo("pretrained", str(weights), file_sha256(weights)))
    fit_state_dict(encoder, state, strict=strict, source=str(weights))
    return encoder.to(device).eval()
