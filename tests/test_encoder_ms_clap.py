"""MS-CLAP (2022 CNN14, 2023 HTS-AT): released key layout, strict loading, preprocessing as the package's.

The expected key sets are written from the structure of the ``msclap`` package
(``CLAP.audio_encoder`` = ``AudioEncoder(base=Cnn14 | HTSATWrapper, projection)``,
torchlibrosa's frozen front-end tensors, ``Projection``'s bias-free layers),
not from this package's modules. The released ``CLAP_weights_<year>.pth``
files cannot be downloaded here; the tests write checkpoints in their layout
(``{"model": <whole CLAP state dict>}``, text tower included).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from acubench.audio import iter_windows
from acubench.checkpoints import CheckpointError
from acubench.encoders import _ms_clap_model as model
from acubench.encoders import ms_clap
from acubench.encoders._cnn14 import TorchlibrosaLogmel
from acubench.frontends import MelConfig, mel_filterbank
from acubench.loading import load_encoder
from layouts.opera import ct_released_keys, perturbed

SR = 44100
BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def noise(seconds: float, seed: int) -> torch.Tensor:
    return torch.randn(int(seconds * SR), generator=torch.Generator().manual_seed(seed)) * 0.1


def cnn14_released_shapes(channels=(64, 128, 256, 512, 1024, 2048), out_emb=2048, classes=527, d_proj=1024):
    """``audio_encoder.*`` of CLAP_weights_2022.pth, from msclap's Cnn14 and Projection."""
    p = "audio_encoder.base."
    shapes = {f"{p}spectrogram_extractor.stft.conv_real.weight": (513, 1, 1024),
              f"{p}spectrogram_extractor.stft.conv_imag.weight": (513, 1, 1024),
              f"{p}logmel_extractor.melW": (513, 64),
              **{f"{p}bn0.{k}": (() if k == "num_batches_tracked" else (64,)) for k in BN}}
    widths = (1, *channels)
    for i in range(6):
        b = f"{p}conv_block{i + 1}."
        shapes[b + "conv1.weight"] = (widths[i + 1], widths[i], 3, 3)
        shapes[b + "conv2.weight"] = (widths[i + 1], widths[i + 1], 3, 3)
        for bn in ("bn1", "bn2"):
            shapes.update({f"{b}{bn}.{k}": (() if k == "num_batches_tracked" else (widths[i + 1],)) for k in BN})
    shapes.update({f"{p}fc1.weight": (out_emb, channels[-1]), f"{p}fc1.bias": (out_emb,),
                   f"{p}fc_audioset.weight": (classes, out_emb), f"{p}fc_audioset.bias": (classes,),
                   "audio_encoder.projection.linear1.weight": (d_proj, out_emb),
                   "audio_encoder.projection.linear2.weight": (d_proj, d_proj),
                   "audio_encoder.projection.layer_norm.weight": (d_proj,),
                   "audio_encoder.projection.layer_norm.bias": (d_proj,)})
    return shapes


def released_file(audio_state: dict[str, torch.Tensor]) -> dict:
    """A whole-CLAP checkpoint as the package reads it: ``torch.load(path)["model"]``, text tower and all."""
    text = {"caption_encoder.base.embeddings.word_embeddings.weight": torch.zeros(30, 8),
            "caption_encoder.base.embeddings.position_ids": torch.arange(100).unsqueeze(0),
            "caption_encoder.projection.linear1.weight": torch.zeros(8, 8),
            "logit_scale": torch.tensor(2.6593)}
    return {"model": {**audio_state, **text}}


