"""Audio decoding, bad-input errors and the OPERA clip policies, against hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from acubench.audio import AudioError, iter_windows, load_clip, pad_repeat, pad_zero, read_audio, resample, trim_silence
from acubench.specs import ClipPolicy


def _write(path, data, sr=16000, subtype="PCM_16"):
    sf.write(str(path), data, sr, subtype=subtype)
    return path


# -- decoding and bad input --------------------------------------------------------------


def test_stereo_is_averaged_to_mono(tmp_path):
    left = np.full(1600, 0.5, dtype=np.float32)
    right = np.full(1600, -0.25, dtype=np.float32)
    p = _write(tmp_path / "st.wav", np.stack([left, right], axis=1), subtype="FLOAT")
    wave, sr = read_audio(p)
    assert sr == 16000 and wave.shape == (1600,)
    np.testing.assert_allclose(wave, 0.125)
    one, _ = read_audio(p, channel=1)
    np.testing.assert_allclose(one, -0.25)


def test_segment_bounds_in_seconds(tmp_path):
    data = np.arange(10000, dtype=np.float32) / 10000
    p = _write(tmp_path / "seg.wav", data, sr=1000, subtype="FLOAT")
    wave, _ = read_audio(p, start=2.0, end=3.5)
    np.testing.assert_allclose(wave, data[2000:3500])
    whole, _ = read_audio(p, start=float("nan"), end=float("nan"))
    assert len(whole) == 10000


def _set_wav_rate(path, rate):
    """Rewrite a PCM WAV header's sample rate (and byte rate), leaving the data as it is."""
    import struct

    raw = bytearray(path.read_bytes())
    raw[24:28] = struct.pack("<I", rate)
    raw[28:32] = struct.pack("<I", rate * 2)
    path.write_bytes(bytes(raw))


BAD_AUDIO = {
    "missing": "file not found",
    "corrupt": "cannot be decoded",
    "empty": "contains no samples",
    "silent": "all zeros",
    "-600 dB": r"is silent \(peak -600 dBFS, below -120 dBFS\)",
    "nan": "NaN/Inf samples",
    "bad-channel": "channel 5 requested",
    "1 sample": r"is 1 sample\(s\) long .*at least 0.1 s",
    "10 samples": r"is 10 sample\(s\) long",
    "truncated": "is truncated: its header promises 32000 bytes",
    "1 Hz header": "sample rate of 1 Hz, outside the 1000–384000 Hz",
    "500 kHz header": "sample rate of 500000 Hz",
}


@pytest.mark.parametrize("case", sorted(BAD_AUDIO))
def test_bad_audio_names_the_file_and_the_problem(tmp_path, case):
    p = tmp_path / f"{case}.wav"
    kwargs = {}
    tone = (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32)
    if case == "corrupt":
        p.write_bytes(b"RIFF\x00\x00garbage" * 10)
    elif case == "empty":
        _write(p, np.zeros(0, dtype=np.float32))
    elif case == "silent":
        _write(p, np.zeros(1600, dtype=np.float32))
    elif case == "-600 dB":
        _write(p, (tone * 1e-29).astype(np.float32), subtype="FLOAT")
    elif case == "nan":
        data = tone.copy()
        data[10] = np.nan
        _write(p, data, subtype="FLOAT")
    elif case == "bad-channel":
        _write(p, np.stack([tone, tone], axis=1))
        kwargs = {"channel": 5}
    elif case in ("1 sample", "10 samples"):
        _write(p, tone[: int(case.split()[0])])
    elif case == "truncated":
        _write(p, tone)
        raw = p.read_bytes()
        p.write_bytes(raw[: len(raw) // 2])
    elif case.endswith("header"):
        _write(p, tone)
        _set_wav_rate(p, 1 if case.startswith("1 Hz") else 500_000)
    with pytest.raises(AudioError, match=BAD_AUDIO[case]) as err:
        read_audio(p, **kwargs)
    assert err.value.path == str(p) and str(p) in str(err.value)


def test_quiet_but_real_recordings_pass(tmp_path):
    # -100 dBFS peak in float, and the quietest 16-bit signal (one step, -90 dBFS): real, if faint.
    quiet = (1e-5 * np.sin(np.arange(16000) / 5)).astype(np.float32)
    wave, _ = read_audio(_write(tmp_path / "quiet.wav", quiet, subtype="FLOAT"))
    assert np.abs(wave).max() > 0
    step = np.zeros(16000, dtype=np.float32)
    step[::7] = 1 / 32768
    read_audio(_write(tmp_path / "step.wav", step))


def test_resample_keeps_frequency_and_length():
    sr = 44100
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = resample(tone, sr, 16000)
    assert out.dtype == np.float32 and len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) - 1000) <= 1  # 1 Hz bins for a 1 s clip


