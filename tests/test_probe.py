"""The probe harness: every head learns separable data, ignores shuffled labels, is deterministic;
protocols keep subjects apart; reference-linear matches a hand-rolled reimplementation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from acubench.engine import probe as probe_mod
from acubench.engine.probe import evaluate, evaluate_seeds
from acubench.probes import PROBES as BUILTIN
from acubench.probes.heads import ReferenceLinear

#: The heads that learn from embeddings and labels (the zero-shot scorer has its own tests: test_probe_plugins.py).
PROBES = [spec.id for spec in BUILTIN if spec.trains]


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
    assert lin[0] == evaluate(X, y, split, subject, probe="linear", seed=7, **kw)
    for head in ("mlp", "lightgbm", "reference-linear"):
        outs = evaluate_seeds(X, y, split, subject, seeds=[0, 1], probe=head, **kw)
        assert outs[0].value != outs[1].value, head
        assert outs[1] == evaluate(X, y, split, subject, probe=head, seed=1, **kw), head


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
    for (train_subjects, val_subjects), test_subject in zip(seen, held, strict=True):
        assert test_subject not in train_subjects | val_subjects
        assert not train_subjects & val_subjects and val_subjects
    assert out.value == pytest.approx(np.mean(out.fold_values))
    assert out.metrics["mae_std"] == pytest.approx(np.std(out.fold_values))


def test_nan_embeddings_are_one_clear_error():
    X, y, split, subject = _classification()
    X[[3, 9]] = np.nan
    with pytest.raises(ValueError, match="2 embedding row"):
        evaluate(X, y, split, subject, kind="binary", n_classes=2, protocol="fixed", probe="linear", seed=0)


def _hand_rolled_reference(X, y, Xv, yv, *, kind, epochs, batch, l2, seed, every=1):
    """OPERA's linear evaluation written out with autograd, torch.optim.Adam and clip_grad_norm_ (REFERENCE.md §3)."""
    from sklearn.metrics import mean_absolute_error, roc_auc_score

    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(X.shape[1], 2 if kind == "binary" else 1)
    with torch.no_grad():
        head.weight.normal_(0.0, 0.01, generator=gen)
        head.bias.zero_()
    opt = torch.optim.Adam(head.parameters(), lr=1e-4)
    xt = torch.tensor(X)
    if kind == "binary":
        yt = torch.tensor(y)
        forward = head

        def loss_of(out, tgt):
            return torch.nn.functional.cross_entropy(out + 1e-10, tgt)

        def val_score():
            return roc_auc_score(yv, torch.softmax(forward(torch.tensor(Xv)), 1)[:, 1].numpy())
    else:
        yt = torch.tensor(y, dtype=torch.float32)
        mean, std = np.mean(y), np.std(y)  # the reference's np.std: population std

        def forward(x):
            return head(x)[:, 0] * std + mean

        loss_of = torch.nn.functional.mse_loss

        def val_score():
            return -mean_absolute_error(yv, forward(torch.tensor(Xv)).numpy())
    best, best_state = -np.inf, None
    for epoch in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for s in range(0, len(xt), batch):
            idx = order[s:s + batch]
            loss = loss_of(forward(xt[idx]), yt[idx])
            loss = loss + l2 * (head.weight.pow(2).sum() + head.bias.pow(2).sum())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            opt.step()
        for g in opt.param_groups:
            g["lr"] = 1e-4 * 0.97 ** (epoch + 1)
        with torch.no_grad():
            val = val_score()
        if (epoch + 1) % every == 0 and val > best:
            best, best_state = val, copy.deepcopy(head.state_dict())
    head.load_state_dict(best_state)
    return head


@pytest.mark.parametrize("kind, l2, every", [("binary", 1e-2, 1), ("regression", 0.1, 2)])
def test_reference_linear_matches_a_hand_rolled_run(kind, l2, every):
    X, y, split, _ = _classification(n=120, d=8, shift=0.8)
    if kind == "regression":
        y = (3.0 * X[:, 0] + 40.0).astype(np.float64)  # far from the N(0, 0.01) init: the loss clips
    tr, va = split == "train", split == "val"
    options = {"epochs": 4, "batch_size": 16, "l2_strength": l2, "checkpoint_every_n_epochs": every}
    ours = ReferenceLinear(kind, 2 if kind == "binary" else 0, {}, seed=5, options=options)
    with torch.no_grad():
        ours.fit(X[tr], y[tr], X[va], y[va])
    ref = _hand_rolled_reference(X[tr], y[tr], X[va], y[va], kind=kind, epochs=4, batch=16, l2=l2, seed=5, every=every)
    assert ours.best_epoch_ % every == 0
    assert torch.allclose(ours.head_.weight, ref.weight, atol=1e-7, rtol=1e-5)
    assert torch.allclose(ours.head_.bias, ref.bias, atol=1e-7, rtol=1e-5)
    # It must have trained (~lr · steps = 2e-3 per weight), or two untrained heads would pass as equal.
    init = torch.empty_like(ref.weight).normal_(0.0, 0.01, generator=torch.Generator().manual_seed(5))
    assert (ours.head_.weight - init).abs().max() > 1e-3


