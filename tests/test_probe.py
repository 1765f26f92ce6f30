"""The probe harness: every head learns separable data, ignores shuffled labels, is deterministic;
protocols keep subjects apart; reference-linear matches a hand-rolled reimplementation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from acubench import probe as probe_mod
from acubench.probe import PROBES, evaluate, evaluate_seeds
from acubench.probe_heads import ReferenceLinear


def _classification(n=240, d=16, shift=3.0, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, d))
    X[:, 0] += shift * y
    subject = np.array([f"s{i // 2}" for i in range(n)])
    split = np.array(["train", "train", "train", "val", "test"])[(np.arange(n) // 2) % 5]
    return X.astype(np.float32), y, split, subject


@pytest.mark.parametrize("head", PROBES)
def test_separable_is_learnt_and_shuffled_is_chance(head):
    X, y, split, subject = _classification()
    # The reference's lr 1e-4 needs many small steps to move a head initialised at N(0, 0.01).
    opts = {"epochs": 64, "batch_size": 8} if head == "reference-linear" else {}
    good = evaluate(X * 3, y, split, subject, kind="binary", n_classes=2, protocol="fixed", probe=head, seed=0,
                    options=opts)
    assert good.value > 0.9
    assert (good.n_train, good.n_val, good.n_test) == (144, 48, 48)
    shuffled = np.random.default_rng(1).permutation(y)
    chance = evaluate(X, shuffled, split, subject, kind="binary", n_classes=2, protocol="fixed", probe=head, seed=0,
                      options=opts)
    assert 0.25 < chance.value < 0.75


def test_multiclass_and_regression():
    X, y, split, subject = _classification(n_classes=3)
    out = evaluate(X, y, split, subject, kind="multiclass", n_classes=3, protocol="fixed", probe="linear", seed=0)
    assert out.value > 0.9 and set(out.metrics) == {"auroc"}
    rng = np.random.default_rng(0)
    target = 2.0 * X[:, 1] + 5.0 + 0.05 * rng.normal(size=len(X))
    reg = evaluate(X, target, split, subject, kind="regression", n_classes=0, protocol="fixed", probe="linear", seed=0)
    assert reg.value < 0.2 and set(reg.metrics) == {"mae", "mape", "rmse"}


@pytest.mark.parametrize("head", ["linear", "mlp", "lightgbm"])
def test_same_seed_same_outcome(head):
    X, y, split, subject = _classification(shift=0.7)
    a = evaluate(X, y, split, subject, kind="binary", n_classes=2, protocol="fixed", probe=head, seed=3)
    b = evaluate(X, y, split, subject, kind="binary", n_classes=2, protocol="fixed", probe=head, seed=3)
    assert a == b


def test_seeds_change_stochastic_heads_not_the_linear_one():
    X, y, split, subject = _classification(shift=0.5)
    kw = dict(kind="binary", n_classes=2, protocol="fixed")
    lin = evaluate_seeds(X, y, split, subject, seeds=[0, 1, 2], probe="linear", **kw)
    assert len({o.value for o in lin}) == 1
    mlp = evaluate_seeds(X, y, split, subject, seeds=[0, 1, 2], probe="mlp", **kw)
    assert len({o.value for o in mlp}) > 1
    assert [o.value for o in mlp] == [evaluate(X, y, split, subject, probe="mlp", seed=s, **kw).value for s in (0, 1, 2)]


def test_missing_validation_is_carved_from_train_subjects():
    X, y, split, subject = _classification()
    split = np.where(split == "val", "train", split)
    out = evaluate(X, y, split, subject, kind="binary", n_classes=2, protocol="fixed", probe="linear", seed=0)
    assert out.hyperparams["validation"].startswith("carved") and out.n_val > 0
    assert out.n_train + out.n_val == int((split == "train").sum())


def test_loso_folds_keep_subjects_apart(monkeypatch):
    rng = np.random.default_rng(0)
    subject = np.repeat([f"p{i}" for i in range(8)], 5)
    X = rng.normal(size=(40, 6))
    target = X[:, 0] * 2 + 10
    seen = []
    real = probe_mod._select_and_fit

    def spy(probe, X_, y_, tr, va, **kw):
        seen.append((set(subject[tr]), set(subject[va])))
        return real(probe, X_, y_, tr, va, **kw)

    monkeypatch.setattr(probe_mod, "_select_and_fit", spy)
    out = evaluate(X, target, np.full(40, "pool"), subject, kind="regression", n_classes=0, protocol="loso",
                   probe="linear", seed=0)
    assert len(out.fold_values) == 8 and len(seen) == 8
    held = [p for p in dict.fromkeys(subject)]
    for (train_subjects, val_subjects), test_subject in zip(seen, held):
        assert test_subject not in train_subjects | val_subjects
        assert not train_subjects & val_subjects and val_subjects
    assert out.value == pytest.approx(np.mean(out.fold_values))
    assert out.metrics["mae_std"] == pytest.approx(np.std(out.fold_values))


def test_nan_embeddings_are_one_clear_error():
    X, y, split, subject = _classification()
    X[[3, 9]] = np.nan
    with pytest.raises(ValueError, match="2 embedding row"):
        evaluate(X, y, split, subject, kind="binary", n_classes=2, protocol="fixed", probe="linear", seed=0)


def _hand_rolled_reference(X, y, Xv, yv, epochs, batch, l2, seed):
    """OPERA's linear evaluation, written out step by step (REFERENCE.md §3)."""
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(X.shape[1], 2)
    with torch.no_grad():
        head.weight.normal_(0.0, 0.01, generator=gen)
        head.bias.zero_()
    opt = torch.optim.Adam(head.parameters(), lr=1e-4)
    xt, yt = torch.tensor(X), torch.tensor(y)
    best, best_state = -1.0, None
    from sklearn.metrics import roc_auc_score

    for epoch in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for s in range(0, len(xt), batch):
            idx = order[s:s + batch]
            logits = head(xt[idx]) + 1e-10
            loss = torch.nn.functional.cross_entropy(logits, yt[idx])
            loss = loss + l2 * (head.weight.pow(2).sum() + head.bias.pow(2).sum())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            opt.step()
        for g in opt.param_groups:
            g["lr"] = 1e-4 * 0.97 ** (epoch + 1)
        with torch.no_grad():
            val = roc_auc_score(yv, torch.softmax(head(torch.tensor(Xv)), 1)[:, 1].numpy())
        if val > best:
            best, best_state = val, copy.deepcopy(head.state_dict())
    head.load_state_dict(best_state)
    return head


def test_reference_linear_matches_a_hand_rolled_run():
    X, y, split, _ = _classification(n=120, d=8, shift=0.8)
    tr, va = split == "train", split == "val"
    ours = ReferenceLinear("binary", 2, {}, seed=5, options={"epochs": 3, "batch_size": 16, "l2_strength": 1e-2})
    ours.fit(X[tr], y[tr], X[va], y[va])
    ref = _hand_rolled_reference(X[tr], y[tr], X[va], y[va], epochs=3, batch=16, l2=1e-2, seed=5)
    assert torch.allclose(ours.head.weight, ref.weight, atol=1e-7)
    assert torch.allclose(ours.head.bias, ref.bias, atol=1e-7)


def test_reference_linear_regression_stops_early_on_validation_mae():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4)).astype(np.float32)
    target = 3 * X[:, 0] + 20
    head = ReferenceLinear("regression", 0, {}, seed=0,
                           options={"epochs": 64, "batch_size": 16, "l2_strength": 0.1, "early_stopping_patience": 1,
                                    "early_stopping_min_delta": 10.0})
    head.fit(X[:60], target[:60], X[60:], target[60:])
    # Nothing improves by 10 units: it stops after the second epoch, keeping the first or second.
    assert head.best_epoch <= 2
