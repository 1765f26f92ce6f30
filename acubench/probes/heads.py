"""The built-in probe heads on frozen embeddings: linear, MLP, LightGBM, and the reference linear evaluation.

Each is a :class:`~acubench.probe_base.Head` (one hyper-parameter setting and a
seed, ``fit``/``predict``), declared in :mod:`acubench.probes`, which the
registry reads without importing this module (torch and scikit-learn load only
when a probe is fitted). Each head class lists the settings validation may choose
from in ``GRID``. Inputs are float arrays (n, D); :mod:`acubench.engine.probe`
standardises them on the training split first where the head's spec asks for it
(not for :class:`ReferenceLinear`, which reproduces a protocol that did not).
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor

from acubench.probe_base import Head
from acubench.records.metrics import auroc, mae


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

    DEFAULT: ClassVar[dict[str, Any]] = {"C": 1.0}
    REGRESSION_DEFAULT: ClassVar[dict[str, Any]] = {"alpha": 1.0}

    @classmethod
    def grid(cls, kind: str) -> tuple[dict[str, Any], ...]:
        return cls.REGRESSION_GRID if kind == "regression" else cls.GRID

    @classmethod
    def default(cls, kind: str) -> dict[str, Any]:
        return dict(cls.REGRESSION_DEFAULT if kind == "regression" else cls.DEFAULT)

    def fit(self, X, y, X_val=None, y_val=None):
        if self.classification:
            self.model_ = LogisticRegression(C=self.params["C"], class_weight="balanced", max_iter=1000)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                self.model_.fit(X, y)
        else:
            self.model_ = Ridge(alpha=self.params["alpha"]).fit(X, y)
        return self

    def predict(self, X):
        if self.classification:
            return self._full_proba(self.model_.predict_proba(X), self.model_.classes_)
        return self.model_.predict(X)


class MLPProbe(Head):
    """One hidden layer (ReLU) trained with Adam, L2 strength ``alpha`` chosen on validation.

    Regression targets are standardised with the training mean and std for the fit
    and mapped back, so ``alpha`` means the same for every target's units.
    """

    GRID = tuple({"hidden": 256, "alpha": a} for a in (1e-3, 1e-1, 10.0))
    DEFAULT: ClassVar[dict[str, Any]] = {"hidden": 256, "alpha": 1e-1}

    def fit(self, X, y, X_val=None, y_val=None):
        common = dict(hidden_layer_sizes=(self.params["hidden"],), alpha=self.params["alpha"], max_iter=200,
                      learning_rate_init=1e-3, random_state=self.seed, tol=1e-4, n_iter_no_change=10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.classification:
                self.model_ = MLPClassifier(**common).fit(X, y)
            else:
                self.mean_, self.std_ = float(np.mean(y)), float(np.std(y)) or 1.0
                self.model_ = MLPRegressor(**common).fit(X, (y - self.mean_) / self.std_)
        return self

    def predict(self, X):
        if self.classification:
            return self._full_proba(self.model_.predict_proba(X), self.model_.classes_)
        return self.model_.predict(X) * self.std_ + self.mean_


class LightGBMProbe(Head):
    """Gradient-boosted trees (LightGBM), deterministic given the seed; leaves and rate chosen on validation.

    Rows and features are subsampled (seeded) and features binned coarsely (63
    bins), which keeps a fit on (1000, 768) embeddings to about a second; up to
    300 rounds with early stopping on the validation split, which also serves to
    choose the setting.
    One thread: the fitted trees then do not depend on the machine's core count,
    and on these small tables more threads mostly add contention.
    """

    GRID = tuple({"num_leaves": nl, "learning_rate": 0.1} for nl in (7, 31))
    DEFAULT: ClassVar[dict[str, Any]] = {"num_leaves": 31, "learning_rate": 0.1}

    def fit(self, X, y, X_val=None, y_val=None):
        import lightgbm as lgb

        common = dict(n_estimators=300, num_leaves=self.params["num_leaves"],
                      learning_rate=self.params["learning_rate"], subsample=0.8, subsample_freq=1,
                      colsample_bytree=0.3, max_bin=63, min_child_samples=5, random_state=self.seed, deterministic=True,
                      force_row_wise=True, n_jobs=1, verbose=-1)
        if self.classification:
            self.model_ = lgb.LGBMClassifier(class_weight="balanced", **common)
        else:
            self.model_ = lgb.LGBMRegressor(**common)
        evaluation: dict[str, Any] = {}
        if X_val is not None and len(X_val):
            evaluation["callbacks"] = [lgb.early_stopping(20, verbose=False)]
            # LightGBM 4.6 renamed eval_set to eval_X/eval_y; accept both generations.
            if "eval_X" in inspect.signature(self.model_.fit).parameters:
                evaluation.update(eval_X=(X_val,), eval_y=(y_val,))
            else:
                evaluation["eval_set"] = [(X_val, y_val)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.model_.fit(X, y, **evaluation)
        return self

    def predict(self, X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if self.classification:
                return self._full_proba(self.model_.predict_proba(X), self.model_.classes_)
            return self.model_.predict(X)


class ReferenceLinear(Head):
    """The OPERA benchmark's linear evaluation, reproduced (REFERENCE.md §3 and §1.11).

    A ``torch.nn.Linear`` head (weights N(0, 0.01), bias 0) trained with Adam
    (β 0.9/0.999, ε 1e-8) at lr 1e-4, the rate multiplied by 0.97 after every
    epoch; loss ``CrossEntropy(logits + 1e-10) + l2_strength · Σ p²`` over all
    head parameters (bias included), or, for regression, MSE in the target's
    units on ``head(x) · std + mean`` (training mean and population std, as
    ``np.std``); gradient norm clipped at 1; shuffled mini-batches (seeded); the
    epoch with the best validation AUROC (lowest validation MAE for regression;
    ties keep the earlier epoch) is the one scored. Features are *not*
    standardised: the reference did not, and this head exists to reproduce it.

    The gradients of this one-layer loss are written out in closed form and the
    Adam and clipping updates follow ``torch.optim.Adam`` and
    ``torch.nn.utils.clip_grad_norm_`` term by term, so a run equals the
    autograd one to float32 rounding (the tests pin that) at a fraction of the
    per-step overhead.

    Options (from the task's ``probe_options``): ``epochs`` (64), ``batch_size``
    (64), ``l2_strength`` (1e-5); ``early_stopping_patience`` (none) with
    ``early_stopping_min_delta`` (0.001): regression only, stop once the
    validation MAE has not beaten the last improvement by more than the delta for
    that many epochs (Lightning's ``EarlyStopping``, as the reference's MMLung
    runs); ``checkpoint_every_n_epochs`` (1): consider only every n-th epoch for
    the best checkpoint, the reference's ``ModelCheckpoint(every_n_epochs=n)``
    quirk for KAUH and SSBPR (if training ends before the first such epoch, the
    last epoch is scored).
    """

    LR, DECAY, BETAS, EPS = 1e-4, 0.97, (0.9, 0.999), 1e-8

    def fit(self, X, y, X_val=None, y_val=None):
        opts = self.options
        epochs, batch = int(opts.get("epochs", 64)), int(opts.get("batch_size", 64))
        l2 = float(opts.get("l2_strength", 1e-5))
        patience = opts.get("early_stopping_patience")
        min_delta = float(opts.get("early_stopping_min_delta", 0.001))
        every = max(1, int(opts.get("checkpoint_every_n_epochs", 1)))
        early = bool(patience) and not self.classification
        if X_val is not None and self.classification and len(np.unique(y_val)) < 2:
            X_val = None  # AUROC cannot rank epochs on a one-class validation split: keep the last epoch
        gen = torch.Generator().manual_seed(self.seed)
        xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
        n_out = self.n_classes if self.classification else 1
        self.head_ = torch.nn.Linear(xt.shape[1], n_out)
        with torch.no_grad():
            self.head_.weight.normal_(0.0, 0.01, generator=gen)
            self.head_.bias.zero_()
        params = [self.head_.weight.data, self.head_.bias.data]
        if self.classification:
            target = torch.nn.functional.one_hot(torch.as_tensor(np.asarray(y), dtype=torch.long), n_out).float()
        else:
            target = torch.as_tensor(np.asarray(y), dtype=torch.float32)
            self.mean_, self.std_ = float(np.mean(y)), float(np.std(y)) or 1.0
        exp_avg = [torch.zeros_like(p) for p in params]
        exp_sq = [torch.zeros_like(p) for p in params]
        (b1, b2), step, lr = self.BETAS, 0, self.LR
        best = best_state = None
        es_best, stale, trained, best_epoch = None, 0, 0, 0
        for epoch in range(epochs):
            order = torch.randperm(len(xt), generator=gen)
            for start in range(0, len(xt), batch):
                idx = order[start:start + batch]
                xb = xt[idx]
                z = torch.addmm(params[1], xb, params[0].t())
                if self.classification:
                    # d/dz of mean CE(z + 1e-10): (softmax − one-hot) / B; the constant shift leaves softmax as is.
                    dz = (torch.softmax(z + 1e-10, dim=1) - target[idx]) / len(idx)
                else:
                    dz = (2.0 * self.std_ / len(idx)) * (z[:, 0] * self.std_ + self.mean_ - target[idx])[:, None]
                grads = [dz.t() @ xb + (2.0 * l2) * params[0], dz.sum(0) + (2.0 * l2) * params[1]]
                total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
                clip = torch.clamp(1.0 / (total + 1e-6), max=1.0)
                step += 1
                c1, c2 = 1 - b1 ** step, (1 - b2 ** step) ** 0.5
                for p, g, m, v in zip(params, grads, exp_avg, exp_sq, strict=True):
                    g.mul_(clip)
                    m.lerp_(g, 1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    p.addcdiv_(m, v.sqrt().div_(c2).add_(self.EPS), value=-lr / c1)
            lr = self.LR * self.DECAY ** (epoch + 1)
            trained = epoch + 1
            if X_val is None:
                continue
            score = self._val_score(X_val, y_val)
            if trained % every == 0 and (best is None or score > best):
                best, best_state, best_epoch = score, [p.clone() for p in params], trained
            if early:
                # Lightning's EarlyStopping: progress is measured against the last *improvement*, not the best epoch.
                if es_best is None or score > es_best + min_delta:
                    es_best, stale = score, 0
                else:
                    stale += 1
                    if stale >= int(patience):
                        break
        if best_state is not None:
            for p, saved in zip(params, best_state, strict=True):
                p.copy_(saved)
        #: The epoch (1-based) whose weights are kept; the last trained one when validation chose none.
        self.best_epoch_ = best_epoch if best_state is not None else trained
        return self

    def fit_info_(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch_}

    def _val_score(self, X_val, y_val) -> float:
        """Higher is better: validation AUROC, or minus validation MAE."""
        pred = self.predict(X_val)
        if self.classification:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return auroc(y_val, pred, self.n_classes)
        return -mae(y_val, pred)

    def predict(self, X):
        with torch.no_grad():
            out = self.head_(torch.as_tensor(np.asarray(X), dtype=torch.float32))
            if self.classification:
                return torch.softmax(out, dim=1).double().numpy()
            return (out[:, 0] * self.std_ + self.mean_).double().numpy()
