"""The probe-head contract: what a head (or a scorer) is, for built-ins and plugins alike.

A head is a small object built with one hyper-parameter setting and a seed, with
``fit(X, y, X_val, y_val)`` and ``predict(X)``; ``predict`` returns
class-probability rows (n, C) for classification and values (n,) for regression.
Its :class:`~acubench.specs.ProbeSpec` declares what the harness needs to know
(whether features are standardised, whether one fit serves every seed, whether
it trains at all, which task options it reads), so the harness never branches on
a head's name. This module imports numpy only, so a plugin's declaration module
can import it without paying for torch or scikit-learn.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np


class JointSpace(Protocol):
    """An aligned encoder's shared audio–text space, as a scorer reads it.

    Built by the caller that composes a run (for AcuLa checkpoints:
    :class:`acubench.align.zeroshot.AlignedSpace`) and handed to heads through
    :attr:`ProbeContext.space`, so a scorer needs neither the checkpoint nor
    the teacher itself.

    Attributes
    ----------
    temperature : float
        Softmax temperature of similarities in this space (> 0).
    """

    temperature: float

    def audio(self, X: np.ndarray) -> np.ndarray:
        """Clip embeddings (n, D) of the aligned encoder → unit vectors (n, S) in the joint space."""

    def text(self, sentences: Sequence[str]) -> np.ndarray:
        """Sentences → unit vectors (m, S) in the joint space (through the teacher)."""

    def describe(self) -> dict[str, Any]:
        """What a result record keeps about the space (checkpoint, teacher, temperature), JSON-ready."""


@dataclass(frozen=True)
class ProbeContext:
    """What a head may need beyond the arrays: the task's spec, the encoder that embedded the clips and,
    for an aligned encoder, its joint audio–text space.

    A scorer that does not train (``ProbeSpec.trains=False``, e.g. zero-shot
    classification with an aligned encoder) reads its class prompts from
    ``task`` and compares clips with them in ``space``; trained heads ignore
    all three. ``space`` is ``None`` for an encoder that was not aligned.
    """

    task: Any = None
    encoder: Any = None
    space: JointSpace | None = None


class Head(ABC):
    """Base: one hyper-parameter setting of a probe head.

    Parameters
    ----------
    kind : {"binary", "multiclass", "regression"}
    n_classes : int
        Number of classes (0 for regression).
    params : dict
        One entry of :meth:`grid` (or :meth:`default`).
    seed : int
        Seeds every random choice of the head.
    options : mapping
        The task's probe options this head declares (``ProbeSpec.options``).
    context : ProbeContext, optional
        The task and the encoder (see :class:`ProbeContext`).

    Fitted state carries a trailing underscore (``model_``), as in scikit-learn.
    """

    GRID: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    #: The setting used when validation cannot rank settings (it holds one class only).
    DEFAULT: ClassVar[dict[str, Any]] = {}

    def __init__(self, kind: str, n_classes: int, params: Mapping[str, Any], seed: int,
                 options: Mapping[str, Any] | None = None, context: ProbeContext | None = None) -> None:
        self.kind, self.n_classes, self.params, self.seed = kind, n_classes, dict(params), seed
        self.options = dict(options or {})
        self.context = context or ProbeContext()

    @classmethod
    def grid(cls, kind: str) -> tuple[dict[str, Any], ...]:
        """The settings validation chooses from on a ``kind`` task."""
        return cls.GRID

    @classmethod
    def default(cls, kind: str) -> dict[str, Any]:
        """The setting used on a ``kind`` task when validation cannot choose."""
        return dict(cls.DEFAULT)

    @property
    def classification(self) -> bool:
        return self.kind != "regression"

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> Head:
        """Fit on (n, D) features; ``X_val``/``y_val`` for heads that stop or select on validation."""
        raise NotImplementedError(f"{type(self).__name__} does not train (its ProbeSpec says trains=False)")

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probability rows (n, n_classes) for classification, values (n,) for regression."""

    def fit_info_(self) -> dict[str, Any]:
        """Fitted facts worth recording in the result's ``hyperparams`` (e.g. the epoch kept)."""
        return {}

    def _full_proba(self, proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Probability rows over all ``n_classes``, for a model that saw only ``classes`` in training."""
        out = np.zeros((proba.shape[0], self.n_classes))
        out[:, classes.astype(int)] = proba
        return out
