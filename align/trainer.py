"""The AcuLa training loop: alignment to a frozen teacher plus masked acoustic modelling.

One step, for a batch of (recording, report) pairs::

    waves ─ augment ─ encoder.featurize ─ forward_tokens ─ pool ─ [audio head] ─┐
                                                                                ├─ alignment loss
    reports ─ teacher (pre-computed, cached) ──────────────────── [text head] ─┘
    inputs ─ encoder.ssl_loss (OPERA-GT, AudioMAE: MAE)  or  generic masked-frame head ─ masked-modelling loss

    loss = λ_align · alignment + λ_mam · masked modelling

The pieces live by job: the pairs and their windows in :mod:`~acubench.align.data`,
the trained unit in :mod:`~acubench.align.model`, the run folder in
:mod:`~acubench.align.checkpoints`, held-out metrics in
:mod:`~acubench.align.validation`. This module runs them: :func:`train` is
``_setup`` → ``_run_epoch`` per epoch → ``_finalise``.

AdamW on every trainable parameter (AcuLa trains the MAE decoder too), linear
warm-up then decay, gradient accumulation and clipping, ``drop_last`` batches,
optional bf16 autocast on CUDA. Every random draw derives from (seed, epoch[,
row or step]), so a run resumed from the checkpoint of epoch *n* ends
bit-identical to an uninterrupted one. After the last epoch, BatchNorm
statistics are re-estimated, the zero-shot ``space_map`` is fitted on the
training pairs, and the held-out pairs give retrieval recalls. Under
``torchrun`` the global batch is split over the ranks and the loss sees the
all-gathered batch; rank 0 alone writes. docs/alignment.md has the details.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from acubench.align.augment import AugmentConfig
from acubench.align.checkpoints import (
    CHECKPOINT_DIR,
    ENCODER_NAME,
    FINAL_NAME,
    LOG_NAME,
    StepLog,
    atomic_save,
    checkpoint_path,
    epoch_records,
    resume,
    save_checkpoint,
)
from acubench.align.data import PairAudio, alignment_policy, collate, derive_seed, training_rows
from acubench.align.heads import fit_space_map
from acubench.align.model import AlignError, build_model, masked_modelling
from acubench.align.presets import AlignConfig
from acubench.align.runtime import (
    barrier,
    init_distributed,
    linear_warmup_decay,
    per_rank_batch,
    seed_everything,
    teacher_vectors,
)
from acubench.align.state import TrainResult, TrainState
from acubench.align.summary import epoch_line, start_line
from acubench.align.teacher import Teacher
from acubench.align.validation import Validation, clean_batches, loss_sides, recalibrate_batchnorm, retrieval
from acubench.encoder import AudioEncoder

__all__ = ["ENCODER_NAME", "FINAL_NAME", "LOG_NAME", "AlignError", "TrainResult", "train"]


def _setup(encoder: AudioEncoder, rebuild: Callable[[Path], AudioEncoder], corpus: pd.DataFrame, teacher: Teacher,
           config: AlignConfig, seed: int, out_dir: Path, metadata: dict[str, Any], cache_dir: Path, device: str,
           console) -> TrainState:
    from rich.console import Console
    from rich.markup import escape

    world, rank, dev = init_distributed(device)
    if config.precision == "bf16" and dev.type != "cuda":
        raise AlignError("precision bf16 is for CUDA devices; on the CPU alignment runs in fp32")
    main = rank == 0
    console = console or Console(stderr=True, quiet=not main)
    if not encoder.spec.supports_alignment:
        raise AlignError(f"encoder {encoder.spec.id} does not support alignment (its spec says supports_alignment="
                         f"False: no trainable token features)")
    local_batch = per_rank_batch(config.batch_size, world)
    try:
        train_rows, val_rows = training_rows(corpus, config, seed)
    except ValueError as exc:
        raise AlignError(str(exc)) from None
    out_dir = Path(out_dir)
    (out_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    start_epoch, state, encoder, resumed_from = resume(out_dir, encoder, rebuild, main, console)
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
    vectors = teacher_vectors(teacher, unique, cache_dir, world, main, console) if config.teacher_cache \
        else teacher.encode(unique)
    train_text = torch.tensor([index_of[r] for r in train_rows["report"]], dtype=torch.long)
    val_text = torch.tensor([index_of[r] for r in val_rows["report"]], dtype=torch.long)

    sample = encoder.featurize([torch.from_numpy(train_set[0][0])])
    model = build_model(encoder, teacher.dim, config, seed=seed, sample_inputs=sample, gather=world > 1).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(config.warmup_steps, total_steps))
    if state is not None:
        model.load_heads(state)
        optimizer.load_state_dict(state["optimizer_state_dict"])
        scheduler.load_state_dict(state["scheduler_state_dict"])
    runner: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        runner = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                         find_unused_parameters=True)
    validation = Validation(model, val_rows, vectors[val_text], policy, local_batch, seed, dev) if main else None
    if main:
        console.print(start_line(model, teacher, len(train_rows), len(val_rows), len(unique),
                                 math.ceil(len(loader) / config.grad_accum), policy.describe()))
        notice = masked_modelling(model.encoder, config)["notice"]
        if notice:
            console.print(f"[yellow]masked modelling[/]: {escape(notice)}")
    history = epoch_records(out_dir / LOG_NAME) if main else []
    st = TrainState(model, runner, optimizer, scheduler, params, loader, sampler, train_set, train_rows, val_rows,
                train_text, val_text, vectors, teacher, validation, StepLog(out_dir / LOG_NAME, main), config,
                seed, dev, rank, world, start_epoch, resumed_from, history, out_dir, metadata, console)
    if start_epoch == 0 and validation is not None and validation.ready:
        _record(st, {"type": "epoch", "epoch": 0, **validation.evaluate()})
    return st


def _record(st: TrainState, record: dict[str, Any]) -> None:
    st.log.write(record)
    st.history.append(record)


def _run_epoch(st: TrainState, epoch: int, progress) -> dict[str, Any]:
    """One epoch of training, then validation and (on schedule) a checkpoint; returns the epoch record."""
    cfg, model = st.config, st.model
    seed_everything(derive_seed(st.seed, "epoch", epoch))
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
        st.console.print(epoch_line(record, cfg.epochs))
    if st.main and ((epoch + 1) % cfg.save_every == 0 or epoch + 1 == cfg.epochs):
        save_checkpoint(checkpoint_path(st.out_dir, epoch + 1), model, st.optimizer, st.scheduler, epoch + 1,
                        st.metadata)
    barrier(st.world)
    return record


def _finalise(st: TrainState) -> tuple[Path, Path, dict[str, float]]:
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
    barrier(st.world)
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
    """Align ``encoder`` to ``teacher`` on ``corpus``; checkpoints, ``train_log.jsonl`` and the final files go to
    ``out_dir``.

    ``encoder`` is trained in place (rebuilt by ``rebuild(checkpoint)`` when resuming); ``corpus`` holds
    checked rows; ``metadata`` goes into every checkpoint; ``cache_dir`` holds the teacher vectors.

    Raises
    ------
    AlignError
        The encoder cannot be aligned, the batch does not divide over the
        processes, or the corpus is unusable (too small, identical reports, one subject).
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
