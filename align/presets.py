"""Named alignment configurations: ``paper`` (AcuLa's settings, corrected), ``reference`` (AcuLa's code
exactly) and ``demo`` (a CPU-sized run).

A run's configuration is a preset plus explicit overrides (command-line
flags or the ``overrides`` dict of the Python API); :func:`resolve_config`
checks every override's name and type, so a typo fails before any work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from acubench.align.choices import ALIGN_TARGETS, CONTROLS, POOLINGS, PRESET_NAMES, WINDOWINGS
from acubench.align.lossspec import LossSpecError, get_loss
from acubench.errors import AcubenchError


class AlignConfigError(AcubenchError, ValueError):
    """An unknown preset, an unknown setting, or a setting with an invalid value."""


@dataclass(frozen=True)
class AlignConfig:
    """Every setting of an alignment run.

    Parameters
    ----------
    epochs : int
    batch_size : int
        Pairs per forward pass (per process under DDP).
    grad_accum : int
        Forward passes per optimiser step.
    lr, weight_decay : float
        AdamW settings.
    warmup_steps : int
        Optimiser steps of linear warm-up, then linear decay to 0 at the end.
    lambda_align, lambda_mam : float
        Weights of the alignment and masked-modelling losses.
    align_loss : str
        A registered loss (:mod:`acubench.align.lossspec`): ``cka``,
        ``cka-debiased``, ``cka-rbf``, ``acula-reference``, ``infonce`` or a plugin's.
    align_target : {"embedding", "heads"}
        What the loss compares. ``heads`` (AcuLa): both sides pass through a
        trainable projection MLP first. ``embedding``: the encoder's pooled
        embedding (what the probes read) against the frozen teacher vectors,
        with no head on either side, so the loss can only fall by moving the
        encoder (trainable heads on a small corpus fit the training pairs
        themselves and leave the encoder where it was).
    control : {"none", "shuffled-reports"}
        ``shuffled-reports`` permutes the reports over the training
        recordings (seeded), keeping everything else: the control that
        tells alignment to the reports from the effect of training at all.
    rbf_sigma : float
        ``cka-rbf`` bandwidth, a multiple of the median distance.
    temperature : float
        ``infonce`` temperature.
    proj_dim, proj_hidden : int
        Shared-space size and hidden width of both projection heads.
    dropout : float
        Dropout of the projection heads.
    mask_ratio : float
        Fraction of frames hidden by the generic masked-modelling head
        (encoders with their own ``ssl_loss`` use their own masking).
    windowing : {"policy", "reference"}
        ``policy``: the encoder's clip policy, a seeded random window per
        epoch. ``reference``: AcuLa's loader, the first 8.1875 s of each
        recording, zero-padded or cut, no silence trimming.
    clip_seconds : float or None
        Cap on the input length (s): windowed encoders get windows of at most
        this length, whole-clip encoders are cropped to it. ``None``: the
        encoder's own clip policy (AcuLa/OPERA-GT: 8.18 s windows).
    max_pairs : int or None
        Use a seeded random subset of at most this many training pairs.
    val_fraction : float
        Fraction of subjects held out for validation (0 disables validation).
    max_val_pairs : int or None
        Cap on held-out pairs evaluated per epoch.
    augment : bool
        Apply waveform augmentations to training audio (AcuLa defined but never applied them).
    augment_p : float
        Probability of each augmentation per example.
    teacher_pooling, teacher_layer, max_text_length, lowercase_reports
        See :class:`acubench.align.teacher.Teacher`.
    teacher_cache : bool
        Pre-compute teacher vectors once (cached on disk); ``False`` runs the
        teacher on every batch, as AcuLa does (for timing comparisons).
    save_every : int
        Epochs between resumable checkpoints.
    clip_grad_norm : float
        Gradient norm clipping (AcuLa: 1.0); 0 disables it.
    precision : {"fp32", "bf16"}
        ``bf16`` autocast, CUDA only.
    num_workers : int
        Audio-loading worker processes.
    """

    epochs: int = 50
    batch_size: int = 24
    grad_accum: int = 2
    lr: float = 1e-5
    weight_decay: float = 1e-2
    warmup_steps: int = 400
    lambda_align: float = 1.0
    lambda_mam: float = 1.0
    align_loss: str = "cka-debiased"
    align_target: str = "embedding"
    control: str = "none"
    rbf_sigma: float = 1.0
    temperature: float = 0.07
    proj_dim: int = 512
    proj_hidden: int = 1024
    dropout: float = 0.2
    mask_ratio: float = 0.7
    windowing: str = "policy"
    clip_seconds: float | None = None
    max_pairs: int | None = None
    val_fraction: float = 0.1
    max_val_pairs: int | None = None
    augment: bool = True
    augment_p: float = 0.5
    teacher_pooling: str = "mean"
    teacher_layer: int = -1
    max_text_length: int = 128
    lowercase_reports: bool = False
    teacher_cache: bool = True
    save_every: int = 10
    clip_grad_norm: float = 1.0
    precision: str = "fp32"
    num_workers: int = 0

    def __post_init__(self) -> None:
        def need(cond: bool, message: str) -> None:
            if not cond:
                raise AlignConfigError(message)

        for name in ("epochs", "batch_size", "grad_accum", "proj_dim", "proj_hidden", "max_text_length", "save_every"):
            need(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        need(self.batch_size >= 2, "batch_size must be >= 2 (CKA compares samples within a batch)")
        need(self.lr > 0, f"lr must be positive, got {self.lr}")
        need(self.weight_decay >= 0 and self.warmup_steps >= 0, "weight_decay and warmup_steps must be >= 0")
        need(self.lambda_align >= 0 and self.lambda_mam >= 0, "loss weights must be >= 0")
        need(self.lambda_align > 0 or self.lambda_mam > 0, "at least one of lambda_align, lambda_mam must be > 0")
        need(self.align_target in ALIGN_TARGETS,
             f"align_target must be one of {ALIGN_TARGETS}, got {self.align_target!r}")
        need(self.control in CONTROLS, f"control must be one of {CONTROLS}, got {self.control!r}")
        need(self.windowing in WINDOWINGS, f"windowing must be one of {WINDOWINGS}, got {self.windowing!r}")
        try:
            loss = get_loss(self.align_loss)
        except LossSpecError as exc:
            raise AlignConfigError(str(exc)) from None
        need(self.batch_size >= loss.min_batch,
             f"align_loss {loss.id} needs batches of at least {loss.min_batch}, got batch_size {self.batch_size}")
        need(self.teacher_pooling in POOLINGS,
             f"teacher_pooling must be one of {POOLINGS}, got {self.teacher_pooling!r}")
        need(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        need(0.0 < self.mask_ratio < 1.0, "mask_ratio must be in (0, 1)")
        need(0.0 <= self.val_fraction < 1.0, "val_fraction must be in [0, 1)")
        need(0.0 <= self.augment_p <= 1.0, "augment_p must be in [0, 1]")
        need(self.clip_seconds is None or self.clip_seconds > 0, "clip_seconds must be positive")
        need(self.max_pairs is None or self.max_pairs >= 2, "max_pairs must be >= 2")
        need(self.max_val_pairs is None or self.max_val_pairs >= 2, "max_val_pairs must be >= 2")
        need(self.precision in ("fp32", "bf16"), f"precision must be fp32 or bf16, got {self.precision!r}")
        need(self.clip_grad_norm >= 0 and self.num_workers >= 0, "clip_grad_norm and num_workers must be >= 0")
        need(self.rbf_sigma > 0 and self.temperature > 0, "rbf_sigma and temperature must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: AcuLa's ``main.py`` settings (REFERENCE.md §4.3) with acubench's corrections: the
#: debiased sample-Gram CKA on the encoder's own embedding, masked-mean teacher pooling,
#: augmentations applied, the encoder's windowing and a 10 % held-out split of subjects.
#: docs/alignment.md lists every difference from ``reference`` with its reason.
PAPER = AlignConfig()

#: AcuLa's code as released, for reproduction: its covariance "CKA", both projection
#: MLPs trained, padding-inclusive teacher mean, lowercased reports, no augmentation,
#: no held-out split, the first 8.1875 s of each recording.
REFERENCE = replace(PAPER, align_loss="acula-reference", align_target="heads", teacher_pooling="mean-with-padding",
                    lowercase_reports=True, augment=False, val_fraction=0.0, windowing="reference")

#: A short CPU run on the demo corpus: 2.05 s inputs (64 OPERA frames, the shortest
#: input OPERA-GT's Swin decoder takes), 3 epochs of 4 steps on 64 training pairs, a
#: higher learning rate so that a randomly initialised encoder moves, and 48 held-out
#: pairs (debiased CKA at n = 48 has a spread of about ±0.03 around its floor).
#: docs/alignment.md records the runs behind these numbers.
DEMO = replace(PAPER, epochs=3, batch_size=16, grad_accum=1, lr=3e-4, warmup_steps=2, proj_dim=128,
               proj_hidden=256, clip_seconds=2.05, max_pairs=64, val_fraction=0.2, max_val_pairs=48,
               save_every=1)

PRESETS: dict[str, AlignConfig] = dict(zip(PRESET_NAMES, (DEMO, PAPER, REFERENCE), strict=True))


def resolve_config(preset: str, overrides: Mapping[str, Any] | None = None) -> AlignConfig:
    """A preset with ``overrides`` applied (``None`` values mean "keep the preset's").

    Raises
    ------
    AlignConfigError
        For an unknown preset or setting (listing the valid ones) or a bad value.
    """
    if preset not in PRESETS:
        raise AlignConfigError(f"unknown alignment preset {preset!r}; choose from {', '.join(PRESETS)}")
    names = {f.name: f for f in fields(AlignConfig)}
    changes: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in names:
            raise AlignConfigError(f"unknown alignment setting {key!r}; settings: {', '.join(sorted(names))}")
        if value is None:
            continue
        default = getattr(PAPER, key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise AlignConfigError(f"alignment setting {key} must be true/false, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
            if not value.is_integer():
                raise AlignConfigError(f"alignment setting {key} must be an integer, got {value!r}")
            value = int(value)
        changes[key] = value
    return replace(PRESETS[preset], **changes)
