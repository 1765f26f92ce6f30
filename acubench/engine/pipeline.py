"""The input side of extraction: recordings → batches of model inputs, prepared ahead of the encoder.

Decoding, resampling and the clip policy run in worker processes (a torch
``DataLoader`` over an iterable of clips; each worker takes every k-th clip)
or, with no workers, in one background thread. Workers pack the windows of
several recordings into batches of ``batch_size`` model inputs, stacked into
one (B, n_samples) tensor when they share a length (pinned for a fast copy to
a GPU), and say when each recording's last window has been sent, so the
consumer can average a recording's windows as soon as they are embedded.
A recording is never held whole (:mod:`acubench.streaming`), and at most a few
batches per worker wait in memory, so memory stays flat in recording length
and dataset size.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from acubench.audio import AudioError
from acubench.specs import ClipPolicy
from acubench.streaming import clip_windows

#: Batches each worker (or the decoding thread) prepares ahead of the encoder.
PREFETCH = 2


@dataclass(frozen=True)
class ClipRef:
    """One recording (segment) to embed; ``index`` is its row in the caller's table."""

    index: int
    path: str
    start: float | None = None
    end: float | None = None
    channel: int | None = None


@dataclass
class InputBatch:
    """Model inputs from one worker, and what they complete.

    Attributes
    ----------
    waves : Tensor (B, n_samples) or list of Tensor (n_i,)
        Stacked when every window has the same length; float32, CPU.
    owners : list of int
        The clip index of each window.
    finished : dict of int to int
        Clips whose last window is in this or an earlier batch → their number of windows.
    bad : list of (int, str, str, str)
        Unusable clips: (index, path, problem, fix). Their earlier windows must be discarded.
    decode_seconds : float
        Worker time spent decoding, resampling and cutting the clips of this batch.
    """

    waves: Tensor | list[Tensor]
    owners: list[int] = field(default_factory=list)
    finished: dict[int, int] = field(default_factory=dict)
    bad: list[tuple[int, str, str, str]] = field(default_factory=list)
    decode_seconds: float = 0.0

    def pin_memory(self) -> InputBatch:
        """Page-locked copies of the waves (``DataLoader(pin_memory=True)`` calls this)."""
        if isinstance(self.waves, Tensor):
            self.waves = self.waves.pin_memory()
        else:
            self.waves = [w.pin_memory() for w in self.waves]
        return self

    def __len__(self) -> int:
        return len(self.owners)


def _stack(windows: list[np.ndarray]) -> Tensor | list[Tensor]:
    if windows and all(len(w) == len(windows[0]) for w in windows):
        return torch.from_numpy(np.stack(windows))
    return [torch.from_numpy(np.ascontiguousarray(w)) for w in windows]


class ClipWindows(IterableDataset):
    """Batches of the windows of ``clips`` (an iterable dataset; workers split the clips).

    Parameters
    ----------
    clips : sequence of ClipRef
        In the order to process them (longest first packs similar lengths together).
    sample_rate : int
        The encoder's rate (Hz).
    policy : ClipPolicy
    batch_size : int
        Model inputs per batch.
    """

    def __init__(self, clips: Sequence[ClipRef], sample_rate: int, policy: ClipPolicy, batch_size: int) -> None:
        self.clips = list(clips)
        self.sample_rate = sample_rate
        self.policy = policy
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[InputBatch]:
        info = get_worker_info()
        mine = self.clips if info is None else self.clips[info.id::info.num_workers]
        windows: list[np.ndarray] = []
        owners: list[int] = []
        finished: dict[int, int] = {}
        bad: list[tuple[int, str, str, str]] = []
        spent = 0.0

        def batch() -> InputBatch:
            nonlocal windows, owners, finished, bad, spent
            out = InputBatch(_stack(windows), owners, finished, bad, spent)
            windows, owners, finished, bad, spent = [], [], {}, [], 0.0
            return out

        for clip in mine:
            count = 0
            t0 = time.perf_counter()
            try:
                for w in clip_windows(clip.path, self.sample_rate, self.policy, start=clip.start, end=clip.end,
                                      channel=clip.channel):
                    windows.append(w)
                    owners.append(clip.index)
                    count += 1
                    if len(windows) >= self.batch_size:
                        spent += time.perf_counter() - t0
                        yield batch()
                        t0 = time.perf_counter()
            except AudioError as exc:
                keep = [k for k, o in enumerate(owners) if o != clip.index]
                windows, owners = [windows[k] for k in keep], [owners[k] for k in keep]
                bad.append((clip.index, exc.path, exc.problem, exc.fix))
            else:
                finished[clip.index] = count
            spent += time.perf_counter() - t0
        if windows or finished or bad:
            yield batch()


def input_batches(dataset: ClipWindows, *, workers: int, pin_memory: bool = False) -> Iterator[InputBatch]:
    """The dataset's batches, prepared ``workers`` processes (0: one background thread) ahead.

    The order is deterministic: workers are read round-robin, as ``DataLoader`` does.
    """
    if workers > 0:
        loader = DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=pin_memory,
                            prefetch_factor=PREFETCH, persistent_workers=False)
        yield from loader
        return
    yield from _threaded(iter(dataset), PREFETCH, pin_memory)


_DONE = object()


def _threaded(source: Iterator[InputBatch], depth: int, pin_memory: bool) -> Iterator[InputBatch]:
    """Run ``source`` in a daemon thread, ``depth`` items ahead; its exceptions surface here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in source:
                if pin_memory:
                    item = item.pin_memory()
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)

    thread = threading.Thread(target=work, name="acubench-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def default_workers(device: torch.device) -> int:
    """Decoding processes for ``workers="auto"``: a GPU gets up to 8 (one core left for the main process);
    a CPU keeps its cores for the encoder and decodes in one background thread."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device.type == "cpu":
        return 0
    return max(0, min(8, cores - 1))
