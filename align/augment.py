"""Waveform augmentations for alignment training: gain, low-pass, high-pass, noise.

AcuLa's data loader defines augmentations (volume, normalise, 300 Hz
low-pass, 3 kHz high-pass) but never calls them (REFERENCE.md §4.4). Here
they are applied: each of the four is drawn independently with probability
``p`` per training example, with parameters drawn from ranges that keep
cardio-respiratory sounds recognisable (a 300 Hz low-pass would erase most
crackles and wheezes; a 3 kHz high-pass most heart sounds). The random
generator is passed in, so the trainer seeds it per (seed, epoch, example)
and a run is reproducible and resumable. Validation audio is never
augmented.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

#: Augmentation names, in the order they are applied.
AUGMENTATIONS = ("gain", "lowpass", "highpass", "noise")


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to draw and from what ranges.

    Parameters
    ----------
    p : float
        Probability that each augmentation is applied to an example (independently).
    gain_db : (float, float)
        Uniform range of the gain (dB).
    lowpass_hz, highpass_hz : (float, float)
        Uniform ranges of the cut-off frequencies (Hz) of 4th-order
        Butterworth filters; cut-offs at or above Nyquist are lowered to 0.45·sr.
    snr_db : (float, float)
        Uniform range of the signal-to-noise ratio (dB) of added white Gaussian noise.
    """

    p: float = 0.5
    gain_db: tuple[float, float] = (-6.0, 6.0)
    lowpass_hz: tuple[float, float] = (2000.0, 6000.0)
    highpass_hz: tuple[float, float] = (20.0, 120.0)
    snr_db: tuple[float, float] = (10.0, 30.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"augmentation probability must be in [0, 1], got {self.p}")
        for name in ("gain_db", "lowpass_hz", "highpass_hz", "snr_db"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"augmentation range {name} is empty: {lo} > {hi}")
        if min(self.lowpass_hz) <= 0 or min(self.highpass_hz) <= 0:
            raise ValueError("filter cut-offs must be positive (Hz)")


def apply_gain(wave: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale by ``gain_db`` decibels (no clipping: the encoders take float audio)."""
    return (wave * 10.0 ** (gain_db / 20.0)).astype(np.float32)


def _butter(wave: np.ndarray, sample_rate: int, cutoff_hz: float, kind: str) -> np.ndarray:
    cutoff = min(float(cutoff_hz), 0.45 * sample_rate)
    sos = butter(4, cutoff, btype=kind, fs=sample_rate, output="sos")
    return sosfilt(sos, wave.astype(np.float64)).astype(np.float32)


def lowpass(wave: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """4th-order Butterworth low-pass at ``cutoff_hz`` (Hz)."""
    return _butter(wave, sample_rate, cutoff_hz, "lowpass")


def highpass(wave: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """4th-order Butterworth high-pass at ``cutoff_hz`` (Hz)."""
    return _butter(wave, sample_rate, cutoff_hz, "highpass")


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` relative to the clip's mean power."""
    power = float(np.mean(wave.astype(np.float64) ** 2))
    if power == 0.0:
        return wave.astype(np.float32, copy=True)
    noise = rng.standard_normal(wave.shape[0]) * np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (wave + noise).astype(np.float32)


def augment(wave: np.ndarray, sample_rate: int, rng: np.random.Generator,
            config: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, list[str]]:
    """Apply a random subset of :data:`AUGMENTATIONS` to one waveform.

    Parameters
    ----------
    wave : ndarray of float32, shape (n_samples,)
    sample_rate : int
        Hz.
    rng : numpy.random.Generator
        Source of every random draw (which augmentations, their parameters, the noise).
    config : AugmentConfig

    Returns
    -------
    wave : ndarray of float32, shape (n_samples,)
    applied : list of str
        The augmentations applied, e.g. ``["gain", "noise"]``.
    """
    out = np.asarray(wave, dtype=np.float32)
    applied: list[str] = []
    # Draw every decision and parameter up front, so the stream of draws does not
    # depend on which augmentations fire.
    fire = rng.random(len(AUGMENTATIONS)) < config.p
    gain = rng.uniform(*config.gain_db)
    low = rng.uniform(*config.lowpass_hz)
    high = rng.uniform(*config.highpass_hz)
    snr = rng.uniform(*config.snr_db)
    steps = (
        ("gain", lambda w: apply_gain(w, gain)),
        ("lowpass", lambda w: lowpass(w, sample_rate, low)),
        ("highpass", lambda w: highpass(w, sample_rate, high)),
        ("noise", lambda w: add_noise(w, snr, rng)),
    )
    for on, (name, step) in zip(fire, steps, strict=True):
        if on:
            out = step(out)
            applied.append(name)
    return out, applied
