"""An alignment run folder on disk: checkpoints in AcuLa's layout, the step log, resumption."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from acubench.checkpoints import CheckpointError, load_checkpoint
from acubench.encoder import AudioEncoder
from acubench.paths import atomic_write

FINAL_NAME = "acula_final.pt"
ENCODER_NAME = "audio_encoder.pt"
LOG_NAME = "train_log.jsonl"
RUN_NAME = "run.json"
SUMMARY_NAME = "alignment.json"
CHECKPOINT_DIR = "checkpoints"


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a listed checkpoint is always whole."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def checkpoint_path(out_dir: Path, epoch: int) -> Path:
    return out_dir / CHECKPOINT_DIR / f"acula_epoch_{epoch}.pt"


def latest_checkpoint(out_dir: Path) -> tuple[int, Path] | None:
    """The highest-epoch checkpoint in ``out_dir/checkpoints`` (writes are atomic, so any listed file is whole)."""
    found = []
    for p in (out_dir / CHECKPOINT_DIR).glob("acula_epoch_*.pt"):
        tail = p.stem.rsplit("_", 1)[-1]
        if tail.isdigit():
            found.append((int(tail), p))
    return max(found) if found else None


def truncate_log(path: Path, epoch: int) -> None:
    """Keep only log lines of epochs up to ``epoch`` (those the resumed run does not redo)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("epoch", 0) <= epoch:
                kept.append(line)
        except ValueError:
            continue  # a line cut by the interruption
    atomic_write(path, "".join(k + "\n" for k in kept))


def epoch_records(path: Path) -> list[dict[str, Any]]:
    """The per-epoch records of a step log (validation before training is epoch 0)."""
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("type") == "epoch"]


class StepLog:
    """Appends JSON lines to the run's log (rank 0 only)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")


def _cpu(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().cpu() for k, v in state.items()}


def save_checkpoint(path: Path, model, optimizer, scheduler, epoch: int, metadata: dict[str, Any],
                    space_map: dict[str, Tensor] | None = None) -> None:
    """A checkpoint in AcuLa's layout (plus acubench's keys), loadable with ``weights_only=True``.

    Runs that align the encoder's embedding itself (no projection heads)
    store empty head state dicts, so the layout keeps AcuLa's keys. The
    final checkpoint also holds ``space_map`` (:func:`acubench.align.heads.fit_space_map`).
    """
    payload = {
        "epoch": epoch,
        "audio_model_state_dict": model.encoder.export_state_dict(),
        "audio_projection_mlp_state_dict": _cpu(model.audio_head.state_dict()) if model.audio_head else {},
        "language_projection_mlp_state_dict": _cpu(model.text_head.state_dict()) if model.text_head else {},
        "optimizer_state_dict": optimizer.state_dict(),
        "scheduler_state_dict": scheduler.state_dict(),
        "acubench": {**metadata, "epoch": epoch, "global_step": scheduler.last_epoch},
    }
    if model.mam_head is not None:
        payload["mam_head_state_dict"] = _cpu(model.mam_head.state_dict())
    if space_map is not None:
        payload["space_map"] = space_map
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(payload, path)


def resume(out_dir: Path, encoder: AudioEncoder, rebuild: Callable[[Path], AudioEncoder], main: bool,
            console) -> tuple[int, dict[str, Any] | None, AudioEncoder, int | None]:
    """Where to start: ``(epoch, checkpoint dict, encoder, resumed-from epoch)``; epoch 0 and the base encoder
    when ``out_dir`` holds no checkpoint (a step log left by a run cut before its first checkpoint is dropped)."""
    log_path = out_dir / LOG_NAME
    found = latest_checkpoint(out_dir)
    if found is None:
        if main:
            log_path.unlink(missing_ok=True)  # steps of a run interrupted before its first checkpoint
        return 0, None, encoder, None
    epoch, ckpt_file = found
    state = load_checkpoint(ckpt_file)
    if not isinstance(state, dict) or "optimizer_state_dict" not in state:
        raise CheckpointError(f"{ckpt_file}: not an acubench alignment checkpoint; delete it to start over")
    if main:
        truncate_log(log_path, epoch)
        console.print(f"resuming from {ckpt_file} (epoch {epoch})")
    return epoch, state, rebuild(ckpt_file), epoch
