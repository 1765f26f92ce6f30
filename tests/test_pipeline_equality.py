"""The extraction pipeline (worker processes, batched device front-ends) gives 0.1's embeddings.

The reference is how acubench 0.1 computed them: each recording decoded whole, cut by
the clip policy, and each window embedded on its own through the released front-end
(torchaudio's Kaldi fbank for AudioMAE, transformers' CLAP extractor), averaged per clip.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from acubench.audio import iter_windows, load_clip
from acubench.engine.extract import extract
from acubench.frontends import kaldi_fbank
from acubench.loading import load_encoder


def _audiomae_reference(enc, wave: torch.Tensor) -> torch.Tensor:
    import torchaudio

    from acubench.encoders._audiomae_model import AUDIOSET_MEAN, AUDIOSET_STD

    feats = torchaudio.compliance.kaldi.fbank((wave - wave.mean())[None], htk_compat=True, sample_frequency=16000,
                                              use_energy=False, window_type="hanning", num_mel_bins=128, dither=0.0,
                                              frame_length=25.0, frame_shift=10.0)[:1024]
    feats = torch.cat([feats, feats.new_zeros(1024 - feats.shape[0], 128)])
    return ((feats - AUDIOSET_MEAN) / (2 * AUDIOSET_STD))[None]


def _clap_reference(enc, wave: torch.Tensor) -> torch.Tensor:
    feats = enc.extractor([wave.numpy().astype(np.float64)], sampling_rate=48000, truncation="rand_trunc",
                          padding="repeatpad", return_tensors="pt")["input_features"]
    return feats[:, 0].float()


REFERENCE_FRONTEND = {"audiomae": _audiomae_reference, "clap": _clap_reference, "opera-gt": None, "logmel": None}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rec")
    rng = np.random.default_rng(1)
    rows = []
    for i, seconds in enumerate([3.0, 9.5, 17.2, 1.3, 12.0]):
        sr = (44100, 16000, 48000, 22050, 8000)[i]
        t = np.arange(int(seconds * sr)) / sr
        wave = (0.1 * rng.standard_normal(len(t)) * (1 + np.sin(2 * np.pi * 0.5 * t))
                + 0.05 * np.sin(2 * np.pi * 330 * t))
        path = folder / f"r{i}.wav"
        sf.write(str(path), wave.astype(np.float32), sr, subtype="PCM_16")
        rows.append({"clip_id": f"r{i}", "path": str(path)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n == "logmel" else pytest.mark.slow)
                                  for n in sorted(REFERENCE_FRONTEND)])  # logmel: 2 s; the models: 5-8 s
def test_pipeline_embeddings_equal_the_one_window_at_a_time_reference(recordings, name):
    enc = load_encoder(name, config="tiny" if name != "logmel" else "default", random_init="always", device="cpu")
    policy = enc.spec.clip
    reference = []
    for path in recordings["path"]:
        windows = list(iter_windows(load_clip(path, enc.sample_rate), enc.sample_rate, policy))
        embs = []
        with torch.inference_mode():
            for w in windows:
                w = torch.from_numpy(w)
                make = REFERENCE_FRONTEND[name]
                inputs = enc.featurize([w]) if make is None else make(enc, w)
                embs.append(enc.pool(enc.forward_tokens(inputs)).float())
        reference.append(torch.cat(embs).double().mean(0).numpy())
    reference = np.stack(reference)
    ext = extract(enc, recordings, policy, batch_size=4, workers=2, precision="fp32")
    a, b = ext.embeddings.astype(np.float64), reference
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() >= 0.99999, cosine


def test_batched_kaldi_fbank_equals_torchaudio_row_by_row():
    import torchaudio

    waves = 0.1 * torch.randn(3, 16000 * 2, generator=torch.Generator().manual_seed(0))
    ours = kaldi_fbank(waves, 16000)
    for w, mine in zip(waves, ours, strict=True):
        theirs = torchaudio.compliance.kaldi.fbank(w[None], htk_compat=True, sample_frequency=16000, use_energy=False,
                                                   window_type="hanning", num_mel_bins=128, dither=0.0)
        torch.testing.assert_close(mine, theirs, atol=2e-3, rtol=1e-4)
    assert kaldi_fbank(waves[:, :100], 16000).shape == (3, 0, 128)
