"""Batched, cached extraction of clip embeddings.

Recordings are decoded, resampled and cut into windows ahead of the encoder
(:mod:`acubench.engine.pipeline`: worker processes, or one background thread);
windows of several recordings share each forward pass; a recording's window
embeddings are averaged into its clip embedding as soon as its last window is
done, checked to be finite, and stored. Only a few batches of windows are held
in memory, never a recording or a dataset, so memory stays flat in recording
length and dataset size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from acubench.audio import AudioError
from acubench.encoder import AudioEncoder
from acubench.engine.cache import EmbeddingCache, clip_key
from acubench.engine.devices import Precision, autocast_dtype
from acubench.engine.distributed import Ranks, barrier, gather
from acubench.engine.pipeline import ClipRef, ClipWindows, InputBatch, default_workers, input_batches
from acubench.errors import AcubenchError, OptionError
from acubench.specs import ClipPolicy

__all__ = ["EncoderOutputError", "Extraction", "Precision", "clip_keys", "extract", "extract_shared"]


class EncoderOutputError(AcubenchError, ValueError):
    """An encoder produced NaN/Inf or a wrongly shaped output; nothing of it was stored."""


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
    timing : dict of str to float
        Seconds by stage: ``decode`` (worker time decoding, resampling and
        cutting windows; overlapped with the rest), ``wait`` (the encoder idle,
        waiting for input), ``features`` (front-end) and ``forward`` (backbone
        and pooling). ``features``/``forward`` are measured only with ``profile``.
    """

    embeddings: np.ndarray
    ok: np.ndarray
    computed: int = 0
    cached: int = 0
    windows: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)


def _column(clips: pd.DataFrame, name: str) -> list[float | None]:
    """A segment column as floats, ``None`` where absent or NaN."""
    if name not in clips.columns:
        return [None] * len(clips)
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in clips[name].tolist()]


def clip_refs(clips: pd.DataFrame) -> list[ClipRef]:
    """One :class:`~acubench.engine.pipeline.ClipRef` per row of ``clips`` (index = row position)."""
    starts, ends, channels = _column(clips, "start"), _column(clips, "end"), _column(clips, "channel")
    return [ClipRef(i, str(p), s, e, None if c is None else int(c))
            for i, (p, s, e, c) in enumerate(zip(clips["path"].tolist(), starts, ends, channels, strict=True))]


def _duration(ref: ClipRef) -> float:
    """Seconds of audio a clip will decode to (for ordering work; 0 if unknown)."""
    if ref.start is not None and ref.end is not None:
        return ref.end - ref.start
    try:
        info = sf.info(ref.path)
        return info.frames / info.samplerate - (ref.start or 0.0)
    except Exception:
        return 0.0


def clip_keys(clips: pd.DataFrame, policy: ClipPolicy, sample_rate: int) -> list[str]:
    """The cache key of every row of ``clips`` (see :func:`acubench.engine.cache.clip_key`)."""
    return [clip_key(r.path, start=r.start, end=r.end, channel=r.channel, policy=policy, sample_rate=sample_rate)
            for r in clip_refs(clips)]


