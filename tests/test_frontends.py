"""The OPERA log-mel front-end against values computed once with librosa 0.11.

Reference pipeline (OPERA ``src/util.py::pre_process_audio_mel_t`` with f_max=8000):
``librosa.feature.melspectrogram(y, sr=16000, n_mels=64, fmin=50, fmax=8000,
n_fft=1024, hop_length=512)`` → ``power_to_db(ref=np.max)`` → per-clip min–max → transpose.
librosa is not a dependency; the numbers below were computed with it and pinned.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from acubench.frontends import (
    OPERA_MEL,
    MelConfig,
    batch_by_length,
    mel_filterbank,
    mel_power,
    minmax_per_clip,
    opera_logmel,
    opera_logmels,
    power_to_db,
)

SR = 16000


def two_tones() -> torch.Tensor:
    """1.25 s: a 300 Hz tone (0.3) plus a decaying 2.5 kHz tone (0.2·e^(−2t))."""
    t = np.arange(20000) / SR
    y = 0.3 * np.sin(2 * np.pi * 300 * t) + 0.2 * np.sin(2 * np.pi * 2500 * t) * np.exp(-2 * t)
    return torch.from_numpy(y.astype(np.float32))


def tone_1k() -> torch.Tensor:
    t = np.arange(SR) / SR
    return torch.from_numpy((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))


# (frame, mel bin) → (min–max log-mel, mel power), librosa 0.11.
LIBROSA_PINS = {
    (0, 0): (0.7209014892578125, 0.5919510126113892),
    (5, 7): (0.27840766310691833, 0.00017073981871362776),
    (5, 40): (0.8343884348869324, 4.788296699523926),
    (10, 12): (0.0, 1.3799973430650425e-07),
    (39, 63): (0.13018885254859924, 1.1132285180792678e-05),
    (30, 5): (0.9952126741409302, 92.63500213623047),
}


def test_two_tones_match_librosa_pins():
    mel = opera_logmel(two_tones())
    power = mel_power(two_tones())
    assert mel.shape == (40, 64) and power.shape == (40, 64)
    for (t, f), (want_mel, want_power) in LIBROSA_PINS.items():
        assert float(mel[t, f]) == pytest.approx(want_mel, abs=2e-6), (t, f)
        assert float(power[t, f]) == pytest.approx(want_power, rel=1e-4), (t, f)
    assert float(mel.min()) == 0.0 and float(mel.max()) == 1.0


def test_top_db_clips_at_peak_minus_80_db():
    # librosa's power_to_db default top_db=80: frame 20 bin 41 is > 80 dB below the peak → exactly 0.
    mel = opera_logmel(two_tones())
    assert float(mel[20, 41]) == 0.0
    db = power_to_db(mel_power(two_tones()).unsqueeze(0), ref="max")
    assert float(db.max()) == 0.0 and float(db.min()) == -80.0


def test_tone_1khz_peaks_in_bin_20():
    mel = opera_logmel(tone_1k())
    assert mel.shape == (32, 64)  # 1 + 16000 // 512
    assert int(mel[16].argmax()) == 20
    assert float(mel[16, 19]) == pytest.approx(0.9327532052993774, abs=2e-6)
    assert float(mel[16, 21]) == pytest.approx(0.8091418147087097, abs=2e-6)
    assert float(mel_power(tone_1k())[16, 20]) == pytest.approx(396.2759704589844, rel=1e-5)
    # Most bins of a pure tone sit below the 80 dB floor.
    assert float((mel == 0).float().mean()) == pytest.approx(0.8935546875)


def test_filterbank_is_slaney():
    fb = mel_filterbank()
    assert fb.shape == (64, 513)
    assert int(fb[20].argmax()) == 65
    assert float(fb[20].max()) == pytest.approx(0.018126172944903374, rel=1e-6)
    assert float(fb[0].sum()) == pytest.approx(0.06395287066698074, rel=1e-6)
    assert fb[0].nonzero().flatten().tolist() == [4, 5, 6, 7, 8, 9]
    nz = fb[63].nonzero().flatten()
    assert (int(nz[0]), int(nz[-1])) == (467, 511)


@pytest.mark.parametrize("seconds, frames", [(8.0, 251), (8.18, 256), (2.0, 63), (5.0, 157), (1.0, 32)])
def test_frame_count_is_one_plus_n_over_hop(seconds, frames):
    n = int(seconds * SR)
    assert OPERA_MEL.n_frames(n) == frames == 1 + n // 512
    assert opera_logmel(torch.randn(n) * 0.1).shape == (frames, 64)


def test_batch_equals_one_by_one():
    gen = torch.Generator().manual_seed(3)
    waves = torch.randn(3, 9000, generator=gen) * torch.tensor([[0.01], [0.1], [1.0]])
    batch = opera_logmel(waves)
    for i in range(3):
        torch.testing.assert_close(batch[i], opera_logmel(waves[i]), rtol=0, atol=1e-6)


def test_ragged_clips_each_at_own_length():
    gen = torch.Generator().manual_seed(4)
    waves = [torch.randn(n, generator=gen) for n in (16000, 8000, 16000, 3000)]
    out = opera_logmels(waves)
    assert [m.shape[0] for m in out] == [32, 16, 32, 6]
    for w, m in zip(waves, out, strict=True):
        torch.testing.assert_close(m, opera_logmel(w), rtol=0, atol=1e-6)
    groups = batch_by_length(waves)
    assert [idx for idx, _ in groups] == [[0, 2], [1], [3]]


def test_silence_is_returned_unnormalised():
    # The reference returns the dB array itself when max == min (all 0 dB for digital silence).
    out = opera_logmel(torch.zeros(4000))
    assert torch.equal(out, torch.zeros(8, 64))
    const = torch.full((2, 3), 5.0)
    assert torch.equal(minmax_per_clip(const), const)


def test_absolute_db_keeps_loudness():
    quiet = mel_power(two_tones() * 0.1).unsqueeze(0)
    loud = mel_power(two_tones()).unsqueeze(0)
    gap = power_to_db(loud, ref=1.0, top_db=None) - power_to_db(quiet, ref=1.0, top_db=None)
    keep = power_to_db(quiet, ref=1.0, top_db=None) > -60  # above float32 rounding noise
    torch.testing.assert_close(gap[keep], torch.full_like(gap[keep], 20.0), rtol=0, atol=1e-3)


def test_other_configs_and_bad_input():
    cfg = MelConfig(sample_rate=32000, n_fft=1024, hop_length=320, n_mels=64, f_min=50.0, f_max=14000.0)
    assert mel_filterbank(cfg).shape == (64, 513)
    assert mel_power(torch.randn(32000), cfg).shape == (1 + 32000 // 320, 64)
    with pytest.raises(ValueError, match="n_samples"):
        mel_power(torch.zeros(2, 0))
    with pytest.raises(ValueError, match="1-D"):
        batch_by_length([torch.zeros(2, 5)])
    assert math.isclose(float(power_to_db(torch.tensor([[1e-12, 1.0]]), ref=1.0, top_db=None)[0, 0]), -100.0)
