"""Alignment losses as plugins: a declaration per loss, looked up by id.

A loss is one :class:`LossSpec`: its id, a lazy ``"module:function"``
reference to the factory that builds it from an
:class:`~acubench.align.presets.AlignConfig`, and the properties the trainer
and zero-shot scoring need to know about it, declared instead of inferred
from its name. Built-in losses are listed in :data:`BUILTIN_LOSSES`; a
plugin contributes more through the ``acubench_align_losses`` hook, so a new
loss is one module (its function, its spec, a hookimpl) and nothing else
changes. This module imports no torch, so the command line can list the
losses cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acubench.errors import AcubenchError
from acubench.specs import resolve_ref


class LossSpecError(AcubenchError, ValueError):
    """A malformed loss declaration, or an unknown loss id."""


@dataclass(frozen=True)
class LossSpec:
    """What an alignment loss is and what it needs.

    Parameters
    ----------
    id : str
        The name ``--align-loss`` takes.
    factory : str
        ``"module:function"``; ``function(config) -> loss(x, y) -> Tensor``,
        with ``x`` (B, Dx) the audio side and ``y`` (B, Dy) the teacher side,
        row ``i`` paired with row ``i``; the scalar returned is minimised.
    description : str
        One line for ``--help`` and the docs.
    rotation_invariant : bool
        The loss compares the two sides only up to rotation (and scale) of
        either, as CKA does: zero-shot scoring must first map one space onto
        the other (:func:`acubench.align.heads.fit_space_map`). ``False`` for
        losses that train the coordinates to agree (InfoNCE's cosine).
    needs_equal_dims : bool
        Both sides must have the same width (``acula-reference``, ``infonce``).
    uses_pairing : bool
        The loss depends on which report goes with which recording
        (``acula-reference`` does not: REFERENCE.md §4.2).
    min_batch : int
        Smallest batch the loss is defined on.
    settings : tuple of str
        :class:`~acubench.align.presets.AlignConfig` fields the factory reads.
    """

    id: str
    factory: str
    description: str
    rotation_invariant: bool = True
    needs_equal_dims: bool = False
    uses_pairing: bool = True
    min_batch: int = 2
    settings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.id or self.id != self.id.strip():
            raise LossSpecError(f"loss id must be a non-empty name, got {self.id!r}")
        if ":" not in self.factory:
            raise LossSpecError(f"loss {self.id}: factory must be 'module:function', got {self.factory!r}")
        if self.min_batch < 2:
            raise LossSpecError(f"loss {self.id}: min_batch must be >= 2, got {self.min_batch}")

    def build(self, config: Any) -> Callable:
        """The loss function for ``config`` (an ``AlignConfig``)."""
        return resolve_ref(self.factory)(config)


_L = "acubench.align.losses"

#: The losses acubench ships, in the order ``--help`` lists them.
BUILTIN_LOSSES: tuple[LossSpec, ...] = (
    LossSpec("cka", f"{_L}:cka_loss", "1 − linear CKA (Kornblith et al. 2019), biased HSIC estimator"),
    LossSpec("cka-debiased", f"{_L}:debiased_cka_loss",
             "1 − linear CKA with the unbiased HSIC estimator (Song et al. 2012; Nguyen et al. 2021)", min_batch=4),
    LossSpec("cka-rbf", f"{_L}:rbf_cka_loss", "1 − RBF-kernel CKA, bandwidth rbf_sigma × the median distance",
             settings=("rbf_sigma",)),
    LossSpec("acula-reference", f"{_L}:acula_reference_loss",
             "AcuLa's code: 1 − cosine of the two feature covariance matrices (ignores the pairing)",
             rotation_invariant=False, needs_equal_dims=True, uses_pairing=False),
    LossSpec("infonce", f"{_L}:infonce_loss", "symmetric InfoNCE (CLIP) at a fixed temperature",
             rotation_invariant=False, needs_equal_dims=True, settings=("temperature",)),
)

BUILTIN_IDS: tuple[str, ...] = tuple(s.id for s in BUILTIN_LOSSES)


def loss_specs() -> dict[str, LossSpec]:
    """Every registered loss by id: the built-ins, then those of plugins (``acubench_align_losses``).

    Raises
    ------
    LossSpecError
        If a plugin returns something other than a LossSpec, or an id twice.
    """
    from acubench.plugins import plugin_manager

    found = {s.id: s for s in BUILTIN_LOSSES}
    pm = plugin_manager()
    for impl in pm.hook.acubench_align_losses.get_hookimpls():
        name = pm.get_name(impl.plugin) or repr(impl.plugin)
        for spec in impl.function() or ():
            if not isinstance(spec, LossSpec):
                raise LossSpecError(f"plugin {name!r}: acubench_align_losses returned {type(spec).__name__}, "
                                    f"expected LossSpec")
            if spec.id in found:
                raise LossSpecError(f"plugin {name!r}: alignment loss {spec.id!r} is already registered; rename it "
                                    f"or --disable-plugin {name}")
            found[spec.id] = spec
    return found


def get_loss(name: str) -> LossSpec:
    """The spec of loss ``name``; an unknown name lists the registered ones."""
    if name in BUILTIN_IDS:
        return next(s for s in BUILTIN_LOSSES if s.id == name)
    specs = loss_specs()
    if name not in specs:
        raise LossSpecError(f"unknown alignment loss {name!r}; registered: {', '.join(specs)}")
    return specs[name]
