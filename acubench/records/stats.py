"""Uncertainty and paired tests for test-split metrics: subject bootstrap, DeLong, Holm.

Test clips are not independent: one subject gives several recordings (three chest
sites, repeated coughs), so every resampling here draws *subjects* (the unit) and
takes all their clips along. For classification the draw is stratified by which
classes a subject's clips hold (as pROC stratifies cases and controls), so every
resample keeps every class and AUROC stays defined.

Everything is vectorised over resamples: a draw is a matrix of per-subject counts
``(B, n_units)``, a clip's weight is its subject's count, and the metrics below are
weighted forms that equal the plain metric (and scikit-learn's) for unit weights.

* :func:`bootstrap` — a percentile interval for one fit's headline metric.
* :func:`replicates` — the metric under each resample of a shared draw, so two
  rows resampled with the same draw are paired (:func:`paired_p`).
* :func:`delong` — DeLong's test for two correlated AUROCs on the same clips, by
  Sun & Xu's midrank algorithm (IEEE Signal Process. Lett. 21(11), 2014), with
  the structural components summed per subject when subjects hold several clips
  (the clustered form of Obuchowski, Biometrics 53, 1997); with one clip per
  subject it is exactly DeLong, DeLong & Clarke-Pearson (Biometrics 44, 1988).
* :func:`holm` — Holm's step-down adjustment of a family of p-values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Kind = Literal["binary", "multiclass", "regression"]

#: Default number of bootstrap resamples, and the coverage of every interval.
RESAMPLES = 1000
LEVEL = 0.95
#: Clip weights held in memory at once (resamples × clips), bounding the working set to ~32 MiB per array.
_CHUNK = 1 << 22


@dataclass(frozen=True)
class ClipScores:
    """One fit's test predictions, as the statistics need them.

    Parameters
    ----------
    kind : {"binary", "multiclass", "regression"}
    y : ndarray, shape (n,)
        Class codes ``0 … n_classes-1`` (binary: 1 is the positive class) or regression targets.
    score : ndarray, shape (n,) or (n, n_classes)
        Binary: the positive-class score; multiclass: one column per class;
        regression: the prediction (target units).
    unit : ndarray of int, shape (n,)
        Resampling unit of each clip (its subject; for leave-one-subject-out, its fold), ``0 … n_units-1``.
    n_classes : int
        0 for regression.
    per_unit : bool
        The metric is the mean over units of each unit's metric (leave-one-subject-out
        regression: the mean of per-fold MAEs) rather than one metric over all clips.
    """

    kind: Kind
    y: np.ndarray
    score: np.ndarray
    unit: np.ndarray
    n_classes: int = 0
    per_unit: bool = False
    n_units: int = field(init=False)

    def __post_init__(self) -> None:
        if self.kind not in ("binary", "multiclass", "regression"):
            raise ValueError(f"kind must be binary, multiclass or regression, got {self.kind!r}")
        y, unit = np.asarray(self.y), np.asarray(self.unit)
        score = np.asarray(self.score, dtype=np.float64)
        if y.ndim != 1 or unit.shape != y.shape or score.shape[0] != y.shape[0]:
            raise ValueError(f"y {y.shape}, score {score.shape} and unit {unit.shape} must have one row per clip")
        if not len(y):
            raise ValueError("no test clips")
        if self.kind == "multiclass" and (score.ndim != 2 or score.shape[1] != self.n_classes):
            raise ValueError(f"multiclass scores must have shape (n, {self.n_classes}), got {score.shape}")
        if self.kind != "multiclass" and score.ndim != 1:
            raise ValueError(f"{self.kind} scores must have shape (n,), got {score.shape}")
        if not np.all(np.isfinite(score)):
            raise ValueError("scores hold NaN or Inf")
        if not np.issubdtype(unit.dtype, np.integer) or unit.min() < 0:
            raise ValueError("unit must hold non-negative integer indices")
        object.__setattr__(self, "y", y.astype(np.float64) if self.kind == "regression" else y.astype(np.int64))
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "unit", unit.astype(np.int64))
        object.__setattr__(self, "n_units", int(unit.max()) + 1)

    @classmethod
    def from_groups(cls, kind: Kind, y: np.ndarray, score: np.ndarray, groups: Sequence[Any], *, n_classes: int = 0,
                    per_unit: bool = False) -> ClipScores:
        """Build from any hashable group label per clip (subject ids), numbered in sorted order."""
        _, unit = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        return cls(kind, y, score, unit.reshape(-1), n_classes, per_unit)

    @property
    def classes_present(self) -> np.ndarray:
        return np.unique(self.y) if self.kind != "regression" else np.array([], dtype=np.int64)

    def strata(self) -> np.ndarray:
        """Stratum of each unit: for classification the set of classes its clips hold, else one stratum."""
        if self.kind == "regression":
            return np.zeros(self.n_units, dtype=np.int64)
        present = np.zeros((self.n_units, int(self.y.max()) + 1), dtype=bool)
        present[self.unit, self.y] = True
        return np.unique(present, axis=0, return_inverse=True)[1].reshape(-1)


# -- resampling -------------------------------------------------------------------------------------------------


def draw(strata: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Subject counts of ``resamples`` bootstrap draws, stratified.

    Parameters
    ----------
    strata : ndarray of int, shape (n_units,)
        Stratum of each unit; each stratum is resampled with replacement to its own size.
    resamples : int
    seed : int
        Seeds :func:`numpy.random.default_rng`; the same seed and strata give the same draw.

    Returns
    -------
    ndarray of int, shape (resamples, n_units)
        How often each unit is drawn in each resample (rows sum to ``n_units``).
    """
    strata = np.asarray(strata)
    n = len(strata)
    rng = np.random.default_rng(seed)
    picks = np.empty((resamples, n), dtype=np.int64)
    col = 0
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        picks[:, col:col + len(members)] = members[rng.integers(0, len(members), size=(resamples, len(members)))]
        col += len(members)
    flat = picks + (np.arange(resamples, dtype=np.int64) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=resamples * n).reshape(resamples, n)


