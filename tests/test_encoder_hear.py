"""The HEAR-API adapter: a tiny HEAR module written by the test, wrapped by name."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from acubench.cli import main
from acubench.encoders._hear_model import HearError
from acubench.engine.extract import extract
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
    api = "def get_scene_embeddings(audio, model):\n    raise ValueError('bad audio')\n"
    broken = "def load_model(model_file_path=''):\n    raise RuntimeError('no weights')\n"
    (tmp_path / "brokenhear.py").write_text(broken + api)
    (tmp_path / "norate.py").write_text("class M:\n    scene_embedding_size = 3\n"
                                        "def load_model(model_file_path=''):\n    return M()\n" + api)
    (tmp_path / "failinghear.py").write_text("class M:\n    sample_rate = 8000\n    scene_embedding_size = 3\n"
                                             "def load_model(model_file_path=''):\n    return M()\n" + api)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "toyhear"
    for name in ("toyhear", "notahear", "brokenhear", "norate", "failinghear"):
        sys.modules.pop(name, None)


def _padded(w: torch.Tensor, rate: int = 8000) -> torch.Tensor:
    """A clip zero-padded to whole seconds, as the adapter batches it."""
    n = -(-w.numel() // rate) * rate
    return torch.cat([w, torch.zeros(n - w.numel())])


def test_wraps_a_hear_module_by_name(hear_module):
    enc = load_encoder(f"hear:{hear_module}")
    module = sys.modules[hear_module]
    assert (enc.sample_rate, enc.embed_dim) == (8000, 3) and enc.name == f"hear:{hear_module}"
    assert enc.model.path == "" and enc.config["arg"] == hear_module
    assert not get_encoder("hear").supports_alignment
    gen = torch.Generator().manual_seed(0)
    waves = [torch.rand(800, generator=gen) - 0.5, torch.rand(1600, generator=gen) - 0.5,
             torch.rand(9000, generator=gen) - 0.5]
    emb = enc.embed(waves)
    # Zero-padded to whole seconds and batched: one call per padded length, not per clip length.
    assert sorted(module.CALLS) == [(1, 16000), (2, 8000)]
    expected = torch.stack([torch.stack([2 * p.mean(), p.abs().max(), torch.tensor(len(p) / 8000)])
                            for p in map(_padded, waves)])
    torch.testing.assert_close(emb, expected)
    # The padding depends on the clip alone: batched equals one at a time.
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


def test_errors_name_the_module_and_the_fix(hear_module, tmp_path):
    with pytest.raises(HearError, match=r"cannot import module 'no_such_hear_pkg'.*pip install no_such_hear_pkg"):
        load_encoder("hear:no_such_hear_pkg")
    with pytest.raises(HearError,
                       match=r"'notahear' does not implement the HEAR API \(missing \['get_scene_embeddings'\]\)"):
        load_encoder("hear:notahear")
    with pytest.raises(HearError, match="use --encoder hear:MODULE"):
        load_encoder("hear")
    with pytest.raises(HearError, match=r"hear:brokenhear: brokenhear\.load_model failed .*RuntimeError: no weights"):
        load_encoder("hear:brokenhear")
    with pytest.raises(HearError, match=r"no positive integer attribute 'sample_rate' \(got None\)"):
        load_encoder("hear:norate")
    with pytest.raises(ValueError, match=r"hear:toyhear: --random-init does not apply.*drop --random-init"):
        load_encoder(f"hear:{hear_module}", random_init="always")
    enc = load_encoder("hear:failinghear")
    with pytest.raises(HearError, match=r"failinghear\.get_scene_embeddings failed on a batch of shape \(1, 8000\) "
                                        r"at 8000 Hz \(ValueError: bad audio\)"):
        enc.embed([torch.zeros(100)])


FAKE_TENSORFLOW = """
import numpy as np

class Module:
    pass

class EagerTensor:
    def __init__(self, value):
        self._value = np.asarray(value)
        self.shape = self._value.shape
    def numpy(self):
        return self._value

def convert_to_tensor(value):
    return EagerTensor(value)
"""

TF_HEAR_MODULE = """
import numpy as np
import tensorflow as tf

class Model(tf.Module):
    sample_rate = 8000
    scene_embedding_size = 2.0   # some modules keep sizes as floats

def load_model(model_file_path=""):
    return Model()

def get_scene_embeddings(audio, model):
    assert isinstance(audio, tf.EagerTensor), type(audio)
    x = audio.numpy()
    return tf.EagerTensor(np.stack([x.mean(1), x.std(1)], 1))
"""

ARRAY_HEAR_MODULE = """
import numpy as np

class Out:
    def __init__(self, x):
        self.x = x
    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.x, dtype=dtype)

class Model:
    sample_rate = 8000
    scene_embedding_size = 2

def load_model(model_file_path=""):
    return Model()

def get_scene_embeddings(audio, model):
    x = audio.numpy()
    return Out(np.stack([x.mean(1), x.max(1)], 1))
"""


def test_tensorflow_and_array_like_modules(tmp_path, monkeypatch):
    """A TensorFlow/Keras module gets a TF tensor and may return an EagerTensor; any array-like output works."""
    (tmp_path / "tensorflow.py").write_text(FAKE_TENSORFLOW)
    (tmp_path / "tfhear.py").write_text(TF_HEAR_MODULE)
    (tmp_path / "arrayhear.py").write_text(ARRAY_HEAR_MODULE)
    (tmp_path / "shapehear.py").write_text(ARRAY_HEAR_MODULE.replace("x.max(1)], 1)", "x.max(1)], 0)"))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        waves = [torch.linspace(-0.5, 0.5, 800), torch.linspace(0, 0.25, 12000)]
        padded = [_padded(w) for w in waves]
        tf_enc = load_encoder("hear:tfhear")
        assert tf_enc.framework == "tensorflow" and tf_enc.embed_dim == 2
        torch.testing.assert_close(tf_enc.embed(waves), torch.stack([torch.stack([p.mean(), p.std(unbiased=False)])
                                                                     for p in padded]))
        arr_enc = load_encoder("hear:arrayhear")
        torch.testing.assert_close(arr_enc.embed(waves), torch.stack([torch.stack([p.mean(), p.max()])
                                                                      for p in padded]))
        with pytest.raises(HearError, match=r"returned shape \(2, 1\) for 1 sound\(s\), expected \(1, 2\)"):
            load_encoder("hear:shapehear").embed(waves[:1])
    finally:
        for name in ("tensorflow", "tfhear", "arrayhear", "shapehear"):
            sys.modules.pop(name, None)


def test_the_cli_shows_the_modules_name_and_rate_and_refuses_random_init(hear_module, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["encoders", f"hear:{hear_module}"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if f"hear:{hear_module} " in line)
    assert "│ 8000 " in row and "│ 3 " in row and f"{hear_module} unversioned (its own weights)" in row
    assert main(["encoders"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("│ hear "))
    assert "from model" in row and "16000" not in row
    assert main(["run", "--encoder", f"hear:{hear_module}", "--random-init", "--tasks", "demo-wheeze"]) == 2
    assert "--random-init does not apply" in capsys.readouterr().err


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
    # Third feature: seconds of (padded) audio at the module's 8 kHz; second: the tone's peak, resampled.
    np.testing.assert_allclose(out.embeddings[:, 2], [1.0, 1.0])
    np.testing.assert_allclose(out.embeddings[:, 1], [0.5, 0.5], atol=2e-2)
    # The mean of a zero-padded half-second tone: half the mean of the whole-second one, both ~0.
    assert abs(out.embeddings[0, 0]) < 1e-2
