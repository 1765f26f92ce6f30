"""Waveform augmentations: each does what it says, at the drawn strength, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from acubench.align.augment import AUGMENTATIONS, AugmentConfig, add_noise, apply_gain, augment, highpass, lowpass

SR = 16000


def _tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2))


def test_gain_scales_by_the_decibels():
    x = _tone(440)
    assert _rms_db(apply_gain(x, 6.0)) - _rms_db(x) == pytest.approx(6.0, abs=1e-4)
    assert _rms_db(apply_gain(x, -10.0)) - _rms_db(x) == pytest.approx(-10.0, abs=1e-4)


def test_filters_pass_and_stop_the_right_bands():
    low, high = _tone(200), _tone(6000)
    # steady state (skip the filters' start-up transient)
    assert _rms_db(lowpass(high, SR, 2000)[4000:]) - _rms_db(high) < -30
    assert abs(_rms_db(lowpass(low, SR, 2000)[4000:]) - _rms_db(low)) < 0.5
    assert _rms_db(highpass(low, SR, 2000)[4000:]) - _rms_db(low) < -30
    assert abs(_rms_db(highpass(high, SR, 2000)[4000:]) - _rms_db(high)) < 0.5
    # a cut-off above Nyquist is lowered, not an error
    assert np.isfinite(lowpass(high, SR, 20000)).all()


def test_noise_is_added_at_the_requested_snr():
    x = _tone(440, 4.0)
    noisy = add_noise(x, 10.0, np.random.default_rng(0))
    assert _rms_db(x) - _rms_db(noisy - x) == pytest.approx(10.0, abs=0.1)
    assert np.array_equal(add_noise(np.zeros(10, np.float32), 10.0, np.random.default_rng(0)), np.zeros(10))


def test_augment_is_seeded_and_draws_each_augmentation():
    x = _tone(440)
    a, applied_a = augment(x, SR, np.random.default_rng(5))
    b, applied_b = augment(x, SR, np.random.default_rng(5))
    assert np.array_equal(a, b) and applied_a == applied_b
    seen = set()
    for seed in range(40):
        _, applied = augment(x, SR, np.random.default_rng(seed), AugmentConfig(p=0.5))
        seen.update(applied)
        assert applied == [n for n in AUGMENTATIONS if n in applied]  # fixed order
    assert seen == set(AUGMENTATIONS)
    all_on, applied = augment(x, SR, np.random.default_rng(0), AugmentConfig(p=1.0))
    assert applied == list(AUGMENTATIONS) and not np.array_equal(all_on, x)
    none, applied = augment(x, SR, np.random.default_rng(0), AugmentConfig(p=0.0))
    assert applied == [] and np.array_equal(none, x)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="probability"):
        AugmentConfig(p=1.5)
    with pytest.raises(ValueError, match="empty"):
        AugmentConfig(gain_db=(3.0, -3.0))
