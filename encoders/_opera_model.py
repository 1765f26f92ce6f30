"""What the three OPERA models share: seeded construction, checkpoint reading, whole-clip pooling.

Imported only when an OPERA encoder is built (their declarations are in
:mod:`acubench.encoders._opera`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from acubench.checkpoints import fit_state_dict, load_checkpoint, unwrap_state_dict
from acubench.encoder import AudioEncoder, WeightsInfo, seeded
from acubench.weights import file_sha256

#: Keys of the COLA pre-training head in CE/CT checkpoints; not part of the encoder.
COLA_HEAD_KEYS = ("g.", "layer_norm.", "linear.")


def build_opera(
    make: Callable[[WeightsInfo], AudioEncoder],
    target: Callable[[AudioEncoder], nn.Module],
    *,
    weights: Path | None,
    device: str,
    seed: int,
    strict: bool,
    trust_checkpoint: bool,
    ignore_unexpected: tuple[str, ...] = (),
    adapt: Callable[[Mapping[str, Tensor]], Mapping[str, Tensor]] | None = None,
) -> Any:
    """Construct an OPERA encoder, seeded, and load a checkpoint into it when given.

    Parameters
    ----------
    make : callable
        ``WeightsInfo → AudioEncoder``; called under ``seeded(seed)`` so that
        random initialisation is reproducible and the caller's RNG is untouched.
    target : callable
        The submodule whose ``state_dict`` uses the released key layout.
    weights : Path or None
        A released ``.ckpt`` (Lightning ``{"state_dict": ...}``), an AcuLa
        checkpoint (``audio_model_state_dict``), a raw state dict or a
        ``.safetensors`` file; ``None`` → seeded random initialisation.
    ignore_unexpected : tuple of str
        Key prefixes present in releases but unused (pre-training heads).
    adapt : callable, optional
        Maps the file's state onto ``target``'s layout (e.g. drops a wrapper).

    Returns
    -------
    AudioEncoder
        On ``device``, in eval mode.

    Raises
    ------
    CheckpointError
        Unreadable or unsafe file, or keys/shapes that do not fit, naming the file and the layers.
    """
    if weights is None:
        with seeded(seed):
            encoder = make(WeightsInfo.random_init(seed))
        return encoder.to(device).eval()
    weights = Path(weights)
    state = unwrap_state_dict(load_checkpoint(weights, trust=trust_checkpoint), path=str(weights))
    if adapt is not None:
        state = adapt(state)
    with seeded(seed):
        encoder = make(WeightsInfo("pretrained", str(weights), file_sha256(weights)))
    fit_state_dict(target(encoder), state, strict=strict, source=str(weights), ignore_unexpected=ignore_unexpected)
    return encoder.to(device).eval()


def equal_length_batch(waves: Sequence[Tensor] | Tensor, encoder: str) -> Tensor:
    """Stack waveforms that must share one length (fixed windows) into (B, n_samples) float32.

    A (B, n_samples) tensor (the extraction pipeline's stacked batch) is used as it is.
    """
    if isinstance(waves, Tensor) and waves.dim() == 2:
        return waves.detach().float()
    lengths = sorted({int(w.reshape(-1).shape[0]) for w in waves})
    if len(lengths) != 1:
        raise ValueError(
            f"{encoder} embeds fixed-length windows, got lengths {lengths[:5]} samples in one batch; "
            f"cut recordings with acubench.audio.iter_windows(wave, 16000, spec.clip) first"
        )
    return torch.stack([w.detach().reshape(-1).float() for w in waves])


def nested(module: nn.Module, path: str) -> nn.Module:
    """Wrap ``module`` in empty containers so its keys read ``<path>.<key>``.

    The released CE/CT checkpoints hold the backbone under the attribute chain
    of OPERA's wrappers (``encoder.encoder.htsat.*`` for CT); building the same
    chain keeps ``state_dict`` in that layout with no key rewriting.
    """
    for name in reversed(path.split(".")):
        outer = nn.Module()
        outer.add_module(name, module)
        module = outer
    return module


def nan_pad(seqs: list[Tensor]) -> Tensor:
    """Stack (T_i, F) tensors into (B, T_max, F), NaN beyond each one's end."""
    out = seqs[0].new_full((len(seqs), max(s.shape[0] for s in seqs), seqs[0].shape[1]), float("nan"))
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out


class WholeClipOpera(AudioEncoder):
    """Shared by OPERA-CE and -CT, which embed each clip whole at its own length.

    Their batches are (B, T_max, 64) log-mels with NaN rows beyond each clip's
    end (none when the clips are equally long), and their token outputs are
    NaN where a shorter clip has no tokens; pooling ignores the NaN.
    """

    def pool(self, tokens: Tensor) -> Tensor:
        """Mean over each clip's own tokens: (B, N, D) → (B, D)."""
        return torch.nanmean(tokens, dim=1)

    def mask_inputs(self, inputs: Tensor, mask_ratio: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """As the base class (hidden frames take the clip's mean), ignoring NaN padding."""
        b, t = inputs.shape[0], inputs.shape[1]
        valid = ~torch.isnan(inputs[..., 0])
        mask = (torch.rand(b, t, generator=generator).to(inputs.device) < mask_ratio) & valid
        fill = torch.nanmean(inputs, dim=(1, 2), keepdim=True).expand_as(inputs)
        return torch.where(mask.unsqueeze(-1), fill, inputs), mask
