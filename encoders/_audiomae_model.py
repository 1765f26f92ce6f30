"""The AudioMAE encoder and its Kaldi-fbank front-end (declared in :mod:`acubench.encoders.audiomae`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from acubench.checkpoints import CheckpointError, fit_state_dict, load_checkpoint, unwrap_state_dict
from acubench.encoder import AudioEncoder, WeightsInfo, resolve_config, seeded
from acubench.encoders._audiomae_decoder import DECODER_SIZES, AudioMAEDecoder, no_decoder_notice, split_decoder_state
from acubench.encoders._vit import Block, PatchEmbed, init_vit_weights, sincos_pos_embed_2d
from acubench.encoders.audiomae import MIN_SAMPLES, PRESETS, SAMPLE_RATE, SPEC
from acubench.errors import OptionError
from acubench.frontends import batch_by_length, kaldi_fbank
from acubench.specs import EncoderSpec
from acubench.weights import file_sha256

#: AudioSet fbank statistics of the AudioMAE/AST pipelines (mean, std).
AUDIOSET_MEAN, AUDIOSET_STD = -4.2677393, 4.5689974
#: Fbank frames the model sees (10.24 s); longer inputs are cropped, shorter zero-padded.
TARGET_FRAMES = 1024
N_MELS = 128
PATCH = 16
_FC_NORM = ("pretrained", "identity")


class AudioMAEViT(nn.Module):
    """The AudioMAE encoder, keys as in the release: ``patch_embed.proj``, ``cls_token``,
    ``pos_embed``, ``blocks.i.*``, ``fc_norm``.

    Parameters
    ----------
    embed_dim, depth, num_heads : int
        ViT width, number of blocks, attention heads (ViT-B: 768, 12, 12).
    """

    def __init__(self, embed_dim: int, depth: int, num_heads: int) -> None:
        super().__init__()
        grid = (TARGET_FRAMES // PATCH, N_MELS // PATCH)
        self.patch_embed = PatchEmbed((PATCH, PATCH), 1, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        # Fixed sin-cos table, stored in checkpoints but never trained (as in AudioMAE).
        self.pos_embed = nn.Parameter(sincos_pos_embed_2d(embed_dim, grid), requires_grad=False)
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, 4.0, eps=1e-6) for _ in range(depth)])
        self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        init_vit_weights(self)
        nn.init.normal_(self.cls_token, std=0.02)

    def embed_patches(self, fbank: Tensor) -> Tensor:
        """Fbank (B, 1024, 128) → patch tokens + position (B, 512, D), time-major (64 time × 8 frequency patches)."""
        x = self.patch_embed(fbank.unsqueeze(1))
        return x + self.pos_embed[:, 1:x.shape[1] + 1]

    def encode(self, tokens: Tensor) -> Tensor:
        """Patch tokens (B, N, D), all or the kept ones of a mask → (B, 1 + N, D) after the blocks, class token
        first."""
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(tokens.shape[0], -1, -1)
        x = torch.cat([cls, tokens], dim=1)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, fbank: Tensor) -> Tensor:
        """Fbank (B, 1024, 128) → patch tokens (B, 512, D), time-major (64 time × 8 frequency patches)."""
        return self.encode(self.embed_patches(fbank))[:, 1:]


class AudioMAEEncoder(AudioEncoder):
    """AudioMAE as an acubench encoder; see :mod:`acubench.encoders.audiomae` for the two presets.

    Attributes
    ----------
    model : AudioMAEViT
    decoder : AudioMAEDecoder or None
        The released MAE decoder (:mod:`acubench.encoders._audiomae_decoder`),
        used only by :meth:`ssl_loss`; ``None`` for a checkpoint without one,
        and then the encoder has no ssl loss of its own.
    """

    has_ssl_loss = True

    def __init__(self, config: dict[str, Any], weights_info: WeightsInfo, *, decoder: bool = True) -> None:
        super().__init__(SPEC, config, weights_info)
        self.model = AudioMAEViT(config["embed_dim"], config["depth"], config["num_heads"])
        self.embed_dim = config["embed_dim"]
        # Built after the encoder, so that the encoder's seeded initialisation is the same with or without it.
        self.decoder = AudioMAEDecoder(config["embed_dim"], **DECODER_SIZES[config["name"]],
                                       token_grid=(TARGET_FRAMES // PATCH, N_MELS // PATCH),
                                       patch=PATCH) if decoder else None
        self.has_ssl_loss = decoder

    def fbank(self, waves: Tensor) -> Tensor:
        """Equal-length chunks (B, n_samples) at 16 kHz → model inputs (B, 1024, 128), on their device.

        Each chunk loses its mean, then Kaldi fbank (:func:`acubench.frontends.kaldi_fbank`), cropped
        or zero-padded to 1024 frames, normalised per the preset. A chunk shorter than one 25 ms frame
        has no fbank frame and becomes all padding.
        """
        waves = waves.float()
        if waves.shape[1] >= MIN_SAMPLES:
            feats = kaldi_fbank(waves - waves.mean(dim=1, keepdim=True), SAMPLE_RATE, n_mels=N_MELS)[:, :TARGET_FRAMES]
        else:
            feats = waves.new_zeros(waves.shape[0], 0, N_MELS)
        # The authors pad the raw fbank with zeros and normalise afterwards, so padding
        # reads as (0 - mean) / (2 std), the value their model was trained with.
        feats = torch.nn.functional.pad(feats, (0, 0, 0, TARGET_FRAMES - feats.shape[1]))
        if self.config["normalize"]:
            feats = (feats - AUDIOSET_MEAN) / (2 * AUDIOSET_STD)
        return feats

    def featurize(self, waves: Sequence[Tensor] | Tensor) -> Tensor:
        """Waveforms → (B, 1024, 128) fbank batch (time on dim 1), computed on the model's device;
        chunks of equal length share one batched fbank call."""
        device = self.device
        if isinstance(waves, Tensor) and waves.dim() == 2:
            return self.fbank(waves.to(device))
        out = torch.empty(len(waves), TARGET_FRAMES, N_MELS, device=device)
        for idx, batch in batch_by_length([w.detach().reshape(-1).to(device) for w in waves]):
            out[torch.as_tensor(idx, device=device)] = self.fbank(batch)
        return out

    def forward_tokens(self, inputs: Tensor) -> Tensor:
        """(B, 1024, 128) → patch tokens (B, 512, D)."""
        return self.model(inputs)

    def pool(self, tokens: Tensor) -> Tensor:
        """Mean over patch tokens, then ``fc_norm``: (B, 512, D) → (B, D)."""
        return self.model.fc_norm(tokens.mean(dim=1))

    def ssl_loss(self, inputs: Tensor, generator: torch.Generator | None = None) -> Tensor | None:
        """AudioMAE's MAE loss on ``inputs`` (B, 1024, 128) through the released decoder: 80 % of the
        patches hidden, per-patch normalised targets; ``None`` without a decoder.

        The mask is drawn from ``generator`` (CPU) or, by default, the global torch RNG.
        """
        if self.decoder is None:
            return None
        return self.decoder.loss(self.model, inputs, generator=generator)

    def export_state_dict(self) -> dict[str, Tensor]:
        """The encoder's keys as released (``patch_embed``, ``cls_token``, ``pos_embed``,
        ``blocks``), with ``fc_norm`` as a fine-tuned AudioMAE stores it, and the decoder's
        (``decoder_*``, ``mask_token``) when it has one."""
        state = dict(self.model.state_dict())
        if self.decoder is not None:
            state.update(self.decoder.state_dict())
        return {k: v.detach().cpu() for k, v in state.items()}


def _prepare_state(state: dict[str, Tensor], fc_norm: str) -> tuple[dict[str, Tensor], tuple[str, ...]]:
    """Map a released/fine-tuned/exported AudioMAE state onto :class:`AudioMAEViT`.

    Returns the state and the key prefixes that may legitimately be absent.
    """
    # A fine-tuned AudioMAE or timm ViT carries a classifier head the encoder does not use.
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    if any(k.startswith("fc_norm.") for k in state):
        return {k: v for k, v in state.items() if not k.startswith("norm.")}, ()
    norm = {k[len("norm."):]: v for k, v in state.items() if k.startswith("norm.")}
    state = {k: v for k, v in state.items() if not k.startswith("norm.")}
    if fc_norm == "pretrained" and norm:
        state.update({f"fc_norm.{k}": v for k, v in norm.items()})
        return state, ()
    # "identity": fc_norm stays a fresh LayerNorm, as in the reference.
    return state, ("fc_norm.",)


def build(spec: EncoderSpec, *, config: dict, weights: Path | None, device: str, seed: int,
          strict: bool = True, trust_checkpoint: bool = False) -> AudioMAEEncoder:
    """Build AudioMAE (factory of :data:`SPEC`; contract in :mod:`acubench.loading`).

    Parameters
    ----------
    config : dict
        ``{"name": "default" | "reference" | "tiny", ...overrides}``; settings:
        ``embed_dim``, ``depth``, ``num_heads``, ``normalize`` (bool),
        ``fc_norm`` (``"pretrained"`` | ``"identity"``).
    weights : Path or None
        The release ``pretrained.pth`` (``{"model": ...}``, encoder and MAE
        decoder), a fine-tuned checkpoint (no decoder), or an exported state
        dict; ``None`` → seeded random init (decoder included).

    Raises
    ------
    CheckpointError
        Keys or shapes that do not fit the encoder, or a decoder that is
        present but does not fit the released one (missing, extra or
        mis-shaped ``decoder_*`` keys), naming the file and the keys.
    """
    cfg = resolve_config(spec, PRESETS, config)
    if cfg["fc_norm"] not in _FC_NORM:
        raise OptionError(f"encoder {spec.id}: fc_norm must be one of {_FC_NORM}, got {cfg['fc_norm']!r}")
    if weights is None:
        with seeded(seed):
            encoder = AudioMAEEncoder(cfg, WeightsInfo.random_init(seed))
        return encoder.to(device).eval()
    state = unwrap_state_dict(load_checkpoint(weights, trust=trust_checkpoint), path=str(weights))
    state, decoder_state = split_decoder_state(state)
    with seeded(seed):
        encoder = AudioMAEEncoder(cfg, WeightsInfo("pretrained", str(weights), file_sha256(weights)),
                                  decoder=bool(decoder_state))
    state, may_miss = _prepare_state(state, cfg["fc_norm"])
    fit_state_dict(encoder.model, state, strict=strict, source=str(weights), ignore_missing=may_miss)
    if encoder.decoder is None:
        encoder.ssl_loss_notice = no_decoder_notice(str(weights))
        return encoder.to(device).eval()
    try:
        fit_state_dict(encoder.decoder, decoder_state, strict=strict, source=f"{weights} (its MAE decoder)")
    except CheckpointError as exc:
        raise CheckpointError(f"{exc} The decoder serves AcuLa's masked modelling only: a file without "
                              f"decoder_* and mask_token keys loads with the generic masked-frame head.") from None
    if may_miss:
        encoder.ssl_loss_notice = (f"fc_norm is a fresh identity LayerNorm, not the final norm of {weights}: "
                                   f"AudioMAE's decoder reads tokens without the release's final-norm affine "
                                   f"(the default preset uses it)")
    return encoder.to(device).eval()
