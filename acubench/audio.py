"""Audio I/O and the clip policies of the reference benchmark.

Decoding uses soundfile (``torchaudio.load`` needs FFmpeg, which our users
often lack); resampling uses torchaudio. Trimming, padding and windowing
reproduce the OPERA reference (``src/util.py``) sample for sample; the tests
pin hand-checked values.

Every recording is checked before it is used: a header outside the sane
sample-rate range, a WAV whose header promises more data than the file holds,
a clip shorter than :data:`MIN_CLIP_SECONDS`, NaN/Inf samples and silence
(peak below :data:`SILENCE_DBFS`) are :class:`AudioError`. Long recordings are
decoded and resampled in blocks (:func:`source_blocks`, :class:`StreamResampler`),
so that :mod:`acubench.streaming` can cut them into windows in bounded memory.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from acubench.errors import AcubenchError
from acubench.specs import ClipPolicy

#: Sample rates (Hz) a recording may declare. Below 1 kHz no body sound of interest is
#: represented, above 384 kHz no audio interface records: a header outside is damaged (a
#: WAV claiming 1 Hz would otherwise decode to hours of audio).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 384_000
#: The shortest clip (s) acubench embeds: one frame of the silence-trim analysis (0.1 s),
#: about three frames of OPERA's log-mel. Shorter clips would be padded by repeating a few
#: samples into seconds of synthetic signal, so they are refused as bad audio.
MIN_CLIP_SECONDS = 0.1
#: Peak level (dBFS) under which a recording is silent. 24-bit PCM's smallest step is
#: -138 dBFS and no microphone's noise floor is below -120 dBFS, so a quieter signal
#: (say -600 dB, a float file of denormals) carries nothing an encoder could use.
SILENCE_DBFS = -120.0
#: Source audio decoded per block (s); recordings up to this length are decoded at once.
BLOCK_SECONDS = 30.0
#: Declared chunk sizes that mean "length unknown" (streaming writers), not truncation.
_UNKNOWN_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFE}
_CHUNK_SIZE = re.compile(r"^\s*(data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


class AudioError(AcubenchError, ValueError):
    """A recording that cannot be used; the message names the file and the fix."""

    def __init__(self, path: str | os.PathLike, problem: str, fix: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: {problem}" + (f" — {fix}" if fix else ""))


_SKIP_FIX = "fix or remove the file, or pass --skip-bad-audio to skip bad files (they are counted in the results)"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class AudioSource:
    """A checked, opened-for-reading segment of a recording (nothing decoded yet).

    Attributes
    ----------
    path : Path
    sample_rate : int
        The file's rate (Hz), within [:data:`MIN_SAMPLE_RATE`, :data:`MAX_SAMPLE_RATE`].
    channels : int
    first, stop : int
        The segment's frames ``[first, stop)`` at ``sample_rate``.
    channel : int or None
        The channel kept, or ``None`` to average all channels.
    """

    path: Path
    sample_rate: int
    channels: int
    first: int
    stop: int
    channel: int | None

    @property
    def frames(self) -> int:
        return self.stop - self.first

    def block_frames(self) -> int:
        """Frames decoded per block (:data:`BLOCK_SECONDS`)."""
        return max(1, int(BLOCK_SECONDS * self.sample_rate))


def open_audio(
    path: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    channel: int | None = None,
) -> AudioSource:
    """Check a recording's header and segment without decoding its samples.

    Parameters
    ----------
    path : path-like
        Any format libsndfile reads (WAV, FLAC, OGG/Vorbis, MP3 with libsndfile ≥ 1.1).
    start, end : float, optional
        Segment bounds in seconds; ``None`` (or NaN) means the file's start/end.
    channel : int, optional
        Keep one channel of a multi-channel file; default: average all channels.

    Raises
    ------
    AudioError
        Missing or undecodable file, a sample rate outside the sane range, a truncated
        WAV/AIFF (its header promises more data than the file holds), an empty segment,
        a clip shorter than :data:`MIN_CLIP_SECONDS`, or a channel the file lacks.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found",
                         "check the data root (--data-root) and the dataset layout (`acubench data status`)")
    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioError(path, f"cannot be decoded ({type(exc).__name__}: {str(exc).strip()[:120]})",
                         _SKIP_FIX) from None
    sr = int(info.samplerate)
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioError(path, f"declares a sample rate of {sr} Hz, outside the {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz "
                               "of real recordings (a damaged header)", _SKIP_FIX)
    for chunk, declared, actual in _CHUNK_SIZE.findall(info.extra_info or ""):
        declared, actual = int(declared), int(actual)
        if declared not in _UNKNOWN_SIZES and declared - actual >= max(1, info.channels) * 2:
            raise AudioError(path, f"is truncated: its header promises {declared} bytes of audio ('{chunk}' chunk) but "
                                   f"the file holds {actual} (an interrupted copy or download?)", _SKIP_FIX)
    first = 0 if _missing(start) else max(0, int(round(float(start) * sr)))  # type: ignore[arg-type]
    stop = int(info.frames) if _missing(end) else min(int(info.frames), int(round(float(end) * sr)))  # type: ignore[arg-type]
    segment = "" if _missing(start) and _missing(end) else f" in segment {start}-{end} s"
    if stop <= first:
        raise AudioError(path, "contains no samples" + segment, _SKIP_FIX)
    if stop - first < MIN_CLIP_SECONDS * sr:
        raise AudioError(path, f"is {stop - first} sample(s) long{segment} ({(stop - first) / sr * 1000:.1f} ms); "
                               f"acubench embeds clips of at least {MIN_CLIP_SECONDS:g} s", _SKIP_FIX)
    ch: int | None = None
    if not _missing(channel):
        ch = int(channel)  # type: ignore[arg-type]
        if not 0 <= ch < info.channels:
            raise AudioError(path, f"has {info.channels} channel(s); channel {ch} requested",
                             "check the manifest's channel column")
    return AudioSource(path, sr, int(info.channels), first, stop, ch)


