"""``acubench embed`` and ``acubench.embed()``: the same embeddings as the benchmark, written atomically."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from acubench import api
from acubench.cli import main
from acubench.errors import OptionError, PathNotFound
from acubench.loading import EncoderOptions


@pytest.fixture
def recordings(tmp_path):
    folder = tmp_path / "rec"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, seconds in enumerate((1.0, 2.5, 0.6)):
        sf.write(str(folder / f"r{i}.wav"), (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000)
    return folder


def test_cli_writes_what_the_api_returns(recordings, tmp_path, capsys):
    out = tmp_path / "emb.npy"
    assert main(["embed", "--encoder", "logmel", str(recordings), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "3 files → (3, 256)" in err and "wrote" in err
    ids = json.loads(out.with_suffix(".ids.json").read_text())["ids"]
    assert [p.rsplit("/", 1)[-1] for p in ids] == ["r0.wav", "r1.wav", "r2.wav"]
    result = api.embed([recordings], encoder="logmel")
    assert capsys.readouterr() == ("", "")  # the API reports through logging only
    np.testing.assert_array_equal(np.load(out), result.embeddings)
    assert result.extraction.cached == 3  # the CLI's run filled the cache


def test_bad_inputs_and_options_are_one_clear_error(recordings, tmp_path, capsys):
    assert main(["embed", "--encoder", "logmel", str(tmp_path / "missing"), "-o", str(tmp_path / "e.npy")]) == 2
    assert "missing: no such file or folder" in capsys.readouterr().err
    with pytest.raises(PathNotFound, match="no such file or folder"):
        api.embed([tmp_path / "missing"], encoder="logmel")
    with pytest.raises(OptionError, match="--clip-policy 'windows:x'"):
        api.embed([recordings], encoder="logmel", clip_policy="windows:x")
    with pytest.raises(OptionError, match=r"must end in \.npy or \.parquet"):
        main(["-v", "embed", "--encoder", "logmel", str(recordings), "-o", str(tmp_path / "e.txt")])
    with pytest.raises(OptionError, match="precision must be one of"):
        EncoderOptions(precision="fp16")
