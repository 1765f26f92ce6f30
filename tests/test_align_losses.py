"""Alignment losses: linear/RBF CKA against independent formulas, invariances, the reference's defect."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from acubench import hookimpl, plugins
from acubench.align.losses import (
    ALIGN_LOSSES,
    acula_reference_similarity,
    debiased_linear_cka,
    info_nce,
    linear_cka,
    make_alignment_loss,
    rbf_cka,
)
from acubench.align.lossspec import BUILTIN_LOSSES, LossSpec, LossSpecError, get_loss, loss_specs


def _hsic_explicit(k: np.ndarray, l: np.ndarray) -> float:
    """HSIC with the explicit centring matrix H = I - 11ᵀ/n (Gretton et al.), float64."""
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ l @ h)) / (n - 1) ** 2


def _cka_explicit(k: np.ndarray, l: np.ndarray) -> float:
    return _hsic_explicit(k, l) / np.sqrt(_hsic_explicit(k, k) * _hsic_explicit(l, l))


def _unbiased_hsic_u_statistic(k: np.ndarray, l: np.ndarray) -> float:
    """HSIC as the U-statistic of Song et al. (2012, Theorem 3), summed over every ordered 4-tuple of
    distinct indices: independent of the closed form the library uses."""
    n, total, count = len(k), 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2.0 * k[i, j] * l[i, q]
        count += 1
    return total / count


def _debiased_cka_explicit(x: np.ndarray, y: np.ndarray) -> float:
    k, l = x @ x.T, y @ y.T
    hsic = _unbiased_hsic_u_statistic
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def _rbf_explicit(x: np.ndarray, sigma: float) -> np.ndarray:
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    dist = np.sqrt(d2[~np.eye(len(x), dtype=bool)])
    bw = sigma * np.median(dist)
    return np.exp(-d2 / (2 * bw ** 2))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 40))
    y = x @ rng.standard_normal((40, 16)) + 0.5 * rng.standard_normal((24, 16))
    return x, y


def _orthogonal(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def test_linear_cka_matches_explicit_hsic(pair):
    x, y = pair
    expected = _cka_explicit(x @ x.T, y @ y.T)
    got = linear_cka(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert got == pytest.approx(expected, abs=1e-6)
    # float32 inputs give the same value to float32 precision
    got32 = linear_cka(torch.from_numpy(x).float(), torch.from_numpy(y).float()).item()
    assert got32 == pytest.approx(expected, abs=1e-5)
    # equivalently ||YᵀX||²_F / (||XᵀX||_F ||YᵀY||_F) on centred features (Kornblith eq. 5)
    xc, yc = x - x.mean(0), y - y.mean(0)
    feature_form = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert got == pytest.approx(feature_form, abs=1e-6)


def test_linear_cka_invariances(pair):
    x, y = (torch.from_numpy(a) for a in pair)
    base = linear_cka(x, y).item()
    rot_x = x @ torch.from_numpy(_orthogonal(x.shape[1], 1))
    rot_y = y @ torch.from_numpy(_orthogonal(y.shape[1], 2))
    assert linear_cka(rot_x, y).item() == pytest.approx(base, abs=1e-9)
    assert linear_cka(x, rot_y).item() == pytest.approx(base, abs=1e-9)
    assert linear_cka(7.5 * x, 0.01 * y).item() == pytest.approx(base, abs=1e-9)
    assert linear_cka(x, x).item() == pytest.approx(1.0, abs=1e-12)


def test_pairing_matters_for_cka_but_not_for_the_reference_formula():
    rng = np.random.default_rng(3)
    a = torch.from_numpy(rng.standard_normal((24, 32)))
    b = a @ torch.from_numpy(rng.standard_normal((32, 32))) + 0.1 * torch.from_numpy(rng.standard_normal((24, 32)))
    perm = torch.from_numpy(rng.permutation(24))
    assert linear_cka(a, b).item() > 0.7
    assert linear_cka(a, b[perm]).item() < linear_cka(a, b).item() - 0.3
    assert rbf_cka(a, b[perm]).item() < rbf_cka(a, b).item() - 0.2
    ref, ref_shuffled = acula_reference_similarity(a, b).item(), acula_reference_similarity(a, b[perm]).item()
    assert ref_shuffled == pytest.approx(ref, abs=1e-9)


def test_reference_formula_is_not_rotation_invariant_and_rewards_collapse():
    rng = np.random.default_rng(4)
    a = torch.from_numpy(rng.standard_normal((24, 512)))
    rotated = a @ torch.from_numpy(_orthogonal(512, 5))
    assert linear_cka(a, rotated).item() == pytest.approx(1.0, abs=1e-9)
    assert acula_reference_similarity(a, rotated).item() < 0.2
    # Two unrelated rank-1 batches on the same direction score a perfect 1 (REFERENCE.md §4.2 d).
    direction = torch.from_numpy(rng.standard_normal(512))
    u = torch.from_numpy(rng.standard_normal(24))[:, None] * direction
    v = torch.from_numpy(rng.standard_normal(24))[:, None] * direction
    assert acula_reference_similarity(u, v).item() == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="equal feature sizes"):
        acula_reference_similarity(a, a[:, :10])


def test_reference_formula_verbatim(pair):
    x, y = pair[0][:, :16], pair[1]
    xc, yc = x - x.mean(0), y - y.mean(0)
    gx, gy = xc.T @ xc, yc.T @ yc
    expected = (gx * gy).sum() / (np.sqrt((gx * gx).sum()) * np.sqrt((gy * gy).sum()))
    got = acula_reference_similarity(torch.from_numpy(x), torch.from_numpy(y)).item()
    assert got == pytest.approx(expected, abs=1e-9)


def test_rbf_cka_matches_explicit_and_tends_to_linear_for_wide_kernels(pair):
    x, y = pair
    for sigma in (0.5, 1.0, 2.0):
        expected = _cka_explicit(_rbf_explicit(x, sigma), _rbf_explicit(y, sigma))
        got = rbf_cka(torch.from_numpy(x), torch.from_numpy(y), sigma=sigma).item()
        assert got == pytest.approx(expected, abs=1e-6)
    wide = rbf_cka(torch.from_numpy(x), torch.from_numpy(y), sigma=200.0).item()
    assert wide == pytest.approx(linear_cka(torch.from_numpy(x), torch.from_numpy(y)).item(), abs=1e-3)


def test_info_nce_prefers_matched_pairs():
    rng = np.random.default_rng(6)
    a = torch.from_numpy(rng.standard_normal((16, 8))).float()
    matched = info_nce(a, a * 3.0).item()
    shuffled = info_nce(a, a[torch.randperm(16, generator=torch.Generator().manual_seed(0))]).item()
    assert matched < shuffled
    assert matched == pytest.approx(info_nce(a * 3.0, a).item(), abs=1e-6)


@pytest.mark.parametrize("name", ALIGN_LOSSES)
def test_every_loss_has_finite_gradients(name):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 16, generator=gen, requires_grad=True)
    y = torch.randn(12, 16, generator=gen, requires_grad=True)
    loss = make_alignment_loss(name)(x, y)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown alignment loss"):
        make_alignment_loss("cka2")
    with pytest.raises(ValueError, match="differ in size"):
        linear_cka(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        linear_cka(torch.randn(1, 3), torch.randn(1, 3))


def test_debiased_cka_matches_the_u_statistic():
    rng = np.random.default_rng(3)
    for n in (4, 7):
        x = rng.standard_normal((n, 5)) + 2.0  # uncentred: the estimator must not depend on the offset
        y = x @ rng.standard_normal((5, 3)) + rng.standard_normal((n, 3))
        expected = _debiased_cka_explicit(x, y)
        assert debiased_linear_cka(torch.from_numpy(x), torch.from_numpy(y)).item() == pytest.approx(expected, abs=1e-9)


def test_debiased_cka_is_centred_on_zero_where_the_biased_one_saturates():
    """Unrelated 512-d features at the paper's batch of 24: biased CKA ≈ 0.95, debiased ≈ 0."""
    gen = torch.Generator().manual_seed(0)
    pairs = [(torch.randn(24, 512, generator=gen), torch.randn(24, 512, generator=gen)) for _ in range(40)]
    biased = np.array([linear_cka(a, b).item() for a, b in pairs])
    debiased = np.array([debiased_linear_cka(a, b).item() for a, b in pairs])
    assert biased.mean() > 0.9
    assert abs(debiased.mean()) < 3 * debiased.std() / np.sqrt(len(debiased)) + 0.01 and debiased.std() < 0.15
    x = pairs[0][0]
    rotated = 3.0 * x @ torch.linalg.qr(torch.randn(512, 512, generator=gen))[0]
    assert debiased_linear_cka(x, rotated).item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="at least 4 pairs"):
        debiased_linear_cka(x[:3], x[:3])