def source_blocks(source: AudioSource, block_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode ``source`` block by block: mono float32 at the file's rate, checked.

    Each block is at most ``block_frames`` frames (default :meth:`AudioSource.block_frames`),
    so memory does not grow with the recording's length.

    Raises
    ------
    AudioError
        Undecodable data, NaN/Inf samples, fewer frames than the header declares, or a
        silent recording (checked once the last block is read).
    """
    path = source.path
    size = block_frames or source.block_frames()
    peak = 0.0
    got = 0
    try:
        fh = sf.SoundFile(str(path))
    except Exception as exc:
        raise AudioError(path, f"cannot be decoded ({type(exc).__name__}: {str(exc).strip()[:120]})",
                         _SKIP_FIX) from None
    with fh:
        try:
            fh.seek(source.first)
        except Exception as exc:
            raise AudioError(path, f"cannot seek to frame {source.first} ({exc})", _SKIP_FIX) from None
        while got < source.frames:
            try:
                data = fh.read(min(size, source.frames - got), dtype="float32", always_2d=True)
            except Exception as exc:
                raise AudioError(path, f"cannot be decoded ({type(exc).__name__}: {str(exc).strip()[:120]})",
                                 _SKIP_FIX) from None
            if data.shape[0] == 0:
                break
            wave = data[:, source.channel] if source.channel is not None else data.mean(axis=1)
            wave = np.ascontiguousarray(wave, dtype=np.float32)
            bad = ~np.isfinite(wave)
            if bad.any():
                near = (source.first + got) / source.sample_rate
                raise AudioError(path, f"contains NaN/Inf samples ({int(bad.sum())} near {near:.1f} s)", _SKIP_FIX)
            peak = max(peak, float(np.abs(wave).max()))
            got += len(wave)
            yield wave
    if got < source.frames:
        raise AudioError(path, f"holds {got} of the {source.frames} frames its header declares (truncated)", _SKIP_FIX)
    if peak == 0.0:
        raise AudioError(path, "is all zeros (silent recording)", _SKIP_FIX)
    level = 20 * math.log10(peak)
    if level < SILENCE_DBFS:
        raise AudioError(path, f"is silent (peak {level:.0f} dBFS, below {SILENCE_DBFS:g} dBFS)", _SKIP_FIX)


def read_audio(
    path: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    channel: int | None = None,
) -> tuple[np.ndarray, int]:
    """Decode a file (or a segment of it) to mono float32, whole.

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
        Every check of :func:`open_audio` and :func:`source_blocks`, naming the file.
    """
    source = open_audio(path, start=start, end=end, channel=channel)
    blocks = list(source_blocks(source, block_frames=source.frames))
    return (blocks[0] if len(blocks) == 1 else np.concatenate(blocks)), source.sample_rate


_RESAMPLE_ARGS = dict(lowpass_filter_width=64, rolloff=0.9475937167399596, resampling_method="sinc_interp_kaiser",
                      beta=14.769656459379492)


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
    return torchaudio.functional.resample(tensor, orig_sr, target_sr, **_RESAMPLE_ARGS).numpy()


class StreamResampler:
    """:func:`resample` of a signal that arrives in blocks, in bounded memory.

    The output equals :func:`resample` of the whole signal up to float rounding
    (the same kernel, applied at the same positions): torchaudio's polyphase
    convolution reads ``width`` samples either side of each input period, so
    blocks overlap by that much.
    """

    def __init__(self, orig_sr: int, target_sr: int) -> None:
        import torchaudio

        self.resampler = torchaudio.transforms.Resample(orig_sr, target_sr, **_RESAMPLE_ARGS)
        g = math.gcd(orig_sr, target_sr)
        self.orig, self.new = orig_sr // g, target_sr // g
        self.width = self.resampler.width
        self.buffer = np.zeros(self.width, dtype=np.float32)  # left zero padding, as torchaudio pads
        self.seen = 0
        self.emitted = 0

    def _frames(self, n: int) -> np.ndarray:
        span = n * self.orig + 2 * self.width
        x = torch.from_numpy(self.buffer[:span]).view(1, 1, -1)
        out = torch.nn.functional.conv1d(x, self.resampler.kernel, stride=self.orig).transpose(1, 2).reshape(-1)
        self.buffer = self.buffer[n * self.orig:]
        return out.numpy()

    def push(self, block: np.ndarray) -> np.ndarray:
        """Resampled samples that ``block`` (and the blocks before it) complete."""
        self.seen += len(block)
        self.buffer = np.concatenate([self.buffer, np.asarray(block, dtype=np.float32)])
        n = (len(self.buffer) - 2 * self.width) // self.orig
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        out = self._frames(n)
        self.emitted += len(out)
        return out

    def finish(self) -> np.ndarray:
        """The remaining samples; the total is ``ceil(target_sr · n_in / orig_sr)``, as :func:`resample`."""
        total = -(-self.new * self.seen // self.orig)
        self.buffer = np.concatenate([self.buffer, np.zeros(self.width + self.orig, dtype=np.float32)])
        n = max(0, (len(self.buffer) - 2 * self.width) // self.orig)
        out = self._frames(n) if n else np.zeros(0, dtype=np.float32)
        out = out[: max(0, total - self.emitted)]
        self.emitted += len(out)
        return out


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


def trim_frames(sample_rate: int) -> tuple[int, int]:
    """(frame, hop) in samples of the silence-trim analysis: 0.1 s frames, 0.05 s hop."""
    frame = int(sample_rate / 10)
    return frame, int(frame / 2)


def frame_power(padded: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Mean power of the frames ``padded[i·hop : i·hop + frame]`` that fit, in float64.

    ``padded`` is float64; one row per frame, so the mean is numpy's row
    reduction whether the signal is analysed whole or block by block.
    """
    if len(padded) < frame:
        return np.zeros(0)
    view = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]
    return np.mean(view ** 2, axis=1)


