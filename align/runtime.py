"""Process-level helpers of an alignment run: ranks, barriers, seeding, the schedule, teacher vectors."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from acubench.align.model import AlignError
from acubench.align.teacher import Teacher, TeacherCache


def distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def init_distributed(device: str) -> tuple[int, int, torch.device]:
    """``(world size, rank, device)``; under torchrun the process group is joined (NCCL on CUDA, Gloo on CPU)
    and each rank takes its local GPU."""
    world, rank, local_rank = distributed()
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    if world > 1 and device.startswith("cuda"):
        device = f"cuda:{local_rank}"
    return world, rank, torch.device(device)


def barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))  # noqa: NPY002 - seeds the global generator third-party code draws from
    random.seed(seed)


def linear_warmup_decay(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def per_rank_batch(batch_size: int, world: int) -> int:
    """The per-process share of the global ``batch_size``.

    Raises
    ------
    AlignError
        If ``batch_size`` does not divide evenly over ``world`` processes.
    """
    if batch_size % world:
        raise AlignError(f"--batch-size {batch_size} is the global batch and must divide evenly over the {world} "
                         f"processes; use a multiple of {world} (e.g. {world * max(1, round(batch_size / world))})")
    return batch_size // world


def teacher_vectors(teacher: Teacher, texts: list[str], cache_dir: Path, world: int, main: bool, console) -> Tensor:
    """Teacher vectors of ``texts`` from the disk cache; rank 0 computes what is missing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cache = TeacherCache(cache_dir, teacher)
    if main:
        with Progress(TextColumn("[bold]teacher vectors"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            job = bar.add_task("teacher", total=len(texts))
            vectors = cache.embed(texts, on_progress=lambda k: bar.advance(job, k))
    barrier(world)
    if not main:
        vectors = cache.embed(texts)
    return vectors
