"""The log-mel statistics baseline: registry, shapes, hand-checked statistics, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from acubench.encoders._logmel_model import build, delta
from acubench.encoders.logmel import EMBED_DIM, N_MELS, SPEC
from acubench.frontends import OPERA_MEL, mel_power, power_to_db
from acubench.loading import load_encoder

SR = 16000


def noise(n: int, seed: int, scale: float = 0.1) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed)) * scale


def tone(freq: float, seconds: float, amp: float = 0.5) -> torch.Tensor:
    t = np.arange(int(seconds * SR)) / SR
    return torch.from_numpy((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32))


def test_registered_without_weights():
    enc = load_encoder("logmel")
    assert enc.spec is SPEC and enc.embed_dim == EMBED_DIM == 256
    assert enc.weights_info.status == "none" and not SPEC.supports_alignment
    assert load_encoder("baseline").spec is SPEC
    assert enc.fingerprint() == load_encoder("logmel").fingerprint()
    with pytest.raises(ValueError, match="no weights"):
        build(SPEC, config={}, weights="x.pt", device="cpu", seed=0)


def test_declared_sizes_are_the_front_end_s():
    # The declaration states them without importing the (torch) front-end; they must agree.
    assert (SPEC.sample_rate, N_MELS) == (OPERA_MEL.sample_rate, OPERA_MEL.n_mels)


def test_htk_delta_by_hand():
    # x_t = t², N = 2, edges replicated: d_t = (x_{t+1} − x_{t−1} + 2 (x_{t+2} − x_{t−2})) / 10.
    x = torch.tensor([0.0, 1.0, 4.0, 9.0, 16.0]).view(1, 5, 1)
    d = delta(x, torch.tensor([5])).flatten()
    torch.testing.assert_close(d, torch.tensor([0.9, 2.2, 4.0, 4.2, 3.1]))
    # A shorter clip in a padded batch uses its own last frame as the edge.
    padded = torch.tensor([0.0, 1.0, 4.0, float("nan"), float("nan")]).view(1, 5, 1)
    torch.testing.assert_close(delta(padded, torch.tensor([3])).flatten()[:3], torch.tensor([0.9, 1.2, 1.1]))


def test_statistics_layout_and_values():
    enc = load_encoder("logmel")
    wave = noise(16000, 0)
    emb = enc.embed([wave])[0]
    db = power_to_db(mel_power(wave).unsqueeze(0), ref=1.0, top_db=80.0)[0]  # (32, 64)
    torch.testing.assert_close(emb[:64], db.mean(0), rtol=0, atol=1e-4)
    torch.testing.assert_close(emb[64:128], db.std(0, unbiased=False), rtol=0, atol=1e-4)
    d = delta(db.unsqueeze(0), torch.tensor([db.shape[0]]))[0]
    torch.testing.assert_close(emb[128:192], d.mean(0), rtol=0, atol=1e-4)
    torch.testing.assert_close(emb[192:], d.std(0, unbiased=False), rtol=0, atol=1e-4)


def test_loudness_survives():
    # ×10 amplitude is +20 dB in every band; spectral shape (std, deltas) unchanged.
    enc = load_encoder("logmel")
    wave = noise(16000, 1)
    quiet, loud = enc.embed([wave, wave * 10])
    torch.testing.assert_close(loud[:64] - quiet[:64], torch.full((64,), 20.0), rtol=0, atol=1e-3)
    torch.testing.assert_close(loud[64:], quiet[64:], rtol=0, atol=1e-3)


def test_deltas_follow_a_rising_tone():
    # Amplitude ×10 per second is +20 dB/s, i.e. +0.64 dB per 32 ms frame, in the 1 kHz band (bin 20).
    t = np.arange(2 * SR) / SR
    rising = torch.from_numpy((0.005 * 10 ** t * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    steady, ramp = load_encoder("logmel").embed([tone(1000.0, 2.0), rising])
    assert int(steady[:64].argmax()) == 20 and int(ramp[:64].argmax()) == 20
    # The mean delta is the slope, diluted only by the half-empty first and last frames.
    assert float(ramp[128 + 20]) == pytest.approx(0.64, abs=0.05)
    assert abs(float(steady[128 + 20])) < 0.05


def test_ragged_batch_equals_one_by_one():
    enc = load_encoder("logmel")
    waves = [noise(16000, 2), noise(5000, 3, 0.01), tone(440.0, 1.0), noise(700, 4)]
    batch = enc.embed(waves)
    assert batch.shape == (4, 256) and torch.isfinite(batch).all()
    for i, w in enumerate(waves):
        torch.testing.assert_close(batch[i], enc.embed([w])[0], rtol=0, atol=1e-4)
    feats = enc.featurize(waves)
    assert feats.shape == (4, 32, 64) and torch.isnan(feats[1, 10:]).all() and not torch.isnan(feats[0]).any()


def test_separates_spectrally_different_classes():
    # Low-pass vs high-pass noise: the band means alone tell them apart.
    enc = load_encoder("logmel")
    low = [torch.from_numpy(np.convolve(noise(16000, s).numpy(), np.ones(16) / 16, "same").astype(np.float32))
           for s in range(4)]
    high = [torch.from_numpy(np.diff(noise(16001, 10 + s).numpy()).astype(np.float32)) for s in range(4)]
    emb = enc.embed(low + high)
    score = emb[:, 56:64].mean(1) - emb[:, 0:8].mean(1)
    assert bool(score[4:].min() > score[:4].max())
