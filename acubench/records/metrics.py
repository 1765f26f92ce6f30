"""Test-split metrics of the benchmark: AUROC for classification, MAE (with MAPE, RMSE) for regression.

Every function validates its inputs and returns a plain ``float`` equal, bit for
bit, to scikit-learn's value for the same arrays; the tests pin that. The
reference benchmark (OPERA) scored AUROC with torchmetrics
``AUROC(task="multiclass")`` on softmax probabilities, which is the macro
one-vs-rest average computed here (for two classes it equals binary AUROC).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    roc_auc_score,
    root_mean_squared_error,
)

from acubench.specs import HEADLINE  # noqa: F401  (re-exported: the headline metric per task kind)


def _finite(name: str, a: np.ndarray) -> None:
    if not np.all(np.isfinite(a)):
        bad = int(np.sum(~np.isfinite(a).reshape(len(a), -1).all(axis=1)))
        raise ValueError(f"{name} has {bad} row(s) with NaN or Inf; metrics need finite values")


def _as_labels(y_true: np.ndarray, n_classes: int) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D class labels, got shape {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y))):
        raise ValueError("y_true must hold integer class labels 0..n_classes-1")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y_true labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return y


def auroc(y_true: np.ndarray, scores: np.ndarray, n_classes: int) -> float:
    """Area under the ROC curve: binary, or macro one-vs-rest for more than two classes.

    Parameters
    ----------
    y_true : ndarray of int, shape (n,)
        Class labels ``0 … n_classes-1``.
    scores : ndarray of float, shape (n,) or (n, n_classes)
        Binary: the positive-class score (any monotone score), or the
        probability rows, of which column 1 is used. Multiclass: one score per
        class per row (probabilities from a softmax head). Rows need not sum to
        one, unlike :func:`sklearn.metrics.roc_auc_score`'s ``multi_class``
        mode; the value is the same where they do.
    n_classes : int
        Number of classes of the task (≥ 2).

    Returns
    -------
    float
        In [0, 1]. Multiclass: the unweighted mean over classes of each class's
        one-vs-rest AUROC (sklearn ``multi_class="ovr", average="macro"``).

    Warns
    -----
    UserWarning
        A multiclass test split lacks some classes: their one-vs-rest AUROC is
        undefined, so the mean runs over the classes present (named in the warning).

    Raises
    ------
    ValueError
        Fewer than two classes present, shapes that disagree, or NaN/Inf scores.
    """
    if n_classes < 2:
        raise ValueError(f"auroc needs n_classes >= 2, got {n_classes}")
    y = _as_labels(y_true, n_classes)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape[0] != y.shape[0]:
        raise ValueError(f"y_true has {y.shape[0]} rows but scores has {s.shape[0]}")
    _finite("scores", s)
    present = np.unique(y)
    if present.size < 2:
        raise ValueError(f"AUROC is undefined with one class present (only class {present.tolist()} "
                         f"among {y.size} rows)")
    if n_classes == 2:
        if s.ndim == 2:
            if s.shape[1] != 2:
                raise ValueError(f"binary scores must have shape (n,) or (n, 2), got {s.shape}")
            s = s[:, 1]
        elif s.ndim != 1:
            raise ValueError(f"binary scores must have shape (n,) or (n, 2), got {s.shape}")
        return float(roc_auc_score(y, s))
    if s.ndim != 2 or s.shape[1] != n_classes:
        raise ValueError(f"multiclass scores must have shape (n, {n_classes}), got {s.shape}")
    if present.size < n_classes:
        absent = sorted(set(range(n_classes)) - set(present.tolist()))
        warnings.warn(f"classes {absent} are absent from y_true: macro AUROC averages over the "
                      f"{present.size} classes present", UserWarning, stacklevel=2)
    per_class = [roc_auc_score((y == c).astype(np.int64), s[:, c]) for c in present]
    # np.average, as sklearn's _average_binary_score uses, so the result is bit-identical.
    return float(np.average(per_class))


def _values(name: str, a: np.ndarray) -> np.ndarray:
    v = np.asarray(a, dtype=np.float64)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"{name} must have shape (n,) or (n, 1), got {v.shape}")
    _finite(name, v)
    return v


def _regression_pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yt, yp = _values("y_true", y_true), _values("y_pred", y_pred)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has {yt.size} values but y_pred has {yp.size}")
    if yt.size == 0:
        raise ValueError("regression metrics need at least one value")
    return yt, yp


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error, in the target's units. Shapes (n,) or (n, 1)."""
    yt, yp = _regression_pair(y_true, y_pred)
    return float(mean_absolute_error(yt, yp))


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute percentage error, in percent: ``100 · mean(|ŷ − y| / max(|y|, ε))``.

    ``ε`` is float64 machine epsilon (scikit-learn's guard), so a zero target
    gives a large but finite term instead of a division by zero. The reference
    benchmark divided by ``y`` with no guard; for non-zero targets the two agree.
    (The reference also logged test MAPE once ×100 and once as a fraction under
    one key; here it is always percent.)
    """
    yt, yp = _regression_pair(y_true, y_pred)
    return float(100.0 * mean_absolute_percentage_error(yt, yp))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error, in the target's units. Shapes (n,) or (n, 1)."""
    yt, yp = _regression_pair(y_true, y_pred)
    return float(root_mean_squared_error(yt, yp))


def compute_metrics(
    kind: Literal["binary", "multiclass", "regression"],
    y_true: np.ndarray,
    prediction: np.ndarray,
    n_classes: int,
) -> dict[str, float]:
    """All test metrics of a task kind.

    Parameters
    ----------
    kind : {"binary", "multiclass", "regression"}
    y_true : ndarray, shape (n,)
        Labels (classification) or targets (regression).
    prediction : ndarray
        Probability rows, shape (n, n_classes), for classification; values,
        shape (n,), for regression.
    n_classes : int
        Number of classes; ignored for regression.

    Returns
    -------
    dict
        ``{"auroc"}`` for classification; ``{"mae", "mape", "rmse"}`` for regression.
    """
    if kind == "regression":
        return {"mae": mae(y_true, prediction), "mape": mape(y_true, prediction), "rmse": rmse(y_true, prediction)}
    if kind in ("binary", "multiclass"):
        return {"auroc": auroc(y_true, prediction, n_classes)}
    raise ValueError(f"kind must be 'binary', 'multiclass' or 'regression', got {kind!r}")
