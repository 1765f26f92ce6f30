"""A recording's model inputs in bounded memory, whatever its length.

:func:`clip_windows` yields what :func:`acubench.audio.iter_windows` yields for
``load_clip(path)``, but a recording longer than one decoding block is never
held whole: it is decoded and resampled block by block, the silence-trim
analysis keeps only one power value per 50 ms frame, and windows are cut from
a buffer of about one window. Trimming needs the loudest frame of the whole
recording before the first window can start, so a long recording with a
trimming policy is decoded twice (the first pass keeps its blocks when they
fit in :data:`RETAIN_SAMPLES`). A whole-clip policy (no windows) necessarily
materialises the trimmed clip at the encoder's rate: it is the model input.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from acubench.audio import (
    AudioError,
    AudioSource,
    StreamResampler,
    _pad,
    frame_power,
    iter_windows,
    loud_span,
    open_audio,
    resample,
    source_blocks,
    trim_frames,
)
from acubench.specs import ClipPolicy

#: Resampled samples the trimming pass keeps to save a second decode (16 MiB of float32).
RETAIN_SAMPLES = 4 << 20


def clip_windows(
    path: str | os.PathLike,
    sample_rate: int,
    policy: ClipPolicy,
    *,
    start: float | None = None,
    end: float | None = None,
    channel: int | None = None,
) -> Iterator[np.ndarray]:
    """The model inputs of one recording (segment) under ``policy``, one at a time.

    Parameters
    ----------
    path : path-like
    sample_rate : int
        The encoder's rate (Hz).
    policy : ClipPolicy
    start, end : float, optional
        Segment bounds (s).
    channel : int, optional

    Yields
    ------
    ndarray of float32, shape (n_samples,)
        Exactly :func:`~acubench.audio.iter_windows` of :func:`~acubench.audio.load_clip`,
        up to the float rounding of block-wise resampling for recordings longer than one block.

    Raises
    ------
    AudioError
        Unusable audio (see :func:`~acubench.audio.open_audio`), or nothing left after
        silence trimming, or no model input under the policy.
    """
    source = open_audio(path, start=start, end=end, channel=channel)
    if source.frames <= source.block_frames():
        (wave,) = source_blocks(source, block_frames=source.frames)
        wave = resample(wave, source.sample_rate, sample_rate)
        windows = _checked(iter_windows(wave, sample_rate, policy), source, policy)
    else:
        windows = _checked(_long(source, sample_rate, policy), source, policy)
    yield from windows


def _checked(windows: Iterator[np.ndarray], source: AudioSource, policy: ClipPolicy) -> Iterator[np.ndarray]:
    count = 0
    try:
        for w in windows:
            count += 1
            yield w
    except ValueError as exc:
        if isinstance(exc, AudioError):
            raise
        raise AudioError(source.path, str(exc), "check the recording, or pass --skip-bad-audio") from None
    if count == 0:
        raise AudioError(source.path, "yields no model input under the clip policy " + policy.describe())


def _resampled(source: AudioSource, sample_rate: int) -> Iterator[np.ndarray]:
    """The recording at ``sample_rate``, block by block."""
    if source.sample_rate == sample_rate:
        yield from source_blocks(source)
        return
    stream = StreamResampler(source.sample_rate, sample_rate)
    for block in source_blocks(source):
        out = stream.push(block)
        if len(out):
            yield out
    yield stream.finish()


def _long(source: AudioSource, sr: int, policy: ClipPolicy) -> Iterator[np.ndarray]:
    length = -(-sr * source.frames // source.sample_rate)  # resampled samples, as resample() gives
    begin, stop = 0, length
    kept: list[np.ndarray] | None = None
    if policy.trim_silence:
        begin, stop, kept = _trim_pass(source, sr)
        if stop <= begin:
            raise ValueError("nothing left after silence trimming (the recording is silence throughout)")
    if policy.max_seconds:
        stop = min(stop, begin + int(policy.max_seconds * sr))
    size = int(policy.window_seconds * sr) if policy.window_seconds else None
    short = bool(policy.min_seconds) and policy.pad != "none" and stop - begin < int(policy.min_seconds * sr)
    samples = _span(kept if kept is not None else _resampled(source, sr), begin, stop)
    if size is None or short or stop - begin <= size:
        # The clip is the model input (or short enough to pad): materialise it and let iter_windows decide.
        wave = np.concatenate(list(samples)) if stop > begin else np.zeros(0, dtype=np.float32)
        yield from iter_windows(wave, sr, replace(policy, trim_silence=False, max_seconds=None))
        return
    yield from _cut(samples, stop - begin, size, policy, sr)


def _trim_pass(source: AudioSource, sr: int) -> tuple[int, int, list[np.ndarray] | None]:
    """First pass: the loud span ``[begin, stop)`` (resampled samples) and, if they fit, the blocks."""
    frame, hop = trim_frames(sr)
    half = frame // 2
    buffer = np.zeros(half)  # the centred analysis pads frame // 2 zeros either side
    powers: list[np.ndarray] = []
    kept: list[np.ndarray] | None = []
    total = 0
    for block in _resampled(source, sr):
        total += len(block)
        if kept is not None:
            kept.append(block)
            if total > RETAIN_SAMPLES:
                kept = None
        buffer = np.concatenate([buffer, block.astype(np.float64)])
        n = 0 if len(buffer) < frame else 1 + (len(buffer) - frame) // hop
        if n:
            powers.append(frame_power(buffer[: (n - 1) * hop + frame], frame, hop))
            buffer = buffer[n * hop:]
    buffer = np.concatenate([buffer, np.zeros(half)])
    powers.append(frame_power(buffer, frame, hop))
    power = np.concatenate(powers)
    begin, stop = loud_span(power, hop, total)
    return begin, stop, kept


def _span(blocks, begin: int, stop: int) -> Iterator[np.ndarray]:
    """The samples ``[begin, stop)`` of a stream of blocks, as blocks."""
    at = 0
    for block in blocks:
        lo, hi = max(begin - at, 0), min(stop - at, len(block))
        if lo < hi:
            yield block[lo:hi]
        at += len(block)
        if at >= stop:
            return


def _cut(samples: Iterator[np.ndarray], length: int, size: int, policy: ClipPolicy, sr: int) -> Iterator[np.ndarray]:
    """:func:`iter_windows`' windowing of a clip of ``length`` > ``size`` samples that arrives in blocks."""
    hop = int(policy.hop_seconds * sr) if policy.hop_seconds else size // 2
    n_full = 1 + (length - size) // hop
    keep_tail = length - size  # the last window's padding reads from the final `size` samples
    buffer = np.zeros(0, dtype=np.float32)
    offset = 0  # clip position of buffer[0]
    emitted = 0
    for block in samples:
        buffer = np.concatenate([buffer, block])
        while emitted < n_full and offset + len(buffer) >= emitted * hop + size:
            lo = emitted * hop - offset
            yield buffer[lo: lo + size].copy()
            emitted += 1
        drop = min(emitted * hop, keep_tail) - offset
        if drop > 0:
            buffer = buffer[drop:]
            offset += drop
    tail = buffer[n_full * hop - offset:]
    if policy.last_window == "drop" or len(tail) == 0 or len(tail) < int(policy.min_window_seconds * sr):
        return
    if policy.last_window == "pad":
        yield _pad(tail, size, policy.pad, filler=buffer[len(buffer) - size:])
    else:
        yield tail.copy()
