"""The HEAR-API adapter: a tiny HEAR module written by the test, wrapped by name."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from acubench.errors import OptionError
from acubench.extract import extract
from acubench.loading import load_encoder
from acubench.plugins import get_encoder

HEAR_MODULE = '''
"""A minimal HEAR 2021 API implementation (test fixture)."""
import torch

CALLS = []


class Model(torch.nn.Module):
    sample_rate = 8000
    scene_embedding_size = 3

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.scale = torch.nn.Parameter(torch.tensor(2.0))


def load_model(model_file_path=""):
    return Model(model_file_path)


def get_scene_embeddings(audio, model):
    if audio.ndim != 2:
        raise ValueError("audio input tensor must be 2D with shape (n_sounds, num_samples)")
    CALLS.append(tuple(audio.shape))
    seconds = torch.full((audio.shape[0],), audio.shape[1] / model.sample_rate)
    return torch.stack([audio.mean(1) * model.scale, audio.abs().max(1).values, seconds], dim=1)
'''


@pytest.fixture
def hear_module(tmp_path, monkeypatch):
    (tmp_path / "toyhear.py").write_text(textwrap.dedent(HEAR_MODULE))
    (tmp_path / "notahear.py").write_text("def load_model(model_file_path=''):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "toyhear"
    for name in ("toyhear", "notahear"):
        sys.modules.pop(name, None)


def test_wraps_a_hear_module_by_name(hear_module):
    enc = load_encoder(f"hear:{hear_module}")
    module = sys.modules[hear_module]
    assert (enc.sample_rate, enc.embed_dim) == (8000, 3)
    assert enc.model.path == "" and enc.config["arg"] == hear_module
    assert not get_encoder("hear").supports_alignment
    gen = torch.Generator().manual_seed(0)
    waves = [torch.rand(800, generator=gen) - 0.5, torch.rand(1600, generator=gen) - 0.5, torch.rand(800, generator=gen) - 0.5]
    emb = enc.embed(waves)
    # Equal lengths go together, nothing is padded: one call per length.
    assert sorted(module.CALLS) == [(1, 1600), (2, 800)]
    expected = torch.stack([torch.stack([2 * w.mean(), w.abs().max(), torch.tensor(len(w) / 8000)]) for w in waves])
    torch.testing.assert_close(emb, expected)
    # Batched equals one at a time.
    torch.testing.assert_close(torch.cat([enc.embed([w]) for w in waves]), emb)


def test_weights_path_goes_to_load_model(hear_module, tmp_path):
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"weights")
    enc = load_encoder(f"hear:{hear_module}", weights=weights)
    assert enc.model.path == str(weights)
    assert enc.weights_info.source == str(weights) and len(enc.weights_info.sha256) == 64
    default = load_encoder(f"hear:{hear_module}")
    assert default.weights_info.source.startswith(f"{hear_module} unversioned")
    assert default.fingerprint() != enc.fingerprint()


def test_errors_name_the_module_and_the_fix(hear_module):
    with pytest.raises(OptionError, match=r"cannot import module 'no_such_hear_pkg'.*pip install no_such_hear_pkg"):
        load_encoder("hear:no_such_hear_pkg")
    with pytest.raises(OptionError, match=r"'notahear' does not implement the HEAR API \(missing \['get_scene_embeddings'\]\)"):
        load_encoder("hear:notahear")
    with pytest.raises(ValueError, match="use --encoder hear:MODULE"):
        load_encoder("hear")


def test_the_engine_resamples_to_the_modules_rate(hear_module, tmp_path):
    rows = []
    for i, seconds in enumerate((0.5, 1.0)):
        path = tmp_path / f"clip{i}.wav"
        t = np.arange(int(16000 * seconds)) / 16000
        sf.write(path, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
        rows.append({"clip_id": f"c{i}", "path": str(path)})
    enc = load_encoder(f"hear:{hear_module}")
    out = extract(enc, pd.DataFrame(rows), enc.spec.clip)
    assert out.embeddings.shape == (2, 3) and out.ok.all()
    # Third feature: seconds of audio at the module's 8 kHz.
    np.testing.assert_allclose(out.embeddings[:, 2], [0.5, 1.0])
    np.testing.assert_allclose(out.embeddings[:, 1], [0.5, 0.5], atol=2e-2)