def extract(
    encoder: AudioEncoder,
    clips: pd.DataFrame,
    policy: ClipPolicy,
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 16,
    skip_bad_audio: bool = False,
    precision: Precision = "fp32",
    workers: int | None = None,
    profile: bool = False,
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
        ``bf16`` runs the encoder's backbone under autocast (the front-end stays fp32).
    workers : int, optional
        Decoding processes; 0 decodes in one background thread. Default:
        :func:`acubench.engine.pipeline.default_workers` for the encoder's device.
    profile : bool
        Measure the front-end and forward time per batch (synchronises the device).
    on_clip : callable, optional
        Called with the number of clips just finished (for progress bars).

    Raises
    ------
    AudioError
        For an unusable recording when ``skip_bad_audio`` is False.
    EncoderOutputError
        If the encoder returns NaN/Inf for a clip (named), or the wrong shape.
    """
    if batch_size < 1:
        raise OptionError(f"batch_size must be >= 1, got {batch_size}")
    t0 = time.perf_counter()
    n = len(clips)
    keys = clip_keys(clips, policy, encoder.sample_rate)
    if cache is not None:
        out, ok = cache.lookup(keys, encoder.embed_dim)
    else:
        out, ok = np.full((n, encoder.embed_dim), np.nan, dtype=np.float32), np.zeros(n, dtype=bool)
    result = Extraction(out, ok, cached=int(ok.sum()))
    todo = [int(i) for i in np.flatnonzero(~ok)]
    if on_clip and result.cached:
        on_clip(result.cached)
    try:
        _compute(encoder, clips, keys, todo, policy, cache, batch_size, skip_bad_audio, precision, workers, profile,
                 on_clip, result)
    except BaseException:
        if cache is not None:
            cache.flush()  # what is finished survives an error or Ctrl-C; a re-run resumes from it
        raise
    if cache is not None:
        cache.close()
    result.seconds = time.perf_counter() - t0
    return result


def _compute(encoder, clips, keys, todo, policy, cache, batch_size, skip_bad_audio, precision, workers, profile,
             on_clip, result) -> None:
    if todo:
        every = clip_refs(clips)
        refs = [every[i] for i in todo]
        # Longest first: similar lengths share batches, and the slowest work starts early.
        refs.sort(key=lambda r: (-_duration(r), r.index))
        _Consumer(encoder, clips, keys, cache, skip_bad_audio, precision, profile, on_clip, result).run(
            ClipWindows(refs, encoder.sample_rate, policy, batch_size),
            default_workers(encoder.device) if workers is None else workers)


class _Consumer:
    """Embeds input batches and averages each clip's windows as its last one is done."""

    def __init__(self, encoder, clips, keys, cache, skip_bad_audio, precision, profile, on_clip, result) -> None:
        self.encoder, self.keys, self.cache = encoder, keys, cache
        self.ids = clips["clip_id"].astype(str).tolist()
        self.skip_bad_audio, self.on_clip, self.result = skip_bad_audio, on_clip, result
        self.autocast = autocast_dtype(precision)
        self.profile = profile
        self.sums: dict[int, np.ndarray] = {}
        self.seen: dict[int, int] = {}
        self.total: dict[int, int] = {}
        self.dropped: set[int] = set()

    def run(self, dataset: ClipWindows, workers: int) -> None:
        timing = self.result.timing
        timing.update({"decode": 0.0, "wait": 0.0})
        pin = self.encoder.device.type == "cuda"
        batches = input_batches(dataset, workers=workers, pin_memory=pin)
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            timing["wait"] += time.perf_counter() - t0
            if batch is None:
                break
            timing["decode"] += batch.decode_seconds
            self.consume(batch)

    def consume(self, batch: InputBatch) -> None:
        if len(batch):
            self.forward(batch)
        for index, path, problem, fix in batch.bad:
            self.sums.pop(index, None)
            self.seen.pop(index, None)
            self.dropped.add(index)
            if not self.skip_bad_audio:
                raise AudioError(path, problem, fix)
            self.result.bad.append((self.ids[index], str(AudioError(path, problem, fix))))
            if self.on_clip:
                self.on_clip(1)
        for index, count in batch.finished.items():
            self.total[index] = count
            self.maybe_finish(index)

    def forward(self, batch: InputBatch) -> None:
        encoder = self.encoder
        waves = batch.waves
        device = encoder.device
        waves = (waves.to(device, non_blocking=True) if isinstance(waves, torch.Tensor)
                 else [w.to(device, non_blocking=True) for w in waves])
        emb = encoder.embed(waves, autocast=self.autocast,
                            timings=self.result.timing if self.profile else None).numpy()
        if emb.shape != (len(batch), encoder.embed_dim):
            raise EncoderOutputError(f"encoder {encoder.spec.id} returned embeddings of shape {emb.shape}, expected "
                                     f"({len(batch)}, {encoder.embed_dim})")
        finite = np.isfinite(emb).all(axis=1)
        if not finite.all():
            index = batch.owners[int(np.flatnonzero(~finite)[0])]
            raise EncoderOutputError(
                f"encoder {encoder.spec.id} ({encoder.weights_info.label()}) returned NaN/Inf for clip "
                f"{self.ids[index]} ({int((~finite).sum())} of {len(batch)} inputs in its batch); nothing of it was "
                "stored. Non-finite weights (check the checkpoint) or a numerically unstable input are the usual "
                "causes")
        self.result.windows += len(batch)
        for index, e in zip(batch.owners, emb, strict=True):
            if index in self.dropped:
                continue
            self.sums[index] = self.sums.get(index, 0.0) + e.astype(np.float64)
            self.seen[index] = self.seen.get(index, 0) + 1
            self.maybe_finish(index)

    def maybe_finish(self, index: int) -> None:
        if index not in self.total or self.seen.get(index, 0) < self.total[index]:
            return
        emb = (self.sums.pop(index) / self.seen.pop(index)).astype(np.float32)
        del self.total[index]
        self.result.embeddings[index] = emb
        self.result.ok[index] = True
        self.result.computed += 1
        if self.cache is not None:
            self.cache.put(self.keys[index], emb)
        if self.on_clip:
            self.on_clip(1)


def extract_shared(encoder: AudioEncoder, clips: pd.DataFrame, policy: ClipPolicy, *, ranks: Ranks,
                   cache: EmbeddingCache | None, what: str, **options) -> Extraction | None:
    """:func:`extract` with the clips shared out over torchrun's ranks.

    Each rank embeds every ``world``-th clip into the shared store; after a
    barrier, rank 0 reads the whole table back (computing only what another
    rank could not: its bad audio, reported again here) and gets the
    :class:`Extraction` a single process would have; the other ranks get ``None``.
    ``computed`` and ``windows`` count the work of every rank.

    Raises
    ------
    OptionError
        Under torchrun without a store (``--no-cache``): the ranks share their work through it.
    RankStopped
        When another rank failed meanwhile.
    """
    if not ranks.distributed:
        return extract(encoder, clips, policy, cache=cache, **options)
    if cache is None or not cache.enabled:
        raise OptionError("under torchrun the ranks share embeddings through the embedding store; drop --no-cache")
    share = extract(encoder, clips.iloc[ranks.rank::ranks.world], policy, cache=cache, **options)
    work = gather(ranks, (share.computed, share.windows))
    barrier(ranks, what)
    if not ranks.main:
        return None
    cache.reload()
    options.pop("on_clip", None)
    full = extract(encoder, clips, policy, cache=cache, **options)
    full.computed = sum(c for c, _ in work) + full.computed
    full.cached = int(full.ok.sum()) - full.computed
    full.windows = sum(w for _, w in work) + full.windows
    return full
