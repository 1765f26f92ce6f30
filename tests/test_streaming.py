"""Long recordings are cut into windows block by block, equal to the whole-recording path."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from acubench import audio, streaming
from acubench.audio import StreamResampler, iter_windows, load_clip, resample
from acubench.specs import ClipPolicy
from acubench.streaming import clip_windows

POLICIES = {
    "gt windows, repeat-padded tail": ClipPolicy(window_seconds=0.8, last_window="pad"),
    "windows, hop 0.3 s, kept tail": ClipPolicy(window_seconds=0.8, hop_seconds=0.3, last_window="keep", pad="none"),
    "zero-padded tail, no trim": ClipPolicy(trim_silence=False, window_seconds=1.1, pad="zero"),
    "dropped tail, min window": ClipPolicy(window_seconds=0.7, last_window="drop", min_window_seconds=0.2),
    "whole clip, cropped": ClipPolicy(max_seconds=2.5),
    "whole clip": ClipPolicy(min_seconds=1.0),
}


@pytest.fixture
def long_recording(tmp_path):
    """6 s at 44.1 kHz: 1 s of silence, a modulated tone in noise, 1 s of silence."""
    sr = 44100
    rng = np.random.default_rng(3)
    t = np.arange(4 * sr) / sr
    body = 0.2 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.7 * t)) + 0.01 * rng.standard_normal(len(t))
    wave = np.concatenate([np.zeros(sr), body, np.zeros(sr)]).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(str(path), wave, sr, subtype="FLOAT")
    return path


@pytest.mark.parametrize("retain", [1 << 30, 1000], ids=["first pass kept", "decoded twice"])
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_block_wise_windows_equal_the_whole_recording_path(long_recording, monkeypatch, name, retain):
    policy = POLICIES[name]
    expected = list(iter_windows(load_clip(long_recording, 16000), 16000, policy))
    monkeypatch.setattr(audio, "BLOCK_SECONDS", 0.37)  # 16 blocks of 0.37 s
    monkeypatch.setattr(streaming, "RETAIN_SAMPLES", retain)
    got = list(clip_windows(long_recording, 16000, policy))
    assert [len(w) for w in got] == [len(w) for w in expected]
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)  # float32 rounding of the 2 × 64-tap-per-zero sinc


def test_stream_resampler_equals_whole_signal_resampling():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(48000 + 123).astype(np.float32)
    for orig, target in [(44100, 16000), (8000, 16000), (22050, 16000)]:
        stream = StreamResampler(orig, target)
        parts = [stream.push(x[i:i + 7001]) for i in range(0, len(x), 7001)] + [stream.finish()]
        np.testing.assert_allclose(np.concatenate(parts), resample(x, orig, target), atol=5e-5)


def test_a_long_silent_recording_is_bad_audio(tmp_path, monkeypatch):
    path = tmp_path / "quiet.wav"
    sf.write(str(path), np.zeros(16000 * 3, dtype=np.float32), 16000)
    monkeypatch.setattr(audio, "BLOCK_SECONDS", 0.5)
    with pytest.raises(audio.AudioError, match="all zeros"):
        list(clip_windows(path, 16000, ClipPolicy(window_seconds=1.0)))
