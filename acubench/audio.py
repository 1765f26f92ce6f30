"""Audio I/O and the clip policies of the reference benchmark.

Decoding uses soundfile (``torchaudio.load`` needs FFmpeg, which our users
often lack); resampling uses torchaudio. Trimming, padding and windowing
reproduce the OPERA reference (``src/util.py``) sample for sample; the tests
pin hand-checked values.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import torch

from acubench.errors import AcubenchError
from acubench.specs import ClipPolicy


class AudioError(AcubenchError, ValueError):
    """A recording that cannot be used; the message names the file and the fix."""

    def __init__(self, path: str | os.PathLike, problem: str, fix: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" + (f" — {fix}" if fix else ""))


_SKIP_FIX = "fix or remove the file, or pass --skip-bad-audio to skip bad files (they are counted in the results)"


def read_audio(
    path: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    channel: int | None = None,
) -> tuple[np.ndarray, int]:
    """Decode a file (or a segment of it) to mono float32.

    Parameters
    ----------
    path : path-like
        Any format libsndfile reads (WAV, FLAC, OGG/Vorbis, MP3 with libsndfile ≥ 1.1).
    start, end : float, optional
        Segment bounds in seconds; ``None`` (or NaN) means the file's start/end.
    channel : int, optional
        Keep one channel of a multi-channel file; default: average all channels
        (as ``librosa.load(mono=True)`` does).

    Returns
    -------
    wave : ndarray of float32, shape (n_samples,)
    sample_rate : int
        The file's rate (Hz); resample with :func:`resample`.

    Raises
    ------
    AudioError
        Missing, unreadable, empty, all-zero or non-finite audio, naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found", "check the data root (--data-root) and the dataset layout (`acubench data status`)")
    try:
        info = sf.info(str(path))
        sr = int(info.samplerate)
        first = 0 if start is None or math.isnan(start) else max(0, int(round(start * sr)))
        last = None if end is None or math.isnan(end) else int(round(end * sr))
        data, sr = sf.read(str(path), start=first, stop=last, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(path, f"cannot be decoded ({type(exc).__name__}: {str(exc).strip()[:120]})", _SKIP_FIX) from None
    if data.shape[0] == 0:
        raise AudioError(path, "contains no samples" + (f" in segment {start}-{end} s" if start or end else ""), _SKIP_FIX)
    if channel is not None and not (isinstance(channel, float) and math.isnan(channel)):
        ch = int(channel)
        if not 0 <= ch < data.shape[1]:
            raise AudioError(path, f"has {data.shape[1]} channel(s); channel {ch} requested", "check the manifest's channel column")
        wave = data[:, ch]
    else:
        wave = data.mean(axis=1)
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if not np.isfinite(wave).all():
        raise AudioError(path, f"contains {int((~np.isfinite(wave)).sum())} NaN/Inf samples", _SKIP_FIX)
    if not np.any(wave):
        raise AudioError(path, "is all zeros (silent recording)", _SKIP_FIX)
    return wave, sr


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling to ``target_sr`` Hz.

    torchaudio's Kaiser-windowed sinc with the parameters torchaudio documents
    as matching librosa's ``kaiser_best``; the reference loaded audio with
    librosa (soxr), so resampled inputs agree closely, not bit for bit.
    """
    if orig_sr == target_sr:
        return wave
    import torchaudio

    tensor = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    out = torchaudio.functional.resample(
        tensor, orig_sr, target_sr, lowpass_filter_width=64, rolloff=0.9475937167399596,
        resampling_method="sinc_interp_kaiser", beta=14.769656459379492,
    )
    return out.numpy()


def load_clip(
    path: str | os.PathLike,
    sample_rate: int,
    *,
    start: float | None = None,
    end: float | None = None,
    channel: int | None = None,
) -> np.ndarray:
    """:func:`read_audio` then :func:`resample` to ``sample_rate`` Hz."""
    wave, sr = read_audio(path, start=start, end=end, channel=channel)
    return resample(wave, sr, sample_rate)


def trim_silence(wave: np.ndarray, sample_rate: int, *, top_db: float = 60.0) -> np.ndarray:
    """Trim leading and trailing silence, exactly as the OPERA loaders do.

    Reproduces ``librosa.effects.trim(y, top_db=60, frame_length=sr // 10,
    hop_length=sr // 20)``: frame RMS (centred, zero-padded), in dB relative
    to the loudest frame; the kept span runs from the first to the last frame
    above ``-top_db``. A recording with no frame above the threshold comes
    back empty (callers treat that as silent audio).
    """
    frame = int(sample_rate / 10)
    hop = int(frame / 2)
    padded = np.pad(wave.astype(np.float64), (frame // 2, frame // 2))
    n_frames = 1 + (len(padded) - frame) // hop
    if n_frames < 1:
        return wave
    idx = np.arange(frame)[None, :] + hop * np.arange(n_frames)[:, None]
    power = np.mean(padded[idx] ** 2, axis=1)
    amin = 1e-10
    db = 10.0 * np.log10(np.maximum(amin, power)) - 10.0 * np.log10(max(amin, float(power.max())))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return wave[:0]
    begin = int(loud[0] * hop)
    stop = min(len(wave), int((loud[-1] + 1) * hop))
    return wave[begin:stop]


def pad_repeat(source: np.ndarray, length: int, *, filler: np.ndarray | None = None) -> np.ndarray:
    """Pad ``source`` to ``length`` samples by repetition, the clip at the end.

    The OPERA reference's ``_duplicate_padding``: the filler (by default the
    clip itself; for the last window, the whole recording) is doubled until
    it covers the gap, and its *tail* fills the front. Deterministic.
    """
    left = length - len(source)
    if left <= 0:
        return source[:length].astype(np.float32, copy=True)
    aug = source if filler is None else filler
    if len(aug) == 0:
        raise ValueError("cannot repeat-pad an empty clip")
    while len(aug) < left:
        aug = np.concatenate([aug, aug])
    out = np.empty(length, dtype=np.float32)
    out[left:] = source
    out[:left] = aug[len(aug) - left:]
    return out


def pad_zero(source: np.ndarray, length: int) -> np.ndarray:
    """Pad to ``length`` samples with zeros, the reference's ``_zero_padding``.

    A clip shorter than half the target is tiled forward (whole copies while
    they fit) before the rest is left at zero, as in the reference.
    """
    out = np.zeros(length, dtype=np.float32)
    n = len(source)
    if n >= length:
        return source[:length].astype(np.float32, copy=True)
    if n / length < 0.5:
        cursor = 0
        while cursor + n < length:
            out[cursor:cursor + n] = source
            cursor += n
    else:
        out[:n] = source
    return out


def _pad(source: np.ndarray, length: int, mode: str, filler: np.ndarray | None = None) -> np.ndarray:
    if mode == "repeat":
        return pad_repeat(source, length, filler=filler)
    if mode == "zero":
        return pad_zero(source, length)
    return source


def iter_windows(wave: np.ndarray, sample_rate: int, policy: ClipPolicy) -> Iterator[np.ndarray]:
    """Apply a clip policy to one decoded, resampled recording.

    Yields the model inputs one at a time (so a 10-minute recording is never
    materialised as one batch): the whole clip, or its windows.

    Parameters
    ----------
    wave : ndarray, shape (n_samples,)
    sample_rate : int
        Hz, the encoder's rate.
    policy : ClipPolicy

    Raises
    ------
    ValueError
        If trimming leaves nothing (a recording that is silence throughout).
    """
    if policy.trim_silence:
        wave = trim_silence(wave, sample_rate)
        if len(wave) == 0:
            raise ValueError("nothing left after silence trimming (the recording is silence throughout)")
    if policy.min_seconds and policy.pad != "none":
        need = int(policy.min_seconds * sample_rate)
        if len(wave) < need:
            wave = _pad(wave, need, policy.pad)
    if policy.max_seconds:
        wave = wave[: int(policy.max_seconds * sample_rate)]
    if not policy.window_seconds:
        yield wave
        return
    size = int(policy.window_seconds * sample_rate)
    hop = int(policy.hop_seconds * sample_rate) if policy.hop_seconds else size // 2
    min_len = int(policy.min_window_seconds * sample_rate)
    if len(wave) <= size:
        yield _pad(wave, size, policy.pad) if policy.last_window == "pad" else wave
        return
    n_full = 1 + (len(wave) - size) // hop
    for i in range(n_full):
        yield wave[i * hop: i * hop + size]
    # The reference keeps the residual from n_full * hop onward as one more window.
    tail = wave[n_full * hop:]
    if policy.last_window == "drop" or len(tail) == 0 or len(tail) < min_len:
        return
    yield _pad(tail, size, policy.pad, filler=wave) if policy.last_window == "pad" else tail
