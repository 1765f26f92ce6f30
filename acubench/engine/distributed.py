"""Running ``acubench run`` and ``embed`` on several processes under ``torchrun``.

``torchrun --nproc_per_node N -m acubench run …`` starts N copies of the
command; each joins one process group (NCCL on CUDA, Gloo on CPU), takes every
N-th clip of each task (:func:`shard`), and writes its embeddings into the
shared embedding store. After a barrier, rank 0 reads the whole task from the
store, fits the probes and writes the run folder; the others go on to the next
task. Across machines, give torchrun its rendezvous flags (``--nnodes``,
``--node_rank``, ``--rdzv_backend c10d --rdzv_endpoint HOST:PORT``) and point
every node at one shared cache folder (``ACUBENCH_CACHE`` on a network file system).

When a rank fails, torchrun stops the others (SIGTERM); they stop with one line
saying so (:class:`RankStopped`), and a re-run of the same command resumes from
the store: every clip a rank finished was already written.
"""

from __future__ import annotations

import datetime as _dt
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from acubench.errors import AcubenchError

T = TypeVar("T")

#: How long a rank waits at a barrier for the others (a slow task's extraction included).
BARRIER_TIMEOUT = _dt.timedelta(hours=6)


class RankStopped(AcubenchError, RuntimeError):
    """This rank was stopped because another one failed; the message says how to resume."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: ``world`` processes, this one ``rank`` (``local_rank`` on its node)."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def from_environment() -> Ranks:
    """The ranks torchrun set in the environment (a single process otherwise)."""
    return Ranks(int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0")),
                 int(os.environ.get("LOCAL_RANK", "0")))


def init(device: str) -> tuple[Ranks, str]:
    """Join torchrun's process group (if any) and pick this rank's device.

    Returns
    -------
    ranks : Ranks
    device : str
        ``device`` with a CUDA device replaced by this rank's local GPU.
    """
    import torch
    import torch.distributed as dist

    ranks = from_environment()
    if not ranks.distributed:
        return ranks, device
    if device.startswith("cuda"):
        device = f"cuda:{ranks.local_rank}"
        torch.cuda.set_device(ranks.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo", timeout=BARRIER_TIMEOUT)
    _stop_on_sigterm(ranks)
    return ranks, device


def _stop_on_sigterm(ranks: Ranks) -> None:
    def stop(signum: int, frame: Any) -> None:
        raise RankStopped(f"rank {ranks.rank} of {ranks.world} stopped: another rank failed (see its error above). "
                          f"Every finished embedding is in the store; run the same command again to resume")

    signal.signal(signal.SIGTERM, stop)


def barrier(ranks: Ranks, what: str) -> None:
    """Wait for every rank; a rank that died turns into :class:`RankStopped` here."""
    if not ranks.distributed:
        return
    import torch.distributed as dist

    try:
        dist.barrier()
    except RankStopped:
        raise
    except Exception as exc:  # gloo/nccl report a lost peer as a RuntimeError
        raise RankStopped(f"rank {ranks.rank} of {ranks.world} stopped while waiting for the others to finish {what}: "
                          f"{str(exc).splitlines()[0][:160]}. Every finished embedding is in the store; run the same "
                          f"command again to resume") from None


def gather(ranks: Ranks, value: T) -> list[T]:
    """Every rank's ``value`` (picklable), in rank order; ``[value]`` in a single process."""
    if not ranks.distributed:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * ranks.world
    try:
        dist.all_gather_object(out, value)
    except Exception as exc:
        raise RankStopped(f"rank {ranks.rank} of {ranks.world} lost contact with the others: "
                          f"{str(exc).splitlines()[0][:160]}") from None
    return out


def shard(items: Sequence[T], ranks: Ranks) -> list[T]:
    """This rank's share: every ``world``-th item from position ``rank``."""
    return list(items[ranks.rank::ranks.world])


def finish(ranks: Ranks) -> None:
    """Leave the process group cleanly."""
    if ranks.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
