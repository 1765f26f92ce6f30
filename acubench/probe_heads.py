"""Probe heads on frozen embeddings: linear, MLP, LightGBM, and the reference linear evaluation.

Every head is a small object built with one hyper-parameter setting and a seed,
with ``fit(X, y)`` and ``predict(X)``; ``predict`` returns class-probability rows
(n, C) for classification and values (n,) for regression. Each head class lists
the settings validation may choose from in ``GRID``. Inputs are float arrays
(n, D); :mod:`acubench.probe` standardises them on the training split first
(except for :class:`ReferenceLinear`, which reproduces a protocol that did not).
"""

from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor

from acubench.metrics import auroc, mae


class Head:
    """Base: one hyper-parameter setting of a probe head.

    Parameters
    ----------
    kind : {"binary", "multiclass", "regression"}
    n_classes : int
        Number of classes (0 for regression).
    params : dict
        One entry of the class's ``GRID``.
    seed : int
        Seeds every random choice of the head.
    options : mapping
        Task-level probe options (only :class:`ReferenceLinear` reads them).
    """

    GRID: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    #: Whether the fitted head is a deterministic function of the data (then one fit serves every seed).
    DETERMINISTIC: ClassVar[bool] = False

    def __init__(self, kind: str, n_classes: int, params: Mapping[str, Any], seed: int,
                 options: Mapping[str, Any] | None = None) -> None:
        self.kind, self.n_classes, self.params, self.seed = kind, n_classes, dict(params), seed
        self.options = dict(options or {})

    @property
    def classification(self) -> bool:
        return self.kind != "regression"

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> "Head":
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _full_proba(self, proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Probability rows over all ``n_classes``, for a model that saw only ``classes`` in training."""
        out = np.zeros((proba.shape[0], self.n_classes))
        out[:, classes.astype(int)] = proba
        return out


class LinearProbe(Head):
    """Logistic regression (softmax for > 2 classes) or ridge regression; strength chosen on validation.

    Classes are weighted inversely to their frequency (``class_weight="balanced"``):
    several tasks are heavily imbalanced (ICBHI COPD vs healthy is 444 : 18), and an
    unweighted L2-penalised fit then puts almost no effort into the minority class.
    AUROC depends only on the ranking of scores, so the reweighting does not bias
    the metric (calibration, which it would change, is not scored).
    """

    GRID = tuple({"C": c} for c in (1e-3, 1e-2, 1e-1, 1.0, 10.0))
    REGRESSION_GRID = tuple({"alpha": a} for a in (0.1, 1.0, 10.0, 100.0, 1000.0))
    DETERMINISTIC = True

    @classmethod
    def grid(cls, kind: str) -> tuple[dict[str, Any], ...]:
        return cls.REGRESSION_GRID if kind == "regression" else cls.GRID

    def fit(self, X, y, X_val=None, y_val=None):
        if self.classification:
            self.model = LogisticRegression(C=self.params["C"], class_weight="balanced", max_iter=1000)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.model.fit(X, y)
        else:
            self.model = Ridge(alpha=self.params["alpha"]).fit(X, y)
        return self

    def predict(self, X):
        if self.classification:
            return self._full_proba(self.model.predict_proba(X), self.model.classes_)
        return self.model.predict(X)


class MLPProbe(Head):
    """One hidden layer (ReLU) trained with Adam, L2 strength ``alpha`` chosen on validation.

    Regression targets are standardised with the training mean and std for the fit
    and mapped back, so ``alpha`` means the same for every target's units.
    """

    GRID = tuple({"hidden": 256, "alpha": a} for a in (1e-3, 1e-1, 10.0))

    def fit(self, X, y, X_val=None, y_val=None):
        common = dict(hidden_layer_sizes=(self.params["hidden"],), alpha=self.params["alpha"], max_iter=200,
                      learning_rate_init=1e-3, random_state=self.seed, tol=1e-4, n_iter_no_change=10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.classification:
                self.model = MLPClassifier(**common).fit(X, y)
            else:
                self.mean, self.std = float(np.mean(y)), float(np.std(y)) or 1.0
                self.model = MLPRegressor(**common).fit(X, (y - self.mean) / self.std)
        return self

    def predict(self, X):
        if self.classification:
            return self._full_proba(self.model.predict_proba(X), self.model.classes_)
        return self.model.predict(X) * self.std + self.mean


class LightGBMProbe(Head):
    """Gradient-boosted trees (LightGBM), deterministic given the seed; leaves and rate chosen on validation.

    Rows and features are subsampled (seeded); up to 400 rounds with early
    stopping on the validation split, which also serves to choose the setting.
    """

    GRID = tuple({"num_leaves": nl, "learning_rate": lr} for nl in (7, 31) for lr in (0.05,))

    def fit(self, X, y, X_val=None, y_val=None):
        import lightgbm as lgb

        common = dict(n_estimators=400, num_leaves=self.params["num_leaves"],
                      learning_rate=self.params["learning_rate"], subsample=0.8, subsample_freq=1,
                      colsample_bytree=0.5, min_child_samples=5, random_state=self.seed, deterministic=True,
                      force_row_wise=True, n_jobs=2, verbose=-1)
        if self.classification:
            self.model = lgb.LGBMClassifier(class_weight="balanced", **common)
        else:
            self.model = lgb.LGBMRegressor(**common)
        evaluation: dict[str, Any] = {}
        if X_val is not None and len(X_val):
            evaluation["callbacks"] = [lgb.early_stopping(30, verbose=False)]
            # LightGBM 4.6 renamed eval_set to eval_X/eval_y; accept both generations.
            if "eval_X" in inspect.signature(self.model.fit).parameters:
                evaluation.update(eval_X=(X_val,), eval_y=(y_val,))
            else:
                evaluation["eval_set"] = [(X_val, y_val)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.model.fit(X, y, **evaluation)
        return self

    def predict(self, X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if self.classification:
                return self._full_proba(self.model.predict_proba(X), self.model.classes_)
            return self.model.predict(X)


class ReferenceLinear(Head):
    """The OPERA benchmark's linear evaluation, reproduced (REFERENCE.md §3).

    A ``torch.nn.Linear`` head (weights N(0, 0.01), bias 0) trained with Adam at
    lr 1e-4, the rate multiplied by 0.97 after every epoch; loss
    ``CrossEntropy(logits + 1e-10) + l2_strength · Σ p²`` over all head
    parameters (bias included), or, for regression, MSE in the target's units
    on ``head(x) · std + mean`` (training mean/std); gradient norm clipped at 1;
    shuffled mini-batches; the epoch with the best validation AUROC (lowest
    validation MAE for regression) is the one scored. Features are *not*
    standardised: the reference did not, and this head exists to reproduce it.

    Options (from the task's ``probe_options``): ``epochs`` (64), ``batch_size``
    (64), ``l2_strength`` (1e-5), ``early_stopping_patience`` (none: stop when the
    validation MAE has not improved by ``early_stopping_min_delta`` (0.001) for
    that many epochs, as the reference's MMLung runs).
    """

    LR, DECAY = 1e-4, 0.97

    def fit(self, X, y, X_val=None, y_val=None):
        opts = self.options
        epochs, batch = int(opts.get("epochs", 64)), int(opts.get("batch_size", 64))
        l2 = float(opts.get("l2_strength", 1e-5))
        patience = opts.get("early_stopping_patience")
        min_delta = float(opts.get("early_stopping_min_delta", 0.001))
        gen = torch.Generator().manual_seed(self.seed)
        xt = torch.as_tensor(X, dtype=torch.float32)
        out = self.n_classes if self.classification else 1
        head = torch.nn.Linear(xt.shape[1], out)
        with torch.no_grad():
            head.weight.normal_(0.0, 0.01, generator=gen)
            head.bias.zero_()
        if self.classification:
            yt = torch.as_tensor(y, dtype=torch.long)
            loss_fn: Callable = lambda out_, tgt: torch.nn.functional.cross_entropy(out_ + 1e-10, tgt)
        else:
            yt = torch.as_tensor(y, dtype=torch.float32)
            self.mean, self.std = float(yt.mean()), float(yt.std()) or 1.0
            loss_fn = lambda out_, tgt: torch.nn.functional.mse_loss(out_[:, 0] * self.std + self.mean, tgt)
        self.head = head
        opt = torch.optim.Adam(head.parameters(), lr=self.LR)
        best, best_state, stale = None, copy.deepcopy(head.state_dict()), 0
        self.best_epoch = 0
        for epoch in range(epochs):
            order = torch.randperm(len(xt), generator=gen)
            for start in range(0, len(xt), batch):
                idx = order[start:start + batch]
                loss = loss_fn(head(xt[idx]), yt[idx]) + l2 * sum((p ** 2).sum() for p in head.parameters())
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
                opt.step()
            for group in opt.param_groups:
                group["lr"] = self.LR * self.DECAY ** (epoch + 1)
            if X_val is None or not len(X_val):
                best_state, self.best_epoch = copy.deepcopy(head.state_dict()), epoch + 1
                continue
            score = self._val_score(X_val, y_val)
            early = bool(patience) and not self.classification
            progressed = best is None or score > best + (min_delta if early else 0.0)
            if best is None or score > best:
                best, best_state, self.best_epoch = score, copy.deepcopy(head.state_dict()), epoch + 1
            stale = 0 if progressed else stale + 1
            if early and stale >= int(patience):
                break
        head.load_state_dict(best_state)
        return self

    def _val_score(self, X_val, y_val) -> float:
        """Higher is better: validation AUROC, or minus validation MAE."""
        pred = self.predict(X_val)
        if self.classification:
            if len(np.unique(y_val)) < 2:
                return 0.0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return auroc(y_val, pred, self.n_classes)
        return -mae(y_val, pred)

    def predict(self, X):
        with torch.no_grad():
            out = self.head(torch.as_tensor(X, dtype=torch.float32))
            if self.classification:
                return torch.softmax(out, dim=1).double().numpy()
            return (out[:, 0] * self.std + self.mean).double().numpy()


HEADS: dict[str, type[Head]] = {
    "linear": LinearProbe,
    "mlp": MLPProbe,
    "lightgbm": LightGBMProbe,
    "reference-linear": ReferenceLinear,
}


def grid(probe: str, kind: str) -> tuple[dict[str, Any], ...]:
    """The hyper-parameter settings validation chooses from for ``probe`` on a ``kind`` task."""
    cls = HEADS[probe]
    return cls.grid(kind) if hasattr(cls, "grid") else cls.GRID
