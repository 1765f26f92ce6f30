"""Batched, cached extraction of clip embeddings.

Recordings are decoded in a background thread while the encoder runs;
windows from any recordings are packed into batches of ``batch_size`` model
inputs; a recording's window embeddings are averaged into its clip
embedding as soon as its last window is done, and cached. Only windows are
held in memory, never a whole dataset's inputs, so memory stays flat in
recording length and dataset size.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Literal

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from acubench.audio import AudioError, iter_windows, load_clip
from acubench.cache import EmbeddingCache, clip_key
from acubench.encoder import AudioEncoder
from acubench.errors import OptionError
from acubench.specs import ClipPolicy

Precision = Literal["fp32", "bf16"]

#: Recordings decoded ahead of the encoder (bounds memory; hides decode latency).
PREFETCH = 8


@dataclass
class Extraction:
    """Embeddings of a clip table, row-aligned with it.

    Attributes
    ----------
    embeddings : ndarray of float32, shape (n_clips, D)
        Rows of clips whose audio was unusable (``skip_bad_audio``) are NaN.
    ok : ndarray of bool, shape (n_clips,)
    computed, cached : int
        Clips embedded now / read from the cache.
    windows : int
        Model inputs forwarded through the encoder (0 on a warm cache).
    bad : list of (clip_id, message)
    seconds : float
        Wall time of the extraction.
    """

    embeddings: np.ndarray
    ok: np.ndarray
    computed: int = 0
    cached: int = 0
    windows: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def _segment(row: pd.Series, name: str) -> float | None:
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _duration(row: pd.Series) -> float:
    """Seconds of audio a clip will decode to (for ordering work; 0 if unknown)."""
    start, end = _segment(row, "start"), _segment(row, "end")
    if start is not None and end is not None:
        return end - start
    try:
        info = sf.info(str(row["path"]))
        return info.frames / info.samplerate - (start or 0.0)
    except Exception:
        return 0.0


def _autocast(encoder: AudioEncoder, precision: Precision):
    if precision == "bf16":
        return torch.autocast(device_type=encoder.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def extract(
    encoder: AudioEncoder,
    clips: pd.DataFrame,
    policy: ClipPolicy,
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 16,
    skip_bad_audio: bool = False,
    precision: Precision = "fp32",
    on_clip: Callable[[int], None] | None = None,
) -> Extraction:
    """Embed every clip of ``clips`` (columns ``clip_id``, ``path``, optional ``start``, ``end``, ``channel``).

    Parameters
    ----------
    encoder : AudioEncoder
    clips : DataFrame
        One row per clip, e.g. a task manifest.
    policy : ClipPolicy
        Trim / pad / window rule (the task's for this encoder).
    cache : EmbeddingCache, optional
        Read before computing, written after; ``None`` disables caching.
    batch_size : int
        Model inputs (windows) per forward pass.
    skip_bad_audio : bool
        Unusable recordings become NaN rows listed in ``bad`` instead of an error.
    precision : {"fp32", "bf16"}
        ``bf16`` runs the encoder under autocast (faster on recent CPUs/GPUs;
        see BENCHMARKS.md for its effect on embeddings).
    on_clip : callable, optional
        Called with the number of clips just finished (for progress bars).

    Raises
    ------
    AudioError
        For an unusable recording when ``skip_bad_audio`` is False.
    """
    if batch_size < 1:
        raise OptionError(f"batch_size must be >= 1, got {batch_size}")
    t0 = time.perf_counter()
    n = len(clips)
    sr = encoder.sample_rate
    rows = [row for _, row in clips.iterrows()]
    keys = [
        clip_key(r["path"], start=_segment(r, "start"), end=_segment(r, "end"),
                 channel=_segment(r, "channel"), policy=policy, sample_rate=sr)
        for r in rows
    ]
    out = np.full((n, encoder.embed_dim), np.nan, dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    result = Extraction(out, ok)
    todo: list[int] = []
    for i, key in enumerate(keys):
        hit = cache.get(key) if cache is not None else None
        if hit is not None and hit.shape == (encoder.embed_dim,):
            out[i] = hit
            ok[i] = True
            result.cached += 1
        else:
            todo.append(i)
    if on_clip and result.cached:
        on_clip(result.cached)
    if todo:
        # Longest first: similar lengths share batches, and the slowest work starts early.
        todo.sort(key=lambda i: (-_duration(rows[i]), i))
        _compute(encoder, rows, keys, todo, policy, cache, batch_size, skip_bad_audio, precision, on_clip, result)
    result.seconds = time.perf_counter() - t0
    return result


def _load(row: pd.Series, sr: int, policy: ClipPolicy) -> list[np.ndarray]:
    path = row["path"]
    wave = load_clip(path, sr, start=_segment(row, "start"), end=_segment(row, "end"), channel=_segment(row, "channel"))
    try:
        windows = list(iter_windows(wave, sr, policy))
    except ValueError as exc:
        raise AudioError(path, str(exc), "check the recording, or pass --skip-bad-audio") from None
    if not windows:
        raise AudioError(path, "yields no model input under the clip policy " + policy.describe())
    return windows


def _decoded(rows, todo, sr, policy) -> Iterator[tuple[int, Future]]:
    """(index, future of windows) in ``todo`` order, decoding a few recordings ahead."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="acubench-decode") as pool:
        queue: deque[tuple[int, Future]] = deque()
        it = iter(todo)
        for i in it:
            queue.append((i, pool.submit(_load, rows[i], sr, policy)))
            if len(queue) >= PREFETCH:
                break
        while queue:
            yield queue.popleft()
            nxt = next(it, None)
            if nxt is not None:
                queue.append((nxt, pool.submit(_load, rows[nxt], sr, policy)))


def _compute(encoder, rows, keys, todo, policy, cache, batch_size, skip_bad_audio, precision, on_clip, result) -> None:
    sums: dict[int, np.ndarray] = {}
    pending: dict[int, int] = {}
    batch: list[tuple[int, np.ndarray]] = []

    def finish(i: int) -> None:
        emb = (sums.pop(i) / pending.pop(i)).astype(np.float32)
        result.embeddings[i] = emb
        result.ok[i] = True
        result.computed += 1
        if cache is not None:
            cache.put(keys[i], emb)
        if on_clip:
            on_clip(1)

    counts: dict[int, int] = {}

    def flush() -> None:
        if not batch:
            return
        with _autocast(encoder, precision):
            emb = encoder.embed([torch.from_numpy(np.ascontiguousarray(w)) for _, w in batch])
        emb = emb.float().numpy()
        if emb.shape != (len(batch), encoder.embed_dim):
            raise RuntimeError(f"encoder {encoder.spec.id} returned {emb.shape}, expected ({len(batch)}, {encoder.embed_dim})")
        result.windows += len(batch)
        done = []
        for (i, _), e in zip(batch, emb):
            sums[i] = sums.get(i, 0.0) + e.astype(np.float64)
            counts[i] -= 1
            if counts[i] == 0:
                done.append(i)
        batch.clear()
        for i in done:
            del counts[i]
            finish(i)

    for i, future in _decoded(rows, todo, encoder.sample_rate, policy):
        try:
            windows = future.result()
        except AudioError as exc:
            if not skip_bad_audio:
                raise
            result.bad.append((str(rows[i]["clip_id"]), str(exc)))
            if on_clip:
                on_clip(1)
            continue
        pending[i] = len(windows)
        counts[i] = len(windows)
        for w in windows:
            batch.append((i, w))
            if len(batch) >= batch_size:
                flush()
    flush()
