"""The AcuLa training loop: alignment to a frozen teacher plus masked acoustic modelling.

One step, for a batch of (recording, report) pairs::

    waves ─ augment ─ encoder.featurize ─ forward_tokens ─ pool ─ [audio head] ─┐
                                                                                ├─ alignment loss
    reports ─ teacher (pre-computed, cached) ──────────────────── [text head] ─┘
    inputs ─ encoder.ssl_loss (OPERA-GT: MAE)  or  generic masked-frame head ─── masked-modelling loss

    loss = λ_align · alignment + λ_mam · masked modelling

The pieces live by job: the pairs and their windows in :mod:`~acubench.align.data`,
the trained unit in :mod:`~acubench.align.model`, the run folder in
:mod:`~acubench.align.checkpoints`, held-out metrics in
:mod:`~acubench.align.validation`. This module runs them: :func:`train` is
``_setup`` → ``_run_epoch`` per epoch → ``_finalise``.

Optimisation
    AdamW on every trainable parameter of the encoder and the heads (AcuLa
    trains the MAE decoder too), linear warm-up then linear decay to zero,
    gradient accumulation, gradient-norm clipping, ``drop_last`` batches
    (CKA needs a full batch), fp32 on CPU and optional bf16 autocast on CUDA.

Determinism and resumption
    Every random draw is derived from (seed, epoch[, example or step]): the
    data order (``DistributedSampler.set_epoch``), the window choice and
    augmentations per example, the masking per step, and the global torch
    RNG (dropout, the MAE's own masking) re-seeded at each epoch start. A
    checkpoint written at the end of epoch *n* therefore holds all the state
    that epoch *n + 1* needs, and a run resumed from it ends bit-identical
    (on the same device and software) to an uninterrupted one.

After the last epoch
    BatchNorm running statistics (OPERA-CE/CT, CLAP) are re-estimated on the
    training windows with the final weights, then the training pairs are
    passed once more (first window, eval mode) to fit the map between the two
    sides that zero-shot scoring needs (stored as ``space_map``), and the
    held-out pairs give the retrieval recalls.

Scale-out
    Run the same command under ``torchrun --nproc_per_node N`` (add
    ``--nnodes``, ``--node_rank`` and ``--rdzv-endpoint`` across machines):
    with ``WORLD_SIZE > 1`` the process group is initialised (NCCL on CUDA,
    Gloo on CPU), ``batch_size`` is the global batch, split evenly over the
    ranks, each rank trains on its ``DistributedSampler`` shard, features are
    all-gathered (with gradients) so the loss sees the global batch, and rank 0
    alone writes checkpoints and logs.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler

from acubench.align.augment import AugmentConfig
from acubench.align.checkpoints import (CHECKPOINT_DIR, ENCODER_NAME, FINAL_NAME, LOG_NAME, StepLog, atomic_save,
                                        checkpoint_path, epoch_records, latest_checkpoint, save_checkpoint,
                                        truncate_log)
from acubench.align.data import (PairAudio, alignment_policy, apply_control, collate, derive_seed, split_by_subject,
                                 subset)
from acubench.align.heads import fit_space_map
from acubench.align.model import AlignError, AlignmentModel, build_model
from acubench.align.presets import AlignConfig
from acubench.align.teacher import Teacher, TeacherCache
from acubench.align.validation import Validation, clean_batches, loss_sides, recalibrate_batchnorm, retrieval
from acubench.encoder import AudioEncoder
from acubench.weights import CheckpointError, load_checkpoint

__all__ = ["AlignError", "TrainResult", "train", "FINAL_NAME", "ENCODER_NAME", "LOG_NAME"]


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
class _State:
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


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
    random.seed(seed)


def _linear_warmup_decay(warmup: int, total: int) -> Callable[[int], float]:
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


def _teacher_vectors(teacher: Teacher, texts: list[str], cache_dir: Path, world: int, main: bool, console) -> Tensor:
    """Teacher vectors of ``texts`` from the disk cache; rank 0 computes what is missing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cache = TeacherCache(cache_dir, teacher)
    if main:
        with Progress(TextColumn("[bold]teacher vectors"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            job = bar.add_task("teacher", total=len(texts))
            vectors = cache.embed(texts, on_progress=lambda k: bar.advance(job, k))
    _barrier(world)
    if not main:
        vectors = cache.embed(texts)
    return vectors


def _check_corpus(corpus: pd.DataFrame, config: AlignConfig) -> None:
    """Refuse corpora that cannot give a meaningful run, before anything is computed."""
    if corpus["report"].nunique() < 2:
        raise AlignError(f"all {len(corpus)} reports of the corpus are identical: the teacher vectors carry nothing to "
                         f"align to; write reports from each recording's metadata (`acubench corpus`)")
    subjects = corpus.groupby(["dataset", "subject"]).ngroups
    if config.val_fraction > 0 and subjects < 2:
        raise AlignError(f"the corpus has {subjects} subject: the held-out validation needs subjects of its own; use "
                         f"a corpus with several subjects, or --val-fraction 0 (no held-out metrics)")


def _resume(out_dir: Path, encoder: AudioEncoder, rebuild: Callable[[Path], AudioEncoder], main: bool,
            console) -> tuple[int, dict[str, Any] | None, AudioEncoder, int | None]:
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


def _setup(encoder: AudioEncoder, rebuild: Callable[[Path], AudioEncoder], corpus: pd.DataFrame, teacher: Teacher,
           config: AlignConfig, seed: int, out_dir: Path, metadata: dict[str, Any], cache_dir: Path, device: str,
           console) -> _State:
    from rich.console import Console

    world, rank, local_rank = _distributed()
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    if world > 1 and device.startswith("cuda"):
        device = f"cuda:{local_rank}"
    dev = torch.device(device)
    if config.precision == "bf16" and dev.type != "cuda":
        raise AlignError("precision bf16 is for CUDA devices; on the CPU alignment runs in fp32")
    main = rank == 0
    console = console or Console(stderr=True, quiet=not main)
    if not encoder.spec.supports_alignment:
        raise AlignError(f"encoder {encoder.spec.id} does not support alignment (its spec says supports_alignment="
                         f"False: no trainable token features)")
    local_batch = per_rank_batch(config.batch_size, world)
    _check_corpus(corpus, config)
    train_rows, val_rows = split_by_subject(corpus, config.val_fraction, seed)
    train_rows = apply_control(subset(train_rows, config.max_pairs, seed, "train-subset"), config.control, seed)
    val_rows = subset(val_rows, config.max_val_pairs, seed, "val-subset")
    if len(train_rows) < config.batch_size:
        raise AlignError(f"the corpus has {len(train_rows)} training pairs after the held-out split, fewer than one "
                         f"batch of {config.batch_size}; lower --batch-size or use a larger corpus")
    out_dir = Path(out_dir)
    (out_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    start_epoch, state, encoder, resumed_from = _resume(out_dir, encoder, rebuild, main, console)
    encoder = encoder.to(dev)

    policy = alignment_policy(encoder.spec.clip, config.clip_seconds, config.windowing)
    aug = AugmentConfig(p=config.augment_p) if config.augment else None
    train_set = PairAudio(train_rows, encoder.sample_rate, policy, seed=seed, train=True, augment_config=aug)
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    loader = DataLoader(train_set, batch_size=local_batch, sampler=sampler, drop_last=True, collate_fn=collate,
                        num_workers=config.num_workers)
    total_steps = math.ceil(len(loader) / config.grad_accum) * config.epochs

    unique = list(dict.fromkeys(pd.concat([train_rows["report"], val_rows["report"]]).tolist()))
    index_of = {r: i for i, r in enumerate(unique)}
    vectors = _teacher_vectors(teacher, unique, cache_dir, world, main, console) if config.teacher_cache \
        else teacher.encode(unique)
    train_text = torch.tensor([index_of[r] for r in train_rows["report"]], dtype=torch.long)
    val_text = torch.tensor([index_of[r] for r in val_rows["report"]], dtype=torch.long)

    sample = encoder.featurize([torch.from_numpy(train_set[0][0])])
    model = build_model(encoder, teacher.dim, config, seed=seed, sample_inputs=sample, gather=world > 1).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_warmup_decay(config.warmup_steps, total_steps))
    if state is not None:
        for head, key in ((model.audio_head, "audio_projection_mlp_state_dict"),
                          (model.text_head, "language_projection_mlp_state_dict"), (model.mam_head, "mam_head_state_dict")):
            if head is not None:
                head.load_state_dict(state[key])
        optimizer.load_state_dict(state["optimizer_state_dict"])
        scheduler.load_state_dict(state["scheduler_state_dict"])
    runner: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        runner = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                         find_unused_parameters=True)
    validation = Validation(model, val_rows, vectors[val_text], policy, local_batch, seed, dev) if main else None
    if main:
        console.print(
            f"[bold]AcuLa alignment[/] of {encoder.spec.id} ({encoder.weights_info.label()}): "
            f"{len(train_rows)} training pairs, {len(val_rows)} held-out, {len(unique)} distinct reports; "
            f"teacher {teacher.id} ({teacher.dim}-d, {teacher.pooling} pooling); loss {config.align_loss} on the "
            f"{'projected pair' if config.align_target == 'heads' else 'encoder embedding'}; "
            f"masked modelling: {model.mam_kind}; control: {config.control}; "
            f"{config.epochs} epochs × {math.ceil(len(loader) / config.grad_accum)} steps; {policy.describe()}")
    history = epoch_records(out_dir / LOG_NAME) if main else []
    st = _State(model, runner, optimizer, scheduler, params, loader, sampler, train_set, train_rows, val_rows,
                train_text, val_text, vectors, teacher, validation, StepLog(out_dir / LOG_NAME, main), config, seed, dev,
                rank, world, start_epoch, resumed_from, history, out_dir, metadata, console)
    if start_epoch == 0 and validation is not None and validation.ready:
        _record(st, {"type": "epoch", "epoch": 0, **validation.evaluate()})
    return st


def _record(st: _State, record: dict[str, Any]) -> None:
    st.log.write(record)
    st.history.append(record)


def _run_epoch(st: _State, epoch: int, progress) -> dict[str, Any]:
    """One epoch of training, then validation and (on schedule) a checkpoint; returns the epoch record."""
    cfg, model = st.config, st.model
    _seed_everything(derive_seed(st.seed, "epoch", epoch))
    st.sampler.set_epoch(epoch)
    st.train_set.set_epoch(epoch)
    model.train()
    batches = len(st.loader)
    job = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=batches, status="")
    autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if cfg.precision == "bf16"
                else contextlib.nullcontext())
    sums = {"loss": 0.0, "align": 0.0, "mam": 0.0}
    t0 = time.perf_counter()
    st.optimizer.zero_grad(set_to_none=True)
    for step, (waves, idx) in enumerate(st.loader):
        inputs = model.encoder.featurize(waves)
        if cfg.teacher_cache:
            text = st.vectors[st.train_text[idx]].to(st.device)
        else:  # AcuLa's way, kept for timing comparisons: the teacher inside every step
            text = st.teacher.encode([st.train_rows["report"].iloc[i] for i in idx.tolist()]).to(st.device)
        generator = torch.Generator().manual_seed(derive_seed(st.seed, "mask", epoch, step, st.rank))
        with autocast:
            losses = st.runner(inputs, text, generator)
        (losses["loss"] / cfg.grad_accum).backward()
        lr = st.optimizer.param_groups[0]["lr"]
        if (step + 1) % cfg.grad_accum == 0 or step + 1 == batches:
            if cfg.clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(st.params, cfg.clip_grad_norm)
            st.optimizer.step()
            st.scheduler.step()
            st.optimizer.zero_grad(set_to_none=True)
        values = {k: float(v.detach()) for k, v in losses.items()}
        for k in sums:
            sums[k] += values[k]
        st.log.write({"type": "step", "epoch": epoch + 1, "step": step + 1, "global_step": st.scheduler.last_epoch,
                      "lr": lr, **values})
        progress.update(job, advance=1, status=f"loss {values['loss']:.4f} (align {values['align']:.4f}, "
                                               f"mam {values['mam']:.4f})")
    seconds = time.perf_counter() - t0
    progress.remove_task(job)
    pairs = batches * cfg.batch_size
    record = {"type": "epoch", "epoch": epoch + 1, "seconds": round(seconds, 3),
              "samples_per_second": pairs / max(seconds, 1e-9), **{f"train_{k}": v / batches for k, v in sums.items()}}
    if st.validation is not None and st.validation.ready:
        record.update(st.validation.evaluate())
    _record(st, record)
    if st.main:
        st.console.print(_epoch_line(record, cfg.epochs))
    if st.main and ((epoch + 1) % cfg.save_every == 0 or epoch + 1 == cfg.epochs):
        save_checkpoint(checkpoint_path(st.out_dir, epoch + 1), model, st.optimizer, st.scheduler, epoch + 1,
                        st.metadata)
    _barrier(st.world)
    return record