def loud_span(power: np.ndarray, hop: int, n_samples: int, *, top_db: float = 60.0) -> tuple[int, int]:
    """``[begin, stop)`` samples from the first to the last frame above ``-top_db`` dB of the loudest.

    Returns ``(0, 0)`` when no frame is loud enough.
    """
    amin = 1e-10
    db = 10.0 * np.log10(np.maximum(amin, power)) - 10.0 * np.log10(max(amin, float(power.max())))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return 0, 0
    return int(loud[0] * hop), min(n_samples, int((loud[-1] + 1) * hop))


def trim_silence(wave: np.ndarray, sample_rate: int, *, top_db: float = 60.0) -> np.ndarray:
    """Trim leading and trailing silence, exactly as the OPERA loaders do.

    Reproduces ``librosa.effects.trim(y, top_db=60, frame_length=sr // 10,
    hop_length=sr // 20)``: frame RMS (centred, zero-padded), in dB relative
    to the loudest frame; the kept span runs from the first to the last frame
    above ``-top_db``. A recording with no frame above the threshold comes
    back empty (callers treat that as silent audio).
    """
    frame, hop = trim_frames(sample_rate)
    padded = np.pad(wave.astype(np.float64), (frame // 2, frame // 2))
    power = frame_power(padded, frame, hop)
    if power.size == 0:
        return wave
    begin, stop = loud_span(power, hop, len(wave), top_db=top_db)
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