def _weighted_auroc(positive: np.ndarray, score: np.ndarray, unit: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUROC for each row of unit ``counts`` (B, n_units); ties count one half.

    A clip weighs as often as its unit is drawn. With the negatives sorted by score
    and ``C`` their cumulative weight, a positive of score s sees ``C[<s]`` negatives
    below it and ``C[≤s] − C[<s]`` tied: no sort or tie grouping per resample.
    Counts stay integers (int32 arrays, int64 sums): exact, and half the memory
    traffic of floats.
    """
    counts = counts.astype(np.int32, copy=False)
    neg_order = np.argsort(score[~positive], kind="mergesort")
    neg_scores = score[~positive][neg_order]
    pos_scores = score[positive]
    cum = np.zeros((len(counts), len(neg_scores) + 1), dtype=np.int32)
    np.cumsum(counts[:, unit[~positive][neg_order]], axis=1, out=cum[:, 1:])  # (B, n_neg + 1)
    w_pos = counts[:, unit[positive]]  # (B, n_pos)
    below = np.searchsorted(neg_scores, pos_scores, side="left")
    upto = np.searchsorted(neg_scores, pos_scores, side="right")
    if np.array_equal(below, upto):  # no positive ties a negative
        num = 2 * np.einsum("bi,bi->b", w_pos, cum[:, below], dtype=np.int64)
    else:
        num = np.einsum("bi,bi->b", w_pos, cum[:, below] + cum[:, upto], dtype=np.int64)
    den = 2 * w_pos.sum(axis=1, dtype=np.int64) * cum[:, -1].astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def _metric(cs: ClipScores, counts: np.ndarray) -> np.ndarray:
    """The headline metric under each row of unit ``counts`` (B, n_units)."""
    if cs.per_unit:  # mean over units of each unit's MAE
        per = np.bincount(cs.unit, weights=np.abs(cs.score - cs.y), minlength=cs.n_units)
        size = np.bincount(cs.unit, minlength=cs.n_units)
        with np.errstate(invalid="ignore", divide="ignore"):
            return counts @ (per / np.maximum(size, 1)) / counts.sum(axis=1)
    if cs.kind == "regression":  # a clip weighs as often as its subject is drawn
        per = np.bincount(cs.unit, weights=np.abs(cs.score - cs.y), minlength=cs.n_units)
        size = np.bincount(cs.unit, minlength=cs.n_units)
        counts = counts.astype(np.float64)
        return counts @ per / (counts @ size)
    if cs.kind == "binary":
        return _weighted_auroc(cs.y == 1, cs.score, cs.unit, counts)
    # np.mean over the classes present, as metrics.auroc (sklearn's macro one-vs-rest) averages them.
    return np.mean([_weighted_auroc(cs.y == c, cs.score[:, c], cs.unit, counts) for c in cs.classes_present],
                   axis=0)


def replicates(cs: ClipScores, counts: np.ndarray) -> np.ndarray:
    """The headline metric under each resample: shape (B,), in the metric's units.

    ``counts`` comes from :func:`draw` over the same units; two fits scored with
    one ``counts`` are paired (resample b holds the same subjects for both).
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] != cs.n_units:
        raise ValueError(f"counts must have shape (B, {cs.n_units}), got {counts.shape}")
    step = max(1, _CHUNK // max(1, len(cs.y)))
    return np.concatenate([_metric(cs, counts[i:i + step]) for i in range(0, len(counts), step)])


def point(cs: ClipScores) -> float:
    """The headline metric on all clips (every unit once)."""
    return float(_metric(cs, np.ones((1, cs.n_units), dtype=np.int64))[0])


def percentile_interval(reps: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates (NaN replicates are dropped)."""
    reps = np.asarray(reps, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return (math.nan, math.nan)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(reps, [tail, 100 - tail])
    return (float(lo), float(hi))


def no_interval_reason(cs: ClipScores) -> str | None:
    """Why ``cs`` admits no bootstrap interval, or ``None`` when it does."""
    if cs.kind != "regression" and len(cs.classes_present) < 2:
        return (f"the test set holds one class only (class {int(cs.classes_present[0])}): AUROC and its interval "
                "are undefined")
    strata = cs.strata()
    if all(np.sum(strata == s) < 2 for s in np.unique(strata)):
        return f"too few subjects to resample ({cs.n_units} test subject(s), none sharing a stratum)"
    return None


@dataclass(frozen=True)
class Interval:
    """A bootstrap interval and how it was made.

    ``ci`` is ``(low, high)`` in the metric's units, or ``None`` with ``info["reason"]``.
    """

    ci: tuple[float, float] | None
    info: dict[str, Any]


def bootstrap(cs: ClipScores, *, resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL) -> Interval:
    """Percentile interval of one fit's headline metric over a stratified subject bootstrap.

    Parameters
    ----------
    cs : ClipScores
    resamples : int
        Number of resamples; 0 turns the interval off.
    seed : int
        Seeds the draw (:func:`draw`); recorded in ``info``.
    level : float
        Coverage of the interval.

    Returns
    -------
    Interval
        ``info`` records ``resamples``, ``seed``, ``level``, ``unit`` and
        ``n_units``, or the reason there is no interval.
    """
    if resamples < 0:
        raise ValueError(f"resamples must be >= 0, got {resamples}")
    info: dict[str, Any] = {"method": "percentile", "unit": "subject", "stratified": cs.kind != "regression",
                            "resamples": int(resamples), "seed": int(seed), "level": level, "n_units": cs.n_units}
    if resamples == 0:
        return Interval(None, {**info, "reason": "bootstrap turned off (--bootstrap 0)"})
    reason = no_interval_reason(cs)
    if reason:
        return Interval(None, {**info, "reason": reason})
    return Interval(percentile_interval(replicates(cs, draw(cs.strata(), resamples, seed)), level), info)


# -- paired tests ---------------------------------------------------------------------------------------------


def paired_p(delta_reps: np.ndarray) -> float:
    """Two-sided paired-bootstrap p-value of ``Δ = 0`` from the replicates of Δ.

    ``2 · min(P*(Δ ≤ 0), P*(Δ ≥ 0))`` with the add-one correction
    ``(k + 1) / (B + 1)``, capped at 1: the smallest level at which the
    percentile interval of Δ excludes 0. Identical fits (every Δ* = 0) give 1.
    """
    d = np.asarray(delta_reps, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not len(d):
        return math.nan
    tail = min(np.sum(d <= 0), np.sum(d >= 0))
    return float(min(1.0, 2.0 * (tail + 1) / (len(d) + 1)))


def _midrank(x: np.ndarray) -> np.ndarray:
    """Midranks (1-based; tied values share the mean of their ranks), as in Sun & Xu's Algorithm 1."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    bounds = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1], True])
    mid = (bounds[:-1] + 1 + bounds[1:]) / 2.0
    out = np.empty(len(x))
    out[order] = np.repeat(mid, np.diff(bounds))
    return out


@dataclass(frozen=True)
class DeLong:
    """DeLong's comparison of two AUROCs on the same clips.

    ``auc`` (a, b); ``cov`` the 2×2 covariance of the two estimates; ``delta`` =
    a − b; ``z`` and the two-sided ``p``; ``clustered`` whether subjects held
    several clips (then the variance is taken over subjects).
    """

    auc: tuple[float, float]
    cov: np.ndarray
    delta: float
    z: float
    p: float
    clustered: bool


def delong(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, unit: np.ndarray | None = None) -> DeLong:
    """DeLong's test of AUROC(a) = AUROC(b) for two scores of the same clips.

    Parameters
    ----------
    y : ndarray of {0, 1}, shape (n,)
    score_a, score_b : ndarray, shape (n,)
        Positive-class scores of the two fits.
    unit : ndarray of int, shape (n,), optional
        Subject of each clip. When some subject holds several clips, the
        structural components (Sun & Xu's placement values) are summed per
        subject and their covariance taken over subjects (Obuchowski 1997);
        the factors ``I₁₀/(I₁₀−1)`` and ``I₀₁/(I₀₁−1)`` (subjects with positive,
        resp. negative clips) make it DeLong's estimate exactly when every
        subject holds one clip.

    Returns
    -------
    DeLong
        ``p`` is 1 when the two scores rank the clips identically (Δ = 0 and no
        variance), and NaN when fewer than two subjects hold positive (or
        negative) clips.
    """
    y = np.asarray(y)
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs positive and negative clips")
    scores = np.vstack([np.asarray(score_a, dtype=np.float64), np.asarray(score_b, dtype=np.float64)])  # (2, m+n)
    unit = np.arange(len(y)) if unit is None else np.asarray(unit)
    # Sun & Xu: positives first, then negatives; three midrankings per score give every placement value.
    x, z = scores[:, pos], scores[:, ~pos]
    v10 = np.empty((2, m))
    v01 = np.empty((2, n))
    for k in range(2):
        tz = _midrank(np.r_[x[k], z[k]])
        v10[k] = (tz[:m] - _midrank(x[k])) / n      # share of negatives below each positive (ties ½)
        v01[k] = 1.0 - (tz[m:] - _midrank(z[k])) / m  # share of positives above each negative
    auc = v10.mean(axis=1)
    _, u = np.unique(unit, return_inverse=True)
    u = u.reshape(-1)
    n_units = int(u.max()) + 1
    clustered = n_units < len(y)
    # Per subject: summed placements minus their expectation (a_k = V10(k) − m_k·θ, b_k = V01(k) − n_k·θ).
    a = np.stack([np.bincount(u[pos], weights=v10[k], minlength=n_units) for k in range(2)])
    b = np.stack([np.bincount(u[~pos], weights=v01[k], minlength=n_units) for k in range(2)])
    m_k = np.bincount(u[pos], minlength=n_units)
    n_k = np.bincount(u[~pos], minlength=n_units)
    a -= m_k * auc[:, None]
    b -= n_k * auc[:, None]
    i10, i01 = int(np.sum(m_k > 0)), int(np.sum(n_k > 0))
    if i10 < 2 or i01 < 2:
        return DeLong((float(auc[0]), float(auc[1])), np.full((2, 2), np.nan), float(auc[0] - auc[1]), math.nan,
                      math.nan, clustered)
    s10 = i10 / (i10 - 1) * (a @ a.T) / m ** 2
    s01 = i01 / (i01 - 1) * (b @ b.T) / n ** 2
    s11 = n_units / (n_units - 1) * (a @ b.T) / (m * n)  # zero when no subject holds both classes
    cov = s10 + s01 + s11 + s11.T
    delta = float(auc[0] - auc[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 1e-300 or not math.isfinite(var):
        zval, p = (0.0, 1.0) if abs(delta) < 1e-15 else (math.copysign(math.inf, delta), 0.0)
    else:
        zval = delta / math.sqrt(var)
        p = math.erfc(abs(zval) / math.sqrt(2.0))
    return DeLong((float(auc[0]), float(auc[1])), cov, delta, zval, p, clustered)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given; NaN stays NaN and is not counted).

    The i-th smallest of m p-values becomes ``max_{j ≤ i} min(1, (m − j + 1) · p_(j))``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out.tolist()
    order = ok[np.argsort(p[ok], kind="mergesort")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out.tolist()