def _finalise(st: _State) -> tuple[Path, Path, dict[str, float]]:
    """BatchNorm recalibration, the zero-shot space map, retrieval, and the final files (rank 0)."""
    final, encoder_file = st.out_dir / FINAL_NAME, st.out_dir / ENCODER_NAME
    found: dict[str, float] = {}
    if st.main:
        cfg, model = st.config, st.model
        batch = st.loader.batch_size
        clean = st.train_set.evaluation_view()
        recalibrate_batchnorm(model.encoder, clean_batches(model.encoder, clean, batch))
        audio, text = loss_sides(model, clean, st.vectors[st.train_text], batch, st.device)
        space_map = fit_space_map(audio, text, rotate=model.loss_spec.rotation_invariant)
        if st.validation is not None and st.validation.ready:
            v_audio, v_text = loss_sides(model, st.validation.data, st.validation.text, batch, st.device)
            found = retrieval(v_audio, v_text, st.val_rows["report"].tolist(), space_map)
        atomic_save(model.encoder.export_state_dict(), encoder_file)
        save_checkpoint(final, model, st.optimizer, st.scheduler, cfg.epochs, {**st.metadata, "final": True},
                        space_map)
    _barrier(st.world)
    return final, encoder_file, found


def train(
    *,
    encoder: AudioEncoder,
    rebuild: Callable[[Path], AudioEncoder],
    corpus: pd.DataFrame,
    teacher: Teacher,
    config: AlignConfig,
    seed: int,
    out_dir: Path,
    metadata: dict[str, Any],
    cache_dir: Path,
    device: str = "cpu",
    console=None,
) -> TrainResult:
    """Align ``encoder`` to ``teacher`` on ``corpus`` and write checkpoints under ``out_dir``.

    Parameters
    ----------
    encoder : AudioEncoder
        The base encoder, trained in place (ignored when resuming: it is rebuilt from the checkpoint).
    rebuild : callable
        ``rebuild(checkpoint_path) -> AudioEncoder``: the factory loading an
        ``audio_model_state_dict`` (used to resume).
    corpus : DataFrame
        Checked corpus rows (:class:`acubench.align.corpus.Corpus.frame`).
    teacher : Teacher
    config : AlignConfig
    seed : int
    out_dir : Path
        Run folder: ``checkpoints/acula_epoch_<n>.pt``, ``acula_final.pt``,
        ``audio_encoder.pt``, ``train_log.jsonl``.
    metadata : dict
        Stored under ``"acubench"`` in every checkpoint (plain types only).
    cache_dir : Path
        acubench cache (teacher vectors).
    device : str
    console : rich.console.Console, optional

    Raises
    ------
    AlignError
        If the encoder cannot be aligned, the batch does not divide over the
        processes, or the corpus is too small for one batch.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    st = _setup(encoder, rebuild, corpus, teacher, config, seed, out_dir, metadata, cache_dir, device, console)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=st.console,
                        transient=True, disable=not st.main)
    seconds, pairs, epochs = 0.0, 0, 0
    with progress:
        for epoch in range(st.start_epoch, config.epochs):
            record = _run_epoch(st, epoch, progress)
            seconds += record["seconds"]
            pairs += len(st.loader) * config.batch_size
            epochs += 1
    final, encoder_file, found = _finalise(st)
    counts = {"train_pairs": len(st.train_rows), "heldout_pairs": len(st.val_rows),
              "train_subjects": int(st.train_rows["subject"].nunique()),
              "heldout_subjects": int(st.val_rows["subject"].nunique())}
    return TrainResult(final, encoder_file, st.resumed_from, epochs, st.history, seconds,
                       pairs / max(seconds, 1e-9), found, counts)


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {record['epoch']}/{epochs}: loss {record['train_loss']:.4f} "
             f"(align {record['train_align']:.4f}, mam {record['train_mam']:.4f})"]
    if "val_cka" in record:
        parts.append(f"held-out debiased CKA {record['val_cka']:.3f} (shuffled pairs {record['val_cka_shuffled']:.3f})")
    if "val_mam" in record:
        parts.append(f"held-out MAM {record['val_mam']:.4f}")
    parts.append(f"{record['samples_per_second']:.1f} pairs/s")
    return " · ".join(parts)
