"""The training pairs of an alignment run: windows of audio, the held-out split, the controls.

Each corpus row is decoded, resampled and cut by the alignment clip policy
once; its windows are kept in memory (up to a budget) and reused by every
epoch, which draws one window per row (seeded by seed, epoch and row) and
augments it. Subjects, never recordings, are held out for validation.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset

from acubench.align.augment import AugmentConfig, augment
from acubench.audio import AudioError, iter_windows, load_clip
from acubench.specs import ClipPolicy

#: AcuLa's loader: the first 8 s + 3000 samples at 16 kHz (131 000 samples), zero-padded or cut.
REFERENCE_SECONDS = 8.1875
REFERENCE_POLICY = ClipPolicy(trim_silence=False, min_seconds=REFERENCE_SECONDS, pad="zero",
                              max_seconds=REFERENCE_SECONDS)
#: Decoded windows kept in memory per dataset (bytes); beyond it rows are decoded again each epoch.
WINDOW_CACHE_BYTES = 512 << 20


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any JSON-serialisable parts (seed, epoch, index…)."""
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def alignment_policy(policy: ClipPolicy, clip_seconds: float | None, windowing: str = "policy") -> ClipPolicy:
    """The clip policy of training inputs.

    ``windowing="reference"`` is AcuLa's loader (:data:`REFERENCE_POLICY`).
    Otherwise the encoder's policy with windows of at most ``clip_seconds``
    (s): windowed policies keep their hop-to-window ratio; a whole-clip
    policy becomes windows of ``clip_seconds`` with 50 % overlap, so
    training can draw any part of a long recording.
    """
    if windowing == "reference":
        return REFERENCE_POLICY
    if clip_seconds is None:
        return policy
    if policy.window_seconds is not None and policy.window_seconds <= clip_seconds:
        return policy
    if policy.window_seconds is not None:
        ratio = (policy.hop_seconds or policy.window_seconds / 2) / policy.window_seconds
        hop = clip_seconds * ratio
    else:
        hop = clip_seconds / 2
    return replace(
        policy,
        window_seconds=clip_seconds,
        hop_seconds=hop,
        min_seconds=min(policy.min_seconds, clip_seconds) if policy.min_seconds else None,
        max_seconds=None,
        min_window_seconds=min(policy.min_window_seconds, clip_seconds),
        last_window=(policy.last_window if policy.window_seconds is not None
                     else ("pad" if policy.pad != "none" else "keep")),
    )


class PairAudio(Dataset):
    """One model-input window per corpus row: ``(waveform float32 (n,), row index)``.

    Parameters
    ----------
    frame : DataFrame
        Corpus rows (``audio_path``, ``start``, ``end``).
    sample_rate : int
        The encoder's rate (Hz).
    policy : ClipPolicy
    seed : int
    train : bool
        Training: a seeded random window and augmentation per (epoch, row).
        Validation: the first window, never augmented.
    augment_config : AugmentConfig or None
        ``None`` disables augmentation.
    """

    def __init__(self, frame: pd.DataFrame, sample_rate: int, policy: ClipPolicy, *, seed: int, train: bool,
                 augment_config: AugmentConfig | None) -> None:
        self.paths = frame["audio_path"].tolist()
        self.starts = frame["start"].tolist()
        self.ends = frame["end"].tolist()
        self.sample_rate = sample_rate
        self.policy = policy
        self.seed = seed
        self.train = train
        self.augment_config = augment_config
        self.epoch = 0
        self._windows: dict[int, list[np.ndarray]] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def windows(self, index: int) -> list[np.ndarray]:
        """All windows of row ``index`` (decoded once, then from memory while within the budget)."""
        if index in self._windows:
            return self._windows[index]
        path = self.paths[index]
        start = None if math.isnan(self.starts[index]) else self.starts[index]
        end = None if math.isnan(self.ends[index]) else self.ends[index]
        wave = load_clip(path, self.sample_rate, start=start, end=end)
        try:
            windows = [np.ascontiguousarray(w, dtype=np.float32)
                       for w in iter_windows(wave, self.sample_rate, self.policy)]
        except ValueError as exc:
            raise AudioError(path, str(exc), "remove the row from the corpus") from None
        if not windows:
            raise AudioError(path, f"yields no model input under the clip policy {self.policy.describe()}",
                             "remove the row from the corpus")
        size = sum(w.nbytes for w in windows)
        if self._cached_bytes + size <= WINDOW_CACHE_BYTES:
            self._windows[index] = windows
            self._cached_bytes += size
        return windows

    def evaluation_view(self) -> PairAudio:
        """The same rows for evaluation (first window, no augmentation), sharing the decoded windows."""
        view = PairAudio.__new__(PairAudio)
        view.__dict__.update(self.__dict__)
        view.train, view.augment_config = False, None
        return view

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        windows = self.windows(index)
        if not self.train:
            return windows[0], index
        rng = np.random.default_rng(derive_seed(self.seed, "example", self.epoch, index))
        chosen = windows[int(rng.integers(len(windows)))]
        if self.augment_config is not None:
            chosen, _ = augment(chosen, self.sample_rate, rng, self.augment_config)
        return chosen, index


