"""Statistics: DeLong against an independent computation from the published formulas, the subject
bootstrap against scikit-learn, determinism, identical fits, Holm."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import mean_absolute_error, roc_auc_score

from acubench.records import stats


def _psi(x: float, y: float) -> float:
    """DeLong et al. (1988), eq. 2: the Mann-Whitney kernel (1 if x > y, ½ if tied)."""
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _delong_by_the_formulas(y, a, b, cluster=None):
    """Independent O(m·n) computation, written from the papers, not from acubench.records.stats.

    DeLong, DeLong & Clarke-Pearson (1988): V10(X_i) = (1/n) Σ_j ψ(X_i, Y_j), V01(Y_j) = (1/m) Σ_i ψ(X_i, Y_j),
    S10 and S01 their sample covariances (divisor m−1, n−1), S = S10/m + S01/n, z = Δ / sqrt(c' S c).
    Clustered (Obuchowski 1997): per cluster k, V10(k) = Σ_{i∈k} V10(X_i) and V01(k) likewise;
    S10 = I10/((I10−1)·M) Σ_k (V10(k) − m_k θ)(…)ᵀ, S01 likewise with I01, N, n_k;
    S11 = I/(I−1) Σ_k (V10(k) − m_k θ)(V01(k) − n_k θ)ᵀ; cov = S10/M + S01/N + (S11 + S11ᵀ)/(M·N).
    """
    pos = [i for i in range(len(y)) if y[i] == 1]
    neg = [j for j in range(len(y)) if y[j] == 0]
    m, n = len(pos), len(neg)
    scores = [a, b]
    v10 = [[sum(_psi(s[i], s[j]) for j in neg) / n for i in pos] for s in scores]
    v01 = [[sum(_psi(s[i], s[j]) for i in pos) / m for j in neg] for s in scores]
    theta = [sum(v) / m for v in v10]
    if cluster is None:
        s10 = np.cov(np.array(v10), ddof=1)
        s01 = np.cov(np.array(v01), ddof=1)
        cov = s10 / m + s01 / n
    else:
        ks = sorted(set(cluster))
        a_k = np.array([[sum(v10[r][p] for p, i in enumerate(pos) if cluster[i] == k)
                         - theta[r] * sum(cluster[i] == k for i in pos) for k in ks] for r in range(2)])
        b_k = np.array([[sum(v01[r][q] for q, j in enumerate(neg) if cluster[j] == k)
                         - theta[r] * sum(cluster[j] == k for j in neg) for k in ks] for r in range(2)])
        i10 = len({cluster[i] for i in pos})
        i01 = len({cluster[j] for j in neg})
        big_i = len(ks)
        s10 = i10 / ((i10 - 1) * m) * (a_k @ a_k.T)
        s01 = i01 / ((i01 - 1) * n) * (b_k @ b_k.T)
        s11 = big_i / (big_i - 1) * (a_k @ b_k.T)
        cov = s10 / m + s01 / n + (s11 + s11.T) / (m * n)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = (theta[0] - theta[1]) / math.sqrt(var)
    return theta, cov, 2 * norm.sf(abs(z))


def test_delong_hand_verifiable_case():
    # Two positives, two negatives. A ranks one positive below a negative: AUROC 3/4, V10 = (1, ½), V01 = (½, 1),
    # so var(A) = 0.125/2 + 0.125/2 = 0.125. B separates perfectly: AUROC 1, zero variance.
    # z = −0.25 / √0.125 = −1/√2, p = 2Φ(−1/√2) = erfc(½).
    y = np.array([1, 1, 0, 0])
    a = np.array([0.9, 0.6, 0.7, 0.1])
    b = np.array([0.8, 0.7, 0.6, 0.2])
    out = stats.delong(y, a, b)
    assert out.auc == (0.75, 1.0)
    assert out.cov[0, 0] == pytest.approx(0.125) and out.cov[1, 1] == 0.0 and out.cov[0, 1] == 0.0
    assert out.z == pytest.approx(-1 / math.sqrt(2))
    assert out.p == pytest.approx(math.erfc(0.5)) and out.p == pytest.approx(0.4795001221869535)
    assert not out.clustered


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_equals_the_published_formulas_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(60) < 0.4).astype(int)
    a = np.round(rng.normal(size=60) + 1.0 * y, 1)  # rounded: ties within and across classes
    b = np.round(a + rng.normal(scale=0.8, size=60), 1)
    theta, cov, p = _delong_by_the_formulas(y.tolist(), a.tolist(), b.tolist())
    out = stats.delong(y, a, b)
    assert out.auc == pytest.approx(theta, abs=1e-12)
    assert out.auc[0] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    np.testing.assert_allclose(out.cov, cov, rtol=1e-10, atol=1e-15)
    assert out.p == pytest.approx(p, rel=1e-9)
    # One clip per subject: the clustered estimate is DeLong's exactly.
    assert stats.delong(y, a, b, unit=np.arange(60)).p == pytest.approx(out.p, rel=1e-12)


def test_clustered_delong_equals_the_formulas_and_widens_the_variance():
    rng = np.random.default_rng(7)
    subjects = np.repeat(np.arange(20), 3)  # three clips per subject, subjects mostly of one class
    y = (rng.random(20) < 0.5).astype(int)[subjects]
    y[::7] = 1 - y[::7]
    subject_effect = rng.normal(scale=1.5, size=20)[subjects]
    a = y + subject_effect + rng.normal(scale=0.5, size=60)
    b = a + rng.normal(scale=0.7, size=60)
    theta, cov, p = _delong_by_the_formulas(y.tolist(), a.tolist(), b.tolist(), cluster=subjects.tolist())
    out = stats.delong(y, a, b, unit=subjects)
    assert out.clustered
    assert out.auc == pytest.approx(theta, abs=1e-12)
    np.testing.assert_allclose(out.cov, cov, rtol=1e-10)
    assert out.p == pytest.approx(p, rel=1e-9)
    # Counting correlated clips as independent understates the variance of each AUROC.
    assert out.cov[0, 0] > stats.delong(y, a, b).cov[0, 0]


def test_identical_scores_give_delta_zero_and_p_one():
    rng = np.random.default_rng(3)
    y = np.array([0, 1] * 20)
    s = rng.normal(size=40) + y
    out = stats.delong(y, s, s.copy(), unit=np.repeat(np.arange(20), 2))
    assert (out.delta, out.p) == (0.0, 1.0)
    cs = stats.ClipScores.from_groups("binary", y, s, np.repeat(np.arange(20), 2))
    counts = stats.draw(cs.strata(), 500, seed=0)
    delta = stats.replicates(cs, counts) - stats.replicates(cs, counts)
    assert np.all(delta == 0) and stats.paired_p(delta) == 1.0


def test_paired_bootstrap_p_matches_the_interval_of_delta():
    delta = np.r_[np.full(30, -0.01), np.full(970, 0.02)]  # 3 % of replicates at or below 0
    assert stats.paired_p(delta) == pytest.approx(2 * 31 / 1001)
    assert stats.paired_p(-delta) == stats.paired_p(delta)
    assert stats.paired_p(np.full(1000, 0.05)) == pytest.approx(2 / 1001)


def _clustered_task(seed=0, n_subjects=30, per=3, kind="binary"):
    rng = np.random.default_rng(seed)
    subject = np.repeat([f"s{i:02d}" for i in range(n_subjects)], per)
    if kind == "regression":
        y = rng.normal(size=len(subject))
        return y, y + rng.normal(size=len(subject)), subject
    n_classes = 2 if kind == "binary" else 4
    y = np.repeat(rng.integers(0, n_classes, n_subjects), per)
    score = rng.random((len(subject), n_classes)) + 0.4 * np.eye(n_classes)[y]
    return y, (score[:, 1] if kind == "binary" else score), subject


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_replicates_equal_sklearn_with_subject_weights(kind):
    y, score, subject = _clustered_task(kind=kind)
    cs = stats.ClipScores.from_groups(kind, y, score, subject,
                                      n_classes={"binary": 2, "multiclass": 4, "regression": 0}[kind])
    counts = stats.draw(cs.strata(), 5, seed=11)
    assert np.all(counts.sum(axis=1) == cs.n_units)
    reps = stats.replicates(cs, counts)
    for b in range(5):
        w = counts[b, cs.unit]
        if kind == "binary":
            expected = roc_auc_score(y, score, sample_weight=w)
        elif kind == "multiclass":
            expected = np.mean([roc_auc_score(y == c, score[:, c], sample_weight=w) for c in range(4)])
        else:
            expected = mean_absolute_error(y, score, sample_weight=w)
        assert reps[b] == pytest.approx(expected, abs=1e-12)
    if kind == "binary":  # every unit once: the plain metric
        assert stats.point(cs) == pytest.approx(roc_auc_score(y, score), abs=1e-15)


def test_stratified_draw_keeps_every_class_and_is_seeded():
    y, score, subject = _clustered_task(n_subjects=12)
    cs = stats.ClipScores.from_groups("binary", y, score, subject)
    counts = stats.draw(cs.strata(), 300, seed=5)
    positives = np.bincount(cs.unit[cs.y == 1], minlength=cs.n_units) > 0
    assert np.all(counts[:, positives].sum(axis=1) == positives.sum())  # each class keeps its number of subjects
    np.testing.assert_array_equal(counts, stats.draw(cs.strata(), 300, seed=5))
    assert not np.array_equal(counts, stats.draw(cs.strata(), 300, seed=6))
    a, b = stats.bootstrap(cs, seed=4), stats.bootstrap(cs, seed=4)
    assert a == b and a.ci[0] < stats.point(cs) < a.ci[1]
    assert a.info == {"method": "percentile", "unit": "subject", "stratified": True, "resamples": 1000, "seed": 4,
                      "level": 0.95, "n_units": 12}


def test_leave_one_subject_out_regression_resamples_folds():
    rng = np.random.default_rng(2)
    fold = np.repeat(np.arange(8), 3)
    y = rng.normal(size=24)
    pred = y + rng.normal(scale=0.5, size=24) * (1 + fold)
    cs = stats.ClipScores("regression", y, pred, fold, per_unit=True)
    per_fold = [mean_absolute_error(y[fold == f], pred[fold == f]) for f in range(8)]
    assert stats.point(cs) == pytest.approx(np.mean(per_fold), abs=1e-12)
    counts = stats.draw(cs.strata(), 4, seed=0)
    np.testing.assert_allclose(stats.replicates(cs, counts), counts @ np.array(per_fold) / 8, rtol=1e-12)


def test_no_interval_and_why():
    y = np.zeros(6, dtype=int)
    one_class = stats.ClipScores.from_groups("binary", y, np.arange(6.0), ["a", "a", "b", "b", "c", "c"])
    out = stats.bootstrap(one_class)
    assert out.ci is None and "one class only" in out.info["reason"]
    off = stats.bootstrap(stats.ClipScores("regression", np.arange(4.0), np.ones(4), np.arange(4)), resamples=0)
    assert off.ci is None and "--bootstrap 0" in off.info["reason"]
    lonely = stats.ClipScores.from_groups("binary", [0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], ["a", "b", "a", "b"])
    assert "too few subjects" in stats.bootstrap(lonely).info["reason"]
    with pytest.raises(ValueError, match="NaN or Inf"):
        stats.ClipScores("binary", [0, 1], [0.1, np.nan], [0, 1])


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 × 4, 3, 2, 1 → 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005, math.nan])
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and math.isnan(adjusted[4])
    assert stats.holm([0.9, 0.8]) == [1.0, 1.0]
    assert stats.holm([]) == []