def test_load_clip_resamples(tmp_path):
    p = _write(tmp_path / "a.wav", 0.1 * np.ones(8000, dtype=np.float32), sr=8000)
    assert len(load_clip(p, 16000)) == 16000


# -- silence trimming (values computed once with librosa 0.11 effects.trim) -----------------------


def test_trim_matches_librosa_on_tone_between_silences():
    sr = 16000
    t = np.arange(int(1.3 * sr)) / sr
    y = np.concatenate([np.zeros(int(0.3 * sr)), 0.5 * np.sin(2 * np.pi * 440 * t[: int(0.5 * sr)]),
                        1e-5 * np.sin(2 * np.pi * 50 * t[: int(0.5 * sr)])]).astype(np.float32)
    out = trim_silence(y, sr)
    # librosa.effects.trim(y, frame_length=1600, hop_length=800) -> index [4800, 13600]
    np.testing.assert_array_equal(out, y[4800:13600])


def test_trim_matches_librosa_at_8khz_and_on_a_ramp():
    y2 = np.zeros(8000, dtype=np.float32)
    y2[1234:5678] = 0.1 * np.sin(np.arange(5678 - 1234) * 0.3)
    np.testing.assert_array_equal(trim_silence(y2, 8000), y2[1200:6400])
    y3 = (np.linspace(0, 1, 16000) ** 6).astype(np.float32)
    np.testing.assert_array_equal(trim_silence(y3, 16000), y3[4800:16000])


# -- padding and windowing (the reference's split_pad_sample / _duplicate_padding) --------------


def test_repeat_padding_puts_clip_at_the_end():
    out = pad_repeat(np.array([1, 2, 3], dtype=np.float32), 7)
    np.testing.assert_array_equal(out, [3, 1, 2, 3, 1, 2, 3])
    filler = np.array([9, 8, 7, 6], dtype=np.float32)
    np.testing.assert_array_equal(pad_repeat(np.array([1.0], dtype=np.float32), 3, filler=filler), [7, 6, 1])


def test_zero_padding_tiles_clips_shorter_than_half():
    src = np.array([1, 2, 3], dtype=np.float32)
    np.testing.assert_array_equal(pad_zero(src, 10), [1, 2, 3, 1, 2, 3, 1, 2, 3, 0])
    np.testing.assert_array_equal(pad_zero(src, 5), [1, 2, 3, 0, 0])


def test_windows_with_half_overlap_and_padded_tail():
    wave = np.arange(1, 24, dtype=np.float32)  # 23 samples at 10 Hz
    policy = ClipPolicy(trim_silence=False, window_seconds=1.0)
    wins = list(iter_windows(wave, 10, policy))
    assert [w.tolist() for w in wins[:3]] == [wave[0:10].tolist(), wave[5:15].tolist(), wave[10:20].tolist()]
    # the residual from 3 * hop = 15 on (8 samples), repeat-padded with the whole recording's tail
    np.testing.assert_array_equal(wins[3], [22, 23, 16, 17, 18, 19, 20, 21, 22, 23])
    assert len(wins) == 4


def test_short_clip_gives_one_padded_window_and_policies_compose():
    wave = np.arange(1, 8, dtype=np.float32)
    (only,) = iter_windows(wave, 10, ClipPolicy(trim_silence=False, window_seconds=1.0))
    np.testing.assert_array_equal(only, [5, 6, 7, 1, 2, 3, 4, 5, 6, 7])
    kept = list(iter_windows(np.arange(25, dtype=np.float32) + 1, 10,
                             ClipPolicy(trim_silence=False, window_seconds=1.0, hop_seconds=1.0, last_window="keep",
                                        pad="none", min_window_seconds=0.6)))
    assert [len(w) for w in kept] == [10, 10]  # 5-sample tail < 0.6 s dropped
    whole = list(iter_windows(wave, 10, ClipPolicy(trim_silence=False, min_seconds=1.0)))
    assert len(whole) == 1 and len(whole[0]) == 10


def test_opera_gt_window_length_matches_reference_arithmetic():
    # int(8.18 * 16000) samples per window -> 1 + n // 512 = 256 mel frames
    size = int(8.18 * 16000)
    assert 1 + size // 512 == 256
    wave = np.random.default_rng(0).standard_normal(20 * 16000).astype(np.float32)
    wins = list(iter_windows(wave, 16000, ClipPolicy(trim_silence=False, window_seconds=8.18)))
    hop = size // 2
    n_full = 1 + (len(wave) - size) // hop
    assert len(wins) == n_full + 1 and all(len(w) == size for w in wins)


def test_nothing_left_after_trim_is_an_error():
    with pytest.raises(ValueError, match="nothing left"):
        list(iter_windows(np.zeros(0, dtype=np.float32), 16000, ClipPolicy()))