def test_debiased_cka_agrees_with_ckatorch():
    """Cross-check against the independent ckatorch package (a dev-only extra; skipped without it)."""
    ckatorch = pytest.importorskip("ckatorch.core")
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(30, 40, generator=gen, dtype=torch.float64)
    for y in (x @ torch.randn(40, 20, generator=gen, dtype=torch.float64) + torch.randn(30, 20, generator=gen,
                                                                                     dtype=torch.float64),
              torch.randn(30, 20, generator=gen, dtype=torch.float64)):
        theirs = float(ckatorch.cka_base(x, y, kernel="linear", unbiased=True))
        assert debiased_linear_cka(x, y).item() == pytest.approx(theirs, abs=1e-6)
        assert linear_cka(x, y).item() == pytest.approx(float(ckatorch.cka_base(x, y, kernel="linear")), abs=1e-6)


def test_losses_declare_their_properties():
    specs = {s.id: s for s in BUILTIN_LOSSES}
    assert tuple(specs) == ALIGN_LOSSES
    assert not specs["acula-reference"].uses_pairing and specs["acula-reference"].needs_equal_dims
    assert not specs["infonce"].rotation_invariant and specs["cka-debiased"].rotation_invariant
    assert specs["cka-debiased"].min_batch == 4
    with pytest.raises(LossSpecError, match="unknown alignment loss 'nope'; registered: cka, cka-debiased"):
        get_loss("nope")
    with pytest.raises(LossSpecError, match="module:function"):
        LossSpec("x", "no_colon", "bad")


def half_cka_loss(config):
    return lambda x, y: 0.5 * (1.0 - linear_cka(x, y))


class _LossPlugin:
    @hookimpl
    def acubench_align_losses(self):
        return [LossSpec("half-cka", "test_align_losses:half_cka_loss", "half of 1 − CKA")]


def test_a_plugin_adds_a_loss_in_one_module():
    from acubench.align.presets import resolve_config

    plugins.plugin_manager().register(_LossPlugin(), name="half-cka-plugin")
    try:
        assert "half-cka" in loss_specs()
        config = resolve_config("demo", {"align_loss": "half-cka"})
        x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
        assert make_alignment_loss("half-cka", config)(x, x).item() == pytest.approx(0.0, abs=1e-6)
        with pytest.raises(LossSpecError, match="already registered"):
            plugins.plugin_manager().register(type("Dup", (), {"acubench_align_losses": hookimpl(
                lambda self: [LossSpec("cka", "m:f", "dup")])})(), name="dup-plugin")
            loss_specs()
    finally:
        plugins.reset()
