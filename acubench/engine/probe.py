"""The probe harness: frozen embeddings → a light head per split protocol → test metrics.

For each task the runner calls :func:`evaluate_seeds` (or :func:`evaluate` for
one seed) with the clip embeddings, labels, split and subject of every clip.

* Heads are plugins (:class:`~acubench.specs.ProbeSpec`, ``acubench probes``):
  what the harness does for a head follows its declaration, never its name.
* Features are standardised with the training split's mean and std (constant
  features keep scale 1) for heads that declare ``standardise`` (all but
  ``reference-linear``, which reproduces a protocol without standardisation).
* Hyper-parameters are chosen on the validation split only; the chosen setting,
  fit on the training split, is scored once on the test split. Like the
  reference benchmark, nothing is refit on train + validation.
* Protocols: ``fixed`` (train/val/test given by the manifest; without
  validation rows a seeded 20 % of the training *subjects* is held out) and
  ``loso`` (leave one subject out: every subject is the test fold once; the
  validation set is a seeded 20 % of the remaining subjects (subjects whose
  rows are marked ``train`` only ever train: they are never a fold), or with option
  ``val_split="rows"`` a random ``val_fraction`` of the remaining rows, as the
  reference did, which lets a subject's rows straddle train and validation).
* Where validation cannot rank settings (a one-class validation split), each
  head's documented default setting is used and no ``val_score`` is recorded.
* Seeds drive every random choice (validation carving, MLP/LightGBM/torch
  initialisation, batch order). A head that declares ``deterministic`` (the
  linear one) is a function of the data, so :func:`evaluate_seeds` fits it once
  and reports it for each seed.
* A scorer that declares ``trains=False`` is neither fitted nor validated: it
  scores the test clips, with the task and encoder in its ``context``.
* Fits run single-threaded (BLAS, OpenMP, torch): these problems are too small
  for a thread pool to pay, and results then do not depend on the core count.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from acubench.plugins import get_probe, registries
from acubench.probe_base import Head, ProbeContext
from acubench.records.metrics import HEADLINE, auroc, compute_metrics
from acubench.specs import SPLIT_OPTIONS, ProbeSpec, resolve_ref

#: Fraction of subjects held out for validation where the protocol does not give a validation split.
VAL_FRACTION = 0.2


@dataclass(frozen=True, eq=False)
class ClipPredictions:
    """What a fit predicted for each test clip (the rows of ``predictions.parquet``).

    Attributes
    ----------
    index : ndarray of int, shape (n_test,)
        Rows of ``X`` that were scored, in prediction order.
    score : ndarray, shape (n_test,) or (n_test, n_classes)
        Binary: P(class 1); multiclass: class-probability rows; regression: the
        prediction (target units).
    fold : ndarray of str, shape (n_test,), or None
        Held-out subject of each row (leave-one-subject-out), None for a fixed split.
    """

    index: np.ndarray
    score: np.ndarray
    fold: np.ndarray | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClipPredictions):
            return NotImplemented
        same_fold = (self.fold is None) == (other.fold is None) and (
            self.fold is None or np.array_equal(self.fold, other.fold))
        return same_fold and np.array_equal(self.index, other.index) and np.array_equal(self.score, other.score)


def _test_score(kind: str, pred: np.ndarray) -> np.ndarray:
    """Binary probability rows → P(class 1); other kinds unchanged."""
    return pred[:, 1] if kind == "binary" and pred.ndim == 2 else pred


@dataclass
class ProbeOutcome:
    """One probe fit, scored on the test split.

    Attributes
    ----------
    value : float
        Headline metric: AUROC (classification) or MAE (regression); for LOSO
        the mean over folds (classification: AUROC of the pooled fold predictions).
    metrics : dict
        ``auroc`` or ``mae``, ``mape``, ``rmse``; for LOSO fold means plus ``<m>_std``.
    fold_values : list of float
        Per-fold headline values (LOSO), else empty.
    n_train, n_val, n_test : int
        Rows used (LOSO: per-fold means, rounded).
    hyperparams : dict
        What validation chose, and how validation was formed.
    predictions : ClipPredictions or None
        The per-clip test predictions every metric was computed from.
    """

    value: float
    metrics: dict[str, float]
    fold_values: list[float] = field(default_factory=list)
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    hyperparams: dict[str, Any] = field(default_factory=dict)
    predictions: ClipPredictions | None = None


def _check_inputs(X: np.ndarray, y: np.ndarray, split: np.ndarray, subject: np.ndarray, kind: str,
                  n_classes: int, protocol: str, spec: ProbeSpec) -> tuple[np.ndarray, np.ndarray]:
    if kind not in HEADLINE:
        raise ValueError(f"kind must be one of {list(HEADLINE)}, got {kind!r}")
    if kind not in spec.kinds:
        raise ValueError(f"probe {spec.id!r} does not handle {kind} tasks (it declares {', '.join(spec.kinds)})")
    if protocol not in ("fixed", "loso"):
        raise ValueError(f"protocol must be 'fixed' or 'loso', got {protocol!r}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be (n_clips, D), got shape {X.shape}")
    bad = int((~np.isfinite(X).all(axis=1)).sum())
    if bad:
        raise ValueError(f"{bad} embedding row(s) hold NaN or Inf; the encoder produced non-finite values")
    n = len(X)
    if not (len(y) == len(split) == len(subject) == n):
        raise ValueError(f"X has {n} rows but y/split/subject have {len(y)}/{len(split)}/{len(subject)}")
    y = np.asarray(y)
    if kind == "regression":
        y = y.astype(np.float64)
        bad = int((~np.isfinite(y)).sum())
        if bad:
            raise ValueError(f"{bad} regression target(s) are NaN or Inf; drop or fix those rows in the manifest")
        return X, y
    if n_classes < 2:
        raise ValueError(f"a {kind} task needs n_classes >= 2, got {n_classes}")
    if not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y)) or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"class labels must be integers 0..{n_classes - 1}, got values {np.unique(y)[:10].tolist()}")
    return X, y.astype(np.int64)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run BLAS/OpenMP and torch on one thread for the duration.

    The heads fit (n ≲ 10⁴, D ≲ 10³) problems, where a thread pool costs more in
    start-up and contention than it saves: on a shared 2-core machine the
    logistic-regression grid ran ~10× faster single-threaded. It also makes
    results independent of the core count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def _standardise(X: np.ndarray, train: np.ndarray) -> np.ndarray:
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std[std < 1e-12] = 1.0  # constant on train: centred, not scaled (no NaN)
    return (X - mean) / std


def _carve_subjects(subject: np.ndarray, y: np.ndarray, rows: np.ndarray, fraction: float, rng: np.random.Generator,
                    stratify: bool) -> np.ndarray:
    """A boolean mask over ``rows`` (indices) choosing ~``fraction`` of their subjects (≥ 1), per label if
    stratified."""
    subs = subject[rows]
    unique = np.unique(subs)
    if stratify:
        # A subject's label for stratification: its most frequent one.
        label = {s: np.bincount(y[rows][subs == s]).argmax() for s in unique}
        groups = [np.array([s for s in unique if label[s] == c]) for c in sorted(set(label.values()))]
    else:
        groups = [unique]
    chosen: list[str] = []
    for group in groups:
        if len(group) < 2:
            continue
        k = max(1, int(round(fraction * len(group))))
        chosen.extend(rng.permutation(group)[:k].tolist())
    if not chosen and len(unique) >= 2:
        chosen = [rng.permutation(unique)[0]]
    return np.isin(subs, chosen)


def _score(kind: str, y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Validation score, higher is better: AUROC, or minus MAE (plain numpy: it runs per grid setting and fold)."""
    if kind == "regression":
        return -float(np.mean(np.abs(pred - y)))
    return auroc(y, pred, n_classes)