def test_frontend_is_a_centred_hann_stft_power_mel_in_db():
    owner = torch.nn.Module()
    TorchlibrosaLogmel.attach(owner, sample_rate=SR, n_fft=1024, hop=320, n_mels=64, fmin=50, fmax=14000)
    wave = noise(0.5, 0).unsqueeze(0)
    ours = TorchlibrosaLogmel.logmel(owner, wave)
    spec = torch.stft(wave.double(), 1024, 320, window=torch.hann_window(1024, dtype=torch.float64), center=True,
                      pad_mode="reflect", return_complex=True).abs() ** 2
    mel = spec.transpose(1, 2) @ mel_filterbank(MelConfig(SR, 1024, 320, 64, 50, 14000), dtype=torch.float64).T
    assert ours.shape == (1, 1 + wave.shape[1] // 320, 64)
    torch.testing.assert_close(ours.double(), 10 * torch.log10(mel.clamp(min=1e-10)), rtol=0, atol=2e-3)


@pytest.mark.parametrize("name, seconds", [("ms-clap", 5.0), ("ms-clap-2023", 7.0)])
def test_short_clips_are_tiled_from_their_start_and_long_ones_windowed(name, seconds):
    enc = load_encoder(name, config="tiny", random_init="always")
    clip = noise(2.0, 1)
    (tiled,) = enc.featurize([clip])
    n = int(seconds * SR)
    expected = torch.cat([clip] * 4)[:n]  # the clip, then copies of it from the start, truncated
    torch.testing.assert_close(tiled, expected)
    # Longer recordings: windows of the model's duration every half window; the tail is dropped.
    wave = np.zeros(int(3.6 * seconds * SR), dtype=np.float32)
    windows = list(iter_windows(wave, SR, enc.spec.clip))
    assert [len(w) for w in windows] == [n] * 6 and not enc.spec.clip.trim_silence


@pytest.mark.parametrize("name", ["ms-clap", "ms-clap-2023"])
def test_tiny_models_are_seeded_and_batch_independent(name):
    a = load_encoder(name, config="tiny", random_init="always", seed=3)
    b = load_encoder(name, config="tiny", random_init="always", seed=3)
    clips = [noise(1.0, 2), noise(3.0, 3), noise(0.3, 4)]
    batched = a.embed(clips)
    assert batched.shape == (3, 8) and torch.isfinite(batched).all()
    torch.testing.assert_close(batched, torch.cat([b.embed([c]) for c in clips]), rtol=0, atol=1e-5)
    assert a.fingerprint() == b.fingerprint() != load_encoder(name, config="tiny", random_init="always",
                                                               seed=4).fingerprint()


def test_released_layout_loads_strictly_and_the_text_tower_is_ignored(tmp_path):
    tiny = ms_clap.PRESETS_2022["tiny"]["cnn14"]
    source = model.build(ms_clap.SPEC_2022, config={"name": "tiny"}, weights=None, device="cpu", seed=1)
    state = perturbed(source.export_state_dict(), 2)
    shapes = cnn14_released_shapes(tiny["channels"], tiny["out_emb"], tiny["classes"], 8)
    assert {k: tuple(v.shape) for k, v in state.items()} == shapes
    source.load_state_dict(state)
    path = tmp_path / "CLAP_weights_2022.pth"
    torch.save({**released_file(state), "epoch": 45}, path)
    enc = load_encoder("ms-clap", config="tiny", weights=path)
    clips = [noise(5.0, 5), noise(1.5, 6)]
    torch.testing.assert_close(enc.embed(clips), source.embed(clips), rtol=0, atol=1e-6)
    assert enc.weights_info.status == "pretrained" and enc.fingerprint() != source.fingerprint()


def test_a_checkpoint_that_does_not_fit_is_refused_with_the_keys(tmp_path):
    source = model.build(ms_clap.SPEC_2022, config={"name": "tiny"}, weights=None, device="cpu", seed=1)
    state = source.export_state_dict()
    state.pop("audio_encoder.projection.linear2.weight")
    torch.save(released_file(state), tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"missing key.*audio_encoder\.projection\.linear2\.weight.*--non-strict"):
        load_encoder("ms-clap", config="tiny", weights=tmp_path / "partial.pth")
    torch.save({"model": {"audio_model.layer.weight": torch.zeros(2)}}, tmp_path / "laion.pth")
    with pytest.raises(CheckpointError, match=r"laion\.pth: not an MS-CLAP checkpoint.*CLAP_weights_<year>\.pth"):
        load_encoder("ms-clap", config="tiny", weights=tmp_path / "laion.pth")
    with pytest.raises(CheckpointError, match=r"shape mismatch"):  # a 2022 file is not a 2023 model
        load_encoder("ms-clap-2023", config="tiny", weights=tmp_path / "partial.pth")


@pytest.mark.slow
def test_full_size_2022_released_checkpoint(tmp_path):
    source = model.build(ms_clap.SPEC_2022, config={}, weights=None, device="cpu", seed=1)
    state = perturbed(source.export_state_dict(), 2)
    assert {k: tuple(v.shape) for k, v in state.items()} == cnn14_released_shapes()
    source.load_state_dict(state)
    path = tmp_path / "CLAP_weights_2022.pth"
    torch.save(released_file(state), path)
    enc = load_encoder("ms-clap", weights=path)
    clips = [noise(5.0, 7), noise(2.0, 8)]
    emb = enc.embed(clips)
    assert emb.shape == (2, 1024)
    torch.testing.assert_close(emb, source.embed(clips), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_full_size_2023_released_layout(tmp_path):
    source = model.build(ms_clap.SPEC_2023, config={}, weights=None, device="cpu", seed=1)
    state = perturbed(source.export_state_dict(), 2)
    htsat = {"audio_encoder.base.htsat." + k[len("encoder.encoder.htsat."):] for k in ct_released_keys()}
    projection = {"audio_encoder.projection.linear1.weight": (1024, 768),
                  "audio_encoder.projection.linear2.weight": (1024, 1024),
                  "audio_encoder.projection.layer_norm.weight": (1024,),
                  "audio_encoder.projection.layer_norm.bias": (1024,)}
    assert set(state) == htsat | set(projection)
    assert {k: tuple(state[k].shape) for k in projection} == projection
    source.load_state_dict(state)
    path = tmp_path / "CLAP_weights_2023.pth"
    torch.save(released_file(state), path)
    enc = load_encoder("ms-clap-2023", weights=path)
    clips = [noise(7.0, 9), noise(2.0, 10)]
    emb = enc.embed(clips)
    assert emb.shape == (2, 1024)
    torch.testing.assert_close(emb, source.embed(clips), rtol=0, atol=1e-5)
