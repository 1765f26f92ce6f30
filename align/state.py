"""What an alignment run carries between its phases (:class:`TrainState`) and returns (:class:`TrainResult`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler

from acubench.align.checkpoints import StepLog
from acubench.align.data import PairAudio
from acubench.align.model import AlignmentModel
from acubench.align.presets import AlignConfig
from acubench.align.teacher import Teacher
from acubench.align.validation import Validation


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    final : Path
        The final checkpoint (AcuLa layout + ``acubench`` metadata).
    encoder_file : Path
        The aligned encoder's weights alone (``audio_model_state_dict``).
    resumed_from : int or None
        Epoch of the checkpoint the run continued from.
    epochs_trained : int
        Epochs run by this call.
    history : list of dict
        The per-epoch log records of the whole run (epoch 0: before training).
    train_seconds : float
        Wall time of the training steps of this call (validation excluded).
    samples_per_second : float
        Training pairs per second over this call.
    retrieval : dict
        Held-out recall@k (:func:`acubench.align.validation.retrieval`); empty without held-out pairs.
    counts : dict
        ``train_pairs``, ``heldout_pairs``, ``train_subjects``, ``heldout_subjects``.
    """

    final: Path
    encoder_file: Path
    resumed_from: int | None
    epochs_trained: int
    history: list[dict]
    train_seconds: float
    samples_per_second: float
    retrieval: dict[str, float]
    counts: dict[str, int]


@dataclass
class TrainState:
    """Everything the epochs share (built by :func:`_setup`)."""

    model: AlignmentModel
    runner: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    params: list[nn.Parameter]
    loader: DataLoader
    sampler: DistributedSampler
    train_set: PairAudio
    train_rows: pd.DataFrame
    val_rows: pd.DataFrame
    train_text: Tensor
    val_text: Tensor
    vectors: Tensor
    teacher: Teacher
    validation: Validation | None
    log: StepLog
    config: AlignConfig
    seed: int
    device: torch.device
    rank: int
    world: int
    start_epoch: int
    resumed_from: int | None
    history: list[dict]
    out_dir: Path
    metadata: dict[str, Any]
    console: Any

    @property
    def main(self) -> bool:
        return self.rank == 0