def _split_options(options: Mapping[str, Any], spec: ProbeSpec, protocol: str) -> tuple[dict, dict]:
    """(the harness's options for this split scheme, the head's declared options) from a task's probe options.

    Keys another registered probe declares are left for it (a task names the
    settings of its reference probe, and runs with any); a key nothing reads is an error.
    """
    unread = set(options) - SPLIT_OPTIONS[protocol] - frozenset().union(*(p.options for p in registries().probes))
    if unread:
        raise ValueError(f"probe option(s) {', '.join(sorted(unread))} are read by no registered probe nor by the "
                         f"{protocol} split (see `acubench probes`)")
    return ({k: v for k, v in options.items() if k in SPLIT_OPTIONS[protocol]},
            {k: v for k, v in options.items() if k in spec.options})


def _head_class(spec: ProbeSpec) -> type[Head]:
    cls = resolve_ref(spec.factory)
    if not (isinstance(cls, type) and issubclass(cls, Head)):
        raise TypeError(f"probe {spec.id!r}: factory {spec.factory} is not a subclass of acubench.probe_base.Head")
    return cls


def _select_and_fit(spec: ProbeSpec, X: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, *, kind: str,
                    n_classes: int, seed: int, options: Mapping[str, Any], context: ProbeContext):
    """Fit each grid setting on ``tr``, keep the best on ``va``; returns (fitted head, params, val score).

    Without a validation split that can rank settings (none, or one class only),
    the head's documented default setting is fit and the score is NaN. A scorer
    that does not train is returned as built, with its default setting.
    """
    cls = _head_class(spec)
    if not spec.trains:
        params = cls.default(kind)
        return cls(kind, n_classes, params, seed, options, context), params, float("nan")
    Xtr, ytr = X[tr], y[tr]
    Xva, yva = (X[va], y[va]) if va.any() else (None, None)
    if Xva is None or (kind != "regression" and len(np.unique(yva)) < 2):
        params = cls.default(kind)
        return cls(kind, n_classes, params, seed, options, context).fit(Xtr, ytr, Xva, yva), params, float("nan")
    best = None
    for params in cls.grid(kind):
        head = cls(kind, n_classes, params, seed, options, context).fit(Xtr, ytr, Xva, yva)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            score = _score(kind, yva, head.predict(Xva), n_classes)
        if best is None or score > best[2]:
            best = (head, params, score)
    return best