def collate(items: Sequence[tuple[np.ndarray, int]]) -> tuple[list[Tensor], Tensor]:
    return [torch.from_numpy(w) for w, _ in items], torch.tensor([i for _, i in items], dtype=torch.long)


def split_by_subject(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded held-out split of whole subjects (within each dataset): ~``fraction`` of subjects to validation."""
    if fraction <= 0:
        return frame.reset_index(drop=True), frame.iloc[:0].reset_index(drop=True)
    groups = (frame["dataset"].astype(str) + "\x00" + frame["subject"].astype(str)).to_numpy()
    subjects = sorted(set(groups))
    rng = np.random.default_rng(derive_seed(seed, "validation-subjects"))
    order = rng.permutation(len(subjects))
    n_val = max(1, int(round(fraction * len(subjects)))) if len(subjects) > 1 else 0
    held = {subjects[i] for i in order[:n_val]}
    is_val = np.array([g in held for g in groups], dtype=bool)
    return frame[~is_val].reset_index(drop=True), frame[is_val].reset_index(drop=True)


def subset(frame: pd.DataFrame, limit: int | None, seed: int, tag: str) -> pd.DataFrame:
    """A seeded random subset of at most ``limit`` rows (in corpus order)."""
    if limit is None or len(frame) <= limit:
        return frame
    rng = np.random.default_rng(derive_seed(seed, tag))
    keep = np.sort(rng.choice(len(frame), size=limit, replace=False))
    return frame.iloc[keep].reset_index(drop=True)


def apply_control(frame: pd.DataFrame, control: str, seed: int) -> pd.DataFrame:
    """The training rows as the control asks: ``shuffled-reports`` permutes the reports over the rows.

    Only the pairing changes: the same recordings, the same reports (so the
    same teacher vectors), the same number of steps. Held-out rows are never
    shuffled, so the control is scored on true pairs.
    """
    if control == "none":
        return frame
    if control != "shuffled-reports":
        raise ValueError(f"unknown control {control!r}")
    rng = np.random.default_rng(derive_seed(seed, "control", control))
    out = frame.copy()
    out["report"] = out["report"].to_numpy()[rng.permutation(len(out))]
    return out


def check_corpus_for_training(corpus: pd.DataFrame, config: Any, source: str = "the corpus") -> None:
    """Refuse corpora that cannot give a meaningful run, before anything is computed.

    ``source`` names the corpus (its file) in the message.

    Raises
    ------
    ValueError
        All reports identical, or a single subject with a held-out split asked for.
    """
    if corpus["report"].nunique() < 2:
        raise ValueError(f"{source}: all {len(corpus)} reports of the corpus are identical: the teacher vectors carry "
                         f"nothing to align to; write reports from each recording's metadata (`acubench corpus`)")
    subjects = corpus.groupby(["dataset", "subject"]).ngroups
    if config.val_fraction > 0 and subjects < 2:
        raise ValueError(f"{source}: the corpus has {subjects} subject: the held-out validation needs subjects of its "
                         f"own; use a corpus with several subjects, or set val_fraction to 0 (--val-fraction 0, or in "
                         f"--align-config; no held-out metrics then)")


def training_rows(corpus: pd.DataFrame, config: Any, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and held-out rows of a run: checked, split by subject, capped, the control applied.

    Raises
    ------
    ValueError
        The corpus cannot give a meaningful run (see :func:`check_corpus_for_training`), or
        fewer training pairs than one batch remain.
    """
    check_corpus_for_training(corpus, config)
    train_rows, val_rows = split_by_subject(corpus, config.val_fraction, seed)
    train_rows = apply_control(subset(train_rows, config.max_pairs, seed, "train-subset"), config.control, seed)
    val_rows = subset(val_rows, config.max_val_pairs, seed, "val-subset")
    if len(train_rows) < config.batch_size:
        raise ValueError(f"the corpus has {len(train_rows)} training pairs after the held-out split, fewer than one "
                         f"batch of {config.batch_size}; lower --batch-size or use a larger corpus")
    return train_rows, val_rows
