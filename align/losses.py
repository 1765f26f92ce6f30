"""Alignment losses between projected audio features and projected teacher features.

All functions take two batches of paired features, ``x`` (B, Dx) and ``y``
(B, Dy), row ``i`` of one paired with row ``i`` of the other, and return a
scalar loss to minimise. They compute in at least float32 whatever the
input dtype (CKA's products of centred Gram matrices lose too much in bf16).

``cka``
    Linear CKA (Kornblith et al., ICML 2019) on the B×B sample Gram matrices:
    ``HSIC(K, L) / sqrt(HSIC(K, K) · HSIC(L, L))`` with ``K = X Xᵀ``,
    ``L = Y Yᵀ`` and centring ``H = I − 11ᵀ/B``. Invariant to orthogonal
    transforms and isotropic scaling of either side; it depends on which
    audio goes with which report. Loss = 1 − CKA.
``cka-debiased``
    Linear CKA with the unbiased HSIC estimator of Song et al. (JMLR 2012),
    as Nguyen, Raghu & Kornblith (ICLR 2021) use it: the biased estimator
    above is inflated for small batches of wide features (unrelated 512-d
    features at B = 24 already give ≈ 0.95), the unbiased one is centred on
    0 for unrelated features at any batch size. Needs B ≥ 4; it can be
    slightly negative. Loss = 1 − CKA.
``cka-rbf``
    The same with Gaussian kernels ``exp(−‖a − b‖² / (2σ²))``, σ = ``sigma``
    × the median pairwise distance of the batch (Kornblith et al.'s
    heuristic). The bandwidth is treated as a constant for the gradient.
``acula-reference``
    The AcuLa repository's ``compute_alignment_loss`` verbatim: a cosine
    between the two D×D *feature* covariance matrices (REFERENCE.md §4.2).
    It needs Dx == Dy, is not rotation invariant and ignores the pairing
    (shuffling the reports within a batch leaves it unchanged). Offered only
    to reproduce the reference.
``infonce``
    Symmetric InfoNCE (CLIP's loss) on L2-normalised features with a fixed
    temperature, for ablations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from acubench.align.choices import ALIGN_LOSSES  # noqa: F401  (re-exported for callers and tests)
from acubench.align.lossspec import get_loss

AlignLoss = Callable[[Tensor, Tensor], Tensor]

_EPS = 1e-12


def _at_least_fp32(t: Tensor) -> Tensor:
    return t.to(torch.promote_types(t.dtype, torch.float32))


def _check_pair(x: Tensor, y: Tensor) -> None:
    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"expected two (B, D) feature batches, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"paired batches differ in size: {x.shape[0]} vs {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError("CKA needs at least 2 pairs per batch")


def _hsic_cka(k: Tensor, l: Tensor) -> Tensor:
    """CKA of two B×B kernel matrices, centring both (the scale factors of HSIC cancel)."""
    k = k - k.mean(dim=0, keepdim=True) - k.mean(dim=1, keepdim=True) + k.mean()
    l = l - l.mean(dim=0, keepdim=True) - l.mean(dim=1, keepdim=True) + l.mean()
    hsic_kl = (k * l).sum()
    return hsic_kl / torch.sqrt((k * k).sum() * (l * l).sum()).clamp_min(_EPS)


def linear_cka(x: Tensor, y: Tensor) -> Tensor:
    """Linear CKA in [0, 1] of paired batches ``x`` (B, Dx) and ``y`` (B, Dy)."""
    _check_pair(x, y)
    x, y = _at_least_fp32(x), _at_least_fp32(y)
    return _hsic_cka(x @ x.T, y @ y.T)


def _unbiased_hsic(k: Tensor, l: Tensor) -> Tensor:
    """Song et al. (2012) eq. 5 on B×B kernels, up to the factor 1/(B(B−3)) that cancels in CKA.

    With ``K̃``, ``L̃`` the kernels with zeroed diagonals:
    ``tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((B−1)(B−2)) − 2/(B−2) · 1ᵀK̃L̃1``.
    """
    n = k.shape[0]
    off = 1.0 - torch.eye(n, dtype=k.dtype, device=k.device)
    k, l = k * off, l * off
    k_rows, l_rows = k.sum(dim=1), l.sum(dim=1)
    return ((k * l).sum() + k_rows.sum() * l_rows.sum() / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (k_rows * l_rows).sum())


def debiased_linear_cka(x: Tensor, y: Tensor) -> Tensor:
    """Linear CKA of paired batches ``x`` (B, Dx), ``y`` (B, Dy) with the unbiased HSIC estimator.

    Centred on 0 for unrelated features, 1 for identical ones up to rotation
    and scale; B ≥ 4. The denominator is clamped at a tiny positive value,
    since an unbiased estimate of ``HSIC(K, K)`` can dip below zero for
    nearly constant features.
    """
    _check_pair(x, y)
    if x.shape[0] < 4:
        raise ValueError(f"debiased CKA needs at least 4 pairs, got {x.shape[0]}")
    x, y = _at_least_fp32(x), _at_least_fp32(y)
    # Centring the features first leaves the unbiased HSIC unchanged and keeps the Gram entries small.
    x, y = x - x.mean(dim=0, keepdim=True), y - y.mean(dim=0, keepdim=True)
    k, l = x @ x.T, y @ y.T
    return _unbiased_hsic(k, l) / torch.sqrt((_unbiased_hsic(k, k) * _unbiased_hsic(l, l)).clamp_min(_EPS))


def _rbf_kernel(x: Tensor, sigma: float) -> Tensor:
    sq = torch.cdist(x, x).pow(2)
    off = sq[~torch.eye(x.shape[0], dtype=torch.bool, device=x.device)]
    # Median heuristic on distances (not squared); detached: the bandwidth is a setting, not a target.
    bandwidth = sigma * torch.quantile(off.detach().clamp_min(0).sqrt(), 0.5).clamp_min(1e-6)
    return torch.exp(-sq / (2 * bandwidth ** 2))


def rbf_cka(x: Tensor, y: Tensor, *, sigma: float = 1.0) -> Tensor:
    """RBF-kernel CKA in [0, 1]; ``sigma`` scales the median-distance bandwidth."""
    _check_pair(x, y)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    x, y = _at_least_fp32(x), _at_least_fp32(y)
    return _hsic_cka(_rbf_kernel(x, sigma), _rbf_kernel(y, sigma))


def acula_reference_similarity(x: Tensor, y: Tensor) -> Tensor:
    """The AcuLa repository's "CKA": cosine of the feature covariance matrices XᵀX and YᵀY.

    Raises
    ------
    ValueError
        If the feature dimensions differ (the formula multiplies D×D matrices elementwise).
    """
    _check_pair(x, y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"acula-reference needs equal feature sizes, got {x.shape[1]} and {y.shape[1]}")
    x, y = _at_least_fp32(x), _at_least_fp32(y)
    x = x - x.mean(dim=0, keepdim=True)
    y = y - y.mean(dim=0, keepdim=True)
    gx, gy = x.T @ x, y.T @ y
    return (gx * gy).sum() / (torch.sqrt((gx * gx).sum()) * torch.sqrt((gy * gy).sum())).clamp_min(_EPS)


def info_nce(x: Tensor, y: Tensor, *, temperature: float = 0.07) -> Tensor:
    """Symmetric InfoNCE: cross-entropy of matching pair ``i`` to ``i`` both ways, averaged."""
    _check_pair(x, y)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"infonce needs equal feature sizes, got {x.shape[1]} and {y.shape[1]}")
    logits = F.normalize(_at_least_fp32(x), dim=1) @ F.normalize(_at_least_fp32(y), dim=1).T / temperature
    target = torch.arange(x.shape[0], device=x.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def cka_loss(config: Any) -> AlignLoss:
    """``1 − linear_cka`` (factory of the ``cka`` :class:`~acubench.align.lossspec.LossSpec`)."""
    return lambda x, y: 1.0 - linear_cka(x, y)


def debiased_cka_loss(config: Any) -> AlignLoss:
    """``1 − debiased_linear_cka`` (``cka-debiased``)."""
    return lambda x, y: 1.0 - debiased_linear_cka(x, y)


def rbf_cka_loss(config: Any) -> AlignLoss:
    """``1 − rbf_cka`` at ``config.rbf_sigma`` (``cka-rbf``)."""
    return lambda x, y: 1.0 - rbf_cka(x, y, sigma=config.rbf_sigma)


def acula_reference_loss(config: Any) -> AlignLoss:
    """``1 − acula_reference_similarity`` (``acula-reference``)."""
    return lambda x, y: 1.0 - acula_reference_similarity(x, y)


def infonce_loss(config: Any) -> AlignLoss:
    """Symmetric InfoNCE at ``config.temperature`` (``infonce``)."""
    return lambda x, y: info_nce(x, y, temperature=config.temperature)


def make_alignment_loss(name: str, config: Any = None) -> AlignLoss:
    """The loss to minimise for a registered loss id (:func:`acubench.align.lossspec.get_loss`).

    Parameters
    ----------
    name : str
    config : AlignConfig, optional
        Settings the loss reads (``rbf_sigma``, ``temperature``); default the paper preset's.

    Raises
    ------
    LossSpecError
        For an unknown name (the message lists the registered losses).
    """
    if config is None:
        from acubench.align.presets import PAPER as config
    return get_loss(name).build(config)