def _fixed(X, y, split, subject, *, kind, n_classes, spec, seed, harness, options, context) -> ProbeOutcome:
    tr, va, te = split == "train", split == "val", split == "test"
    if not tr.any() or not te.any():
        raise ValueError(f"a fixed-split task needs train and test rows, got splits {sorted(set(split.tolist()))}")
    carved = False
    if spec.trains and not va.any():
        rng = np.random.default_rng([seed, 1])
        idx = np.flatnonzero(tr)
        mask = _carve_subjects(subject, y, idx, VAL_FRACTION, rng, stratify=kind != "regression")
        va = np.zeros_like(tr)
        va[idx[mask]] = True
        tr = tr & ~va
        carved = True
    Xs = _standardise(X, tr) if spec.standardise else X
    head, params, val_score = _select_and_fit(spec, Xs, y, tr, va, kind=kind, n_classes=n_classes, seed=seed,
                                              options=options, context=context)
    pred = head.predict(Xs[te])
    metrics = compute_metrics(kind, y[te], pred, n_classes)
    validation = "carved: 20 % of train subjects" if carved else "given" if spec.trains else "none (does not train)"
    hyper = {**params, "validation": validation, **head.fit_info_()}
    if not np.isnan(val_score):
        hyper["val_score"] = val_score
    name = HEADLINE[kind][0]
    return ProbeOutcome(metrics[name], metrics, [], int(tr.sum()), int(va.sum()), int(te.sum()), hyper,
                        ClipPredictions(np.flatnonzero(te), _test_score(kind, pred)))


def _loso(X, y, split, subject, *, kind, n_classes, spec, seed, harness, options, context) -> ProbeOutcome:
    # Rows marked "train" belong to training-only subjects: never a test fold, always available for fitting.
    subjects = np.unique(subject[split != "train"])
    if len(np.unique(subject)) < 3 or not len(subjects):
        raise ValueError(f"leave-one-subject-out needs at least 3 subjects and one fold, got "
                         f"{len(np.unique(subject))} subject(s), {len(subjects)} fold(s)")
    by_rows = harness.get("val_split") == "rows"
    fraction = float(harness.get("val_fraction", VAL_FRACTION))
    fold_values: list[float] = []
    fold_metrics: list[dict[str, float]] = []
    pooled_y, pooled_pred, index, folds = [], [], [], []
    chosen: list[str] = []
    sizes = np.zeros(3)
    for k, held in enumerate(subjects):
        te = subject == held
        rest = np.flatnonzero(~te)
        rng = np.random.default_rng([seed, k])
        if not spec.trains:  # a scorer is not validated
            mask = np.zeros(len(rest), dtype=bool)
        elif by_rows:
            pick = rng.permutation(len(rest))[: max(1, int(round(fraction * len(rest))))]
            mask = np.zeros(len(rest), dtype=bool)
            mask[pick] = True
        else:
            mask = _carve_subjects(subject, y, rest, fraction, rng, stratify=False)
        va = np.zeros(len(X), dtype=bool)
        va[rest[mask]] = True
        tr = ~te & ~va
        Xs = _standardise(X, tr) if spec.standardise else X
        head, params, _ = _select_and_fit(spec, Xs, y, tr, va, kind=kind, n_classes=n_classes, seed=seed,
                                          options=options, context=context)
        pred = head.predict(Xs[te])
        index.append(np.flatnonzero(te))
        folds.append(np.full(int(te.sum()), held))
        chosen.append(", ".join(f"{a}={b}" for a, b in params.items()) or "-")
        sizes += (tr.sum(), va.sum(), te.sum())
        pooled_pred.append(pred)
        if kind == "regression":
            m = compute_metrics(kind, y[te], pred, n_classes)
            fold_metrics.append(m)
            fold_values.append(m["mae"])
        else:
            pooled_y.append(y[te])
    sizes = np.rint(sizes / len(subjects)).astype(int)
    predictions = ClipPredictions(np.concatenate(index), _test_score(kind, np.concatenate(pooled_pred)),
                                  np.concatenate(folds))
    if spec.trains:
        hyper: dict[str, Any] = {"validation": "rows" if by_rows else "subjects", "val_fraction": fraction}
    else:  # a scorer is the same function in every fold: what it used is recorded once
        hyper = {"validation": "none (does not train)", **head.fit_info_()}
    hyper.update({"folds": len(subjects), "chosen": {c: chosen.count(c) for c in dict.fromkeys(chosen)}})
    if kind == "regression":
        metrics = {m: float(np.mean([f[m] for f in fold_metrics])) for m in fold_metrics[0]}
        metrics.update({f"{m}_std": float(np.std([f[m] for f in fold_metrics])) for m in fold_metrics[0]})
        return ProbeOutcome(metrics["mae"], metrics, fold_values, *map(int, sizes), hyper, predictions)
    # One subject's fold rarely holds both classes: AUROC per fold is undefined, so pool the folds.
    value = auroc(np.concatenate(pooled_y), np.concatenate(pooled_pred), n_classes)
    hyper["auroc"] = "pooled over folds"
    return ProbeOutcome(value, {"auroc": value}, [], *map(int, sizes), hyper, predictions)