def test_reference_linear_regression_stops_early_on_validation_mae():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4)).astype(np.float32)
    target = 3 * X[:, 0] + 20
    head = ReferenceLinear("regression", 0, {}, seed=0,
                           options={"epochs": 64, "batch_size": 16, "l2_strength": 0.1, "early_stopping_patience": 1,
                                    "early_stopping_min_delta": 10.0})
    head.fit(X[:60], target[:60], X[60:], target[60:])
    # Nothing improves by 10 units: it stops after the second epoch, keeping the first or second.
    assert head.best_epoch_ <= 2


def test_reference_linear_regression_uses_population_std_and_scores_in_target_units():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    target = 5.0 * X[:, 0] + 100.0
    head = ReferenceLinear("regression", 0, {}, seed=0, options={"epochs": 2, "batch_size": 16})
    head.fit(X[:40], target[:40], X[40:], target[40:])
    assert head.std_ == pytest.approx(float(np.std(target[:40])))  # ddof 0, as the reference's np.std
    assert head.mean_ == pytest.approx(float(np.mean(target[:40])))
    # Barely trained, so it predicts about the training mean, in the target's units.
    assert np.abs(head.predict(X[40:]) - target[:40].mean()).max() < 2.0


def test_one_class_validation_falls_back_to_the_default_setting():
    X, y, split, subject = _classification()
    y = y.copy()
    y[split == "val"] = 1
    out = evaluate(X, y, split, subject, kind="binary", n_classes=2, protocol="fixed", probe="linear", seed=0)
    assert out.hyperparams["C"] == 1.0 and "val_score" not in out.hyperparams


def test_bad_labels_and_targets_are_clear_errors():
    X, y, split, subject = _classification()
    with pytest.raises(ValueError, match=r"integers 0\.\.1"):
        evaluate(X, y + 1, split, subject, kind="binary", n_classes=2, protocol="fixed", probe="linear", seed=0)
    target = X[:, 0].astype(np.float64)
    target[5] = np.inf
    with pytest.raises(ValueError, match="1 regression target"):
        evaluate(X, target, split, subject, kind="regression", n_classes=0, protocol="fixed", probe="linear", seed=0)


def test_constant_features_do_not_make_nan():
    X, y, split, subject = _classification()
    X[:, 3] = 7.0
    X[split == "train", 4] = 1.0  # constant on train only: centred, not divided by a zero std
    out = evaluate(X, y, split, subject, kind="binary", n_classes=2, protocol="fixed", probe="linear", seed=0)
    assert np.isfinite(out.value) and out.value > 0.9


def test_loso_classification_pools_folds_and_row_validation_option():
    rng = np.random.default_rng(0)
    subject = np.repeat([f"p{i}" for i in range(6)], 8)
    y = np.tile([0, 1], 24)
    X = rng.normal(size=(48, 5))
    X[:, 0] += 3 * y
    out = evaluate(X, y, np.full(48, "pool"), subject, kind="binary", n_classes=2, protocol="loso", probe="linear",
                   seed=0)
    assert out.value > 0.9 and out.fold_values == [] and out.hyperparams["auroc"] == "pooled over folds"
    rows = evaluate(X, y, np.full(48, "pool"), subject, kind="binary", n_classes=2, protocol="loso", probe="linear",
                    seed=0, options={"val_split": "rows", "val_fraction": 0.25})
    assert rows.hyperparams["validation"] == "rows" and rows.n_val == 10  # round(0.25 · 40)
    assert rows.n_train + rows.n_val + rows.n_test == 48


def test_loso_training_only_subjects_are_never_a_fold(monkeypatch):
    rng = np.random.default_rng(0)
    subject = np.repeat([f"p{i}" for i in range(6)], 4)
    split = np.where(np.isin(subject, ["p4", "p5"]), "train", "pool")
    X = rng.normal(size=(24, 5))
    target = X[:, 0] + 3
    seen = []
    real = probe_mod._select_and_fit

    def spy(probe, X_, y_, tr, va, **kw):
        seen.append(set(subject[tr]) | set(subject[va]))
        return real(probe, X_, y_, tr, va, **kw)

    monkeypatch.setattr(probe_mod, "_select_and_fit", spy)
    out = evaluate(X, target, split, subject, kind="regression", n_classes=0, protocol="loso", probe="linear", seed=0)
    assert len(out.fold_values) == 4 and out.hyperparams["folds"] == 4
    assert all({"p4", "p5"} <= fitted for fitted in seen)