def evaluate(X: np.ndarray, y: np.ndarray, split: np.ndarray, subject: np.ndarray, *, kind: str, n_classes: int,
             protocol: str, probe: str, seed: int, options: Mapping[str, Any] | None = None,
             context: ProbeContext | None = None) -> ProbeOutcome:
    """Fit and score one probe head with one seed.

    Parameters
    ----------
    X : ndarray, shape (n_clips, D)
        Frozen clip embeddings.
    y : ndarray, shape (n_clips,)
        Class labels 0…C−1, or regression targets (task units).
    split : ndarray of str, shape (n_clips,)
        ``train``/``val``/``test`` (fixed protocol) or anything (LOSO: ignored).
    subject : ndarray of str, shape (n_clips,)
        Subject of each clip (LOSO folds; validation carving).
    kind : {"binary", "multiclass", "regression"}
    n_classes : int
        0 for regression.
    protocol : {"fixed", "loso"}
    probe : str
        A registered probe id (``acubench probes``: ``linear``, ``mlp``,
        ``lightgbm``, ``reference-linear``, and any plugin's).
    seed : int
    options : mapping, optional
        The task's probe options: the head gets the keys its spec declares
        (``reference-linear``: ``epochs``, ``batch_size``, ``l2_strength``…),
        LOSO validation reads ``val_split`` and ``val_fraction``; keys other
        probes declare are ignored, and keys nothing reads are an error.
    context : ProbeContext, optional
        The task spec and the encoder, for heads that need them (scorers).

    Returns
    -------
    ProbeOutcome

    Raises
    ------
    ValueError
        NaN/Inf embeddings or targets, labels outside 0…C−1, mismatched lengths,
        an unknown kind/protocol, a kind the probe does not handle, an option
        nothing reads, a fixed split without train or test rows, or fewer than
        3 LOSO subjects.
    UnknownNameError
        An unregistered probe (the message lists close matches).
    """
    spec = get_probe(probe)
    X, y = _check_inputs(X, y, split, subject, kind, n_classes, protocol, spec)
    harness, head_options = _split_options(dict(options or {}), spec, protocol)
    run = _loso if protocol == "loso" else _fixed
    with _one_thread():
        return run(X, y, np.asarray(split).astype(str), np.asarray(subject).astype(str), kind=kind,
                   n_classes=n_classes, spec=spec, seed=seed, harness=harness, options=head_options,
                   context=context or ProbeContext())


def evaluate_seeds(X: np.ndarray, y: np.ndarray, split: np.ndarray, subject: np.ndarray, *, seeds: Sequence[int],
                   kind: str, n_classes: int, protocol: str, probe: str,
                   options: Mapping[str, Any] | None = None,
                   context: ProbeContext | None = None) -> list[ProbeOutcome]:
    """:func:`evaluate` for each seed, fitting a deterministic head only once.

    A head whose spec declares ``deterministic`` (the linear one) uses no
    randomness on a fixed split with a given validation split; a deterministic
    scorer that does not train uses none under any split scheme (no validation
    is carved for it). Then every seed gets the same outcome: it is computed
    once and the same object is returned for each seed. Everything else runs
    per seed; the outcomes equal ``[evaluate(..., seed=s) for s in seeds]``.
    """
    spec = get_probe(probe)
    shared = spec.deterministic and (
        not spec.trains or (protocol == "fixed" and "val" in set(np.asarray(split).astype(str).tolist())))
    kw = dict(kind=kind, n_classes=n_classes, protocol=protocol, probe=probe, options=options, context=context)
    if shared and seeds:
        outcome = evaluate(X, y, split, subject, seed=seeds[0], **kw)
        return [outcome for _ in seeds]
    return [evaluate(X, y, split, subject, seed=s, **kw) for s in seeds]
