"""The AcuLa training loop: alignment to a frozen teacher plus masked acoustic modelling.

One step, for a batch of (recording, report) pairs::

    waves ─ augment ─ encoder.featurize ─ forward_tokens ─ pool ─ audio head ─┐
                                                                               ├─ alignment loss (CKA)
    reports ─ teacher (pre-computed, cached) ───────────────── language head ─┘
    inputs ─ encoder.ssl_loss (OPERA-GT: MAE)  or  generic masked-frame head ─── masked-modelling loss

    loss = λ_align · alignment + λ_mam · masked modelling

Audio input
    Each recording is decoded, resampled and cut by the encoder's clip policy
    (:func:`acubench.audio.iter_windows`; ``clip_seconds`` caps the window
    length). One window per recording and epoch: a seeded random window in
    training, the first window in validation.

Optimisation
    AdamW on every trainable parameter of the encoder and both heads (AcuLa
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
    training windows with the final weights (:func:`recalibrate_batchnorm`),
    then the training pairs are projected once more (first window, eval
    mode) to fit the map between the two projected spaces that zero-shot
    scoring needs (:func:`acubench.align.heads.fit_space_map`), stored in the
    final checkpoint as ``space_map``.

Held-out validation
    Subjects (never recordings) are split off with a seeded shuffle; after
    every epoch (and before the first) the log records linear CKA between
    the projected audio and teacher vectors of all held-out pairs
    (``val_cka``), between the raw encoder embeddings and raw teacher vectors
    (``val_cka_raw``, which the heads cannot inflate), and the masked-modelling
    loss with fixed masks (``val_mam``).

Scale-out
    Run the same command under ``torchrun --nproc_per_node N``: with
    ``WORLD_SIZE > 1`` the process group is initialised (NCCL on CUDA, Gloo
    on CPU), each rank trains on its ``DistributedSampler`` shard, features
    are all-gathered (with gradients) so CKA is computed on the global batch,
    and rank 0 alone writes checkpoints and logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from acubench.align.augment import AugmentConfig, augment
from acubench.align.heads import ProjectionMLP, fit_space_map
from acubench.align.losses import linear_cka, make_alignment_loss
from acubench.align.mam import MaskedFrameHead, masked_frame_loss
from acubench.align.presets import AlignConfig
from acubench.align.teacher import Teacher, TeacherCache
from acubench.audio import AudioError, iter_windows, load_clip
from acubench.checkpoints import CheckpointError, load_checkpoint
from acubench.encoder import AudioEncoder
from acubench.errors import AcubenchError
from acubench.paths import atomic_write
from acubench.specs import ClipPolicy

FINAL_NAME = "acula_final.pt"
ENCODER_NAME = "audio_encoder.pt"
LOG_NAME = "train_log.jsonl"
RUN_NAME = "run.json"
CHECKPOINT_DIR = "checkpoints"


class AlignError(AcubenchError, ValueError):
    """An alignment run that cannot start or continue as asked; the message says what to change."""


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any JSON-serialisable parts (seed, epoch, index…)."""
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def alignment_policy(policy: ClipPolicy, clip_seconds: float | None) -> ClipPolicy:
    """The encoder's clip policy with windows of at most ``clip_seconds`` (s).

    Windowed policies keep their hop-to-window ratio; a whole-clip policy
    becomes windows of ``clip_seconds`` with 50 % overlap, so training can
    draw any part of a long recording.
    """
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
        last_window=policy.last_window if policy.window_seconds is not None else ("pad" if policy.pad != "none" else "keep"),
    )


# --- data --------------------------------------------------------------------------------------


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

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        path = self.paths[index]
        start = None if math.isnan(self.starts[index]) else self.starts[index]
        end = None if math.isnan(self.ends[index]) else self.ends[index]
        wave = load_clip(path, self.sample_rate, start=start, end=end)
        try:
            windows = list(iter_windows(wave, self.sample_rate, self.policy))
        except ValueError as exc:
            raise AudioError(path, str(exc), "remove the row from the corpus") from None
        if not windows:
            raise AudioError(path, f"yields no model input under the clip policy {self.policy.describe()}",
                             "remove the row from the corpus")
        if not self.train:
            return np.ascontiguousarray(windows[0], dtype=np.float32), index
        rng = np.random.default_rng(derive_seed(self.seed, "example", self.epoch, index))
        chosen = windows[int(rng.integers(len(windows)))]
        if self.augment_config is not None:
            chosen, _ = augment(chosen, self.sample_rate, rng, self.augment_config)
        return np.ascontiguousarray(chosen, dtype=np.float32), index


def _collate(items: Sequence[tuple[np.ndarray, int]]) -> tuple[list[Tensor], Tensor]:
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


def _subset(frame: pd.DataFrame, limit: int | None, seed: int, tag: str) -> pd.DataFrame:
    if limit is None or len(frame) <= limit:
        return frame
    rng = np.random.default_rng(derive_seed(seed, tag))
    keep = np.sort(rng.choice(len(frame), size=limit, replace=False))
    return frame.iloc[keep].reset_index(drop=True)


# --- the model ---------------------------------------------------------------------------------


class AlignmentModel(nn.Module):
    """Encoder + projection heads (+ generic masked-modelling head), the unit DDP wraps.

    Parameters
    ----------
    encoder : AudioEncoder
    audio_head, text_head : ProjectionMLP
    mam_head : MaskedFrameHead or None
        Only for encoders whose ``ssl_loss`` is ``None``.
    config : AlignConfig
    gather : bool
        All-gather projected features across ranks before the alignment loss.
    """

    def __init__(self, encoder: AudioEncoder, audio_head: ProjectionMLP, text_head: ProjectionMLP,
                 mam_head: MaskedFrameHead | None, config: AlignConfig, gather: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.audio_head = audio_head
        self.text_head = text_head
        self.mam_head = mam_head
        self.config = config
        self.gather = gather
        self.align_loss = make_alignment_loss(config.align_loss, sigma=config.rbf_sigma,
                                              temperature=config.temperature)

    @property
    def mam_kind(self) -> str:
        """``"ssl_loss"`` (the encoder's own), ``"generic head"`` or ``"off"``."""
        if self.config.lambda_mam <= 0:
            return "off"
        return "generic head" if self.mam_head is not None else "ssl_loss"

    def embed(self, inputs: Tensor) -> Tensor:
        """Model inputs → pooled encoder embeddings (B, D), with gradients."""
        return self.encoder.pool(self.encoder.forward_tokens(inputs))

    def mam(self, inputs: Tensor, generator: torch.Generator) -> Tensor:
        if self.mam_head is None:
            loss = self.encoder.ssl_loss(inputs)
            if loss is None:
                raise AlignError(f"encoder {self.encoder.spec.id}: ssl_loss returned None after returning a loss")
            return loss
        return masked_frame_loss(self.encoder, self.mam_head, inputs, mask_ratio=self.config.mask_ratio,
                                 generator=generator)

    def forward(self, inputs: Tensor, text: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        """Losses for one batch: ``loss`` (weighted total), ``align``, ``mam``."""
        cfg = self.config
        zero = inputs.new_zeros((), dtype=torch.float32)
        align = zero
        if cfg.lambda_align > 0:
            audio = self.audio_head(self.embed(inputs).float())
            language = self.text_head(text.float())
            if self.gather:
                from torch.distributed.nn.functional import all_gather

                audio, language = torch.cat(all_gather(audio)), torch.cat(all_gather(language))
            align = self.align_loss(audio, language)
        mam = self.mam(inputs, generator).float() if cfg.lambda_mam > 0 else zero
        return {"loss": cfg.lambda_align * align + cfg.lambda_mam * mam, "align": align, "mam": mam}


def build_model(encoder: AudioEncoder, teacher_dim: int, config: AlignConfig, *, seed: int, probe: Tensor,
                gather: bool = False) -> AlignmentModel:
    """The encoder with freshly initialised (seeded) heads for alignment.

    Parameters
    ----------
    encoder : AudioEncoder
    teacher_dim : int
        Size of the teacher's report vectors.
    config : AlignConfig
    seed : int
    probe : Tensor
        One featurised input: for an encoder without its own masked-modelling
        loss (``has_ssl_loss``), it gives the sizes of the generic head.
    gather : bool
        All-gather features across ranks (DDP).
    """
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        own_ssl = config.lambda_mam > 0 and encoder.has_ssl_loss
        need_head = config.lambda_mam > 0 and not own_ssl
        head_dims = (encoder.forward_tokens(probe).shape[-1], encoder.reconstruction_target(probe).shape[-1]) \
            if need_head else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "heads"))
        audio_head = ProjectionMLP(encoder.embed_dim, config.proj_hidden, config.proj_dim, config.dropout)
        text_head = ProjectionMLP(teacher_dim, config.proj_hidden, config.proj_dim, config.dropout)
        mam_head = MaskedFrameHead(*head_dims) if head_dims else None
    return AlignmentModel(encoder, audio_head, text_head, mam_head, config, gather=gather)


def _linear_warmup_decay(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


# --- checkpoints and logs ------------------------------------------------------------------------


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


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


def _truncate_log(path: Path, epoch: int) -> None:
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


# --- the loop --------------------------------------------------------------------------------------


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
        The per-epoch log records of the whole run.
    train_seconds : float
        Wall time of the training steps of this call (validation excluded).
    samples_per_second : float
        Training pairs per second over this call.
    """

    final: Path
    encoder_file: Path
    resumed_from: int | None
    epochs_trained: int
    history: list[dict]
    train_seconds: float
    samples_per_second: float


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def _epoch_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("type") == "epoch"]


class _Log:
    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")


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
        The base encoder (ignored when resuming: the encoder is rebuilt from the checkpoint).
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
        If the encoder cannot be aligned, or the corpus is too small for one batch.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    out_dir = Path(out_dir)
    (out_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    log_path = out_dir / LOG_NAME

    resume = latest_checkpoint(out_dir)
    start_epoch = 0
    state: dict[str, Any] | None = None
    if resume is None and main:
        log_path.unlink(missing_ok=True)  # steps of a run interrupted before its first checkpoint
    if resume is not None:
        start_epoch, ckpt_file = resume
        state = load_checkpoint(ckpt_file)
        if not isinstance(state, dict) or "optimizer_state_dict" not in state:
            raise CheckpointError(f"{ckpt_file}: not an acubench alignment checkpoint; delete it to start over")
        encoder = rebuild(ckpt_file)
        if main:
            _truncate_log(log_path, start_epoch)
            console.print(f"resuming from {ckpt_file} (epoch {start_epoch} of {config.epochs})")
    encoder = encoder.to(dev)

    # -- data ----------------------------------------------------------------------------------
    train_rows, val_rows = split_by_subject(corpus, config.val_fraction, seed)
    train_rows = _subset(train_rows, config.max_pairs, seed, "train-subset")
    val_rows = _subset(val_rows, config.max_val_pairs, seed, "val-subset")
    global_batch = config.batch_size * world
    if len(train_rows) < global_batch:
        raise AlignError(f"the corpus has {len(train_rows)} training pairs after the held-out split, fewer than one "
                         f"batch of {global_batch}; lower --batch-size or use a larger corpus")
    policy = alignment_policy(encoder.spec.clip, config.clip_seconds)
    aug = AugmentConfig(p=config.augment_p) if config.augment else None
    train_set = PairAudio(train_rows, encoder.sample_rate, policy, seed=seed, train=True, augment_config=aug)
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler, drop_last=True,
                        collate_fn=_collate, num_workers=config.num_workers)
    batches = len(loader)
    steps_per_epoch = math.ceil(batches / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs

    reports = pd.concat([train_rows["report"], val_rows["report"]]).tolist()
    unique = list(dict.fromkeys(reports))
    index_of = {r: i for i, r in enumerate(unique)}
    train_text = torch.tensor([index_of[r] for r in train_rows["report"]], dtype=torch.long)
    val_text = torch.tensor([index_of[r] for r in val_rows["report"]], dtype=torch.long)
    vectors: Tensor | None = None
    if config.teacher_cache:
        vectors = _teacher_vectors(teacher, unique, cache_dir, world, main, console)

    # -- model ---------------------------------------------------------------------------------
    probe = encoder.featurize([torch.from_numpy(train_set[0][0])])
    model = build_model(encoder, teacher.dim, config, seed=seed, probe=probe, gather=world > 1).to(dev)
    mam_head, audio_head, text_head = model.mam_head, model.audio_head, model.text_head
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_warmup_decay(config.warmup_steps, total_steps))
    if state is not None:
        audio_head.load_state_dict(state["audio_projection_mlp_state_dict"])
        text_head.load_state_dict(state["language_projection_mlp_state_dict"])
        if mam_head is not None:
            mam_head.load_state_dict(state["mam_head_state_dict"])
        optimizer.load_state_dict(state["optimizer_state_dict"])
        scheduler.load_state_dict(state["scheduler_state_dict"])
    runner: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        runner = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                         find_unused_parameters=True)

    val = _Validation(model, val_rows, val_text, policy, config, seed, dev) if main else None
    log = _Log(log_path, main)
    if main:
        console.print(
            f"[bold]AcuLa alignment[/] of {encoder.spec.id} ({encoder.weights_info.label()}): "
            f"{len(train_rows)} training pairs, {len(val_rows)} held-out, {len(unique)} distinct reports; "
            f"teacher {teacher.id} ({teacher.dim}-d, {teacher.pooling} pooling); "
            f"masked modelling: {model.mam_kind}; "
            f"{config.epochs} epochs × {steps_per_epoch} steps; {policy.describe()}"
        )
    history = _epoch_records(log_path) if main else []
    if start_epoch == 0 and main and val is not None and val.ready:
        record = {"type": "epoch", "epoch": 0, **val.evaluate(vectors, teacher)}
        log.write(record)
        history.append(record)

    autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if config.precision == "bf16"
                else contextlib.nullcontext())
    train_seconds, samples, epochs_trained = 0.0, 0, 0
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console, transient=True,
                        disable=not main)
    with progress:
        for epoch in range(start_epoch, config.epochs):
            _seed_everything(derive_seed(seed, "epoch", epoch))
            sampler.set_epoch(epoch)
            train_set.set_epoch(epoch)
            model.train()
            job = progress.add_task(f"epoch {epoch + 1}/{config.epochs}", total=batches, status="")
            sums = {"loss": 0.0, "align": 0.0, "mam": 0.0}
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            for step, (waves, idx) in enumerate(loader):
                inputs = encoder.featurize(waves)
                if vectors is not None:
                    text = vectors[train_text[idx]].to(dev)
                else:
                    text = teacher.encode([unique[i] for i in train_text[idx].tolist()]).to(dev)
                generator = torch.Generator().manual_seed(derive_seed(seed, "mask", epoch, step, rank))
                with autocast:
                    losses = runner(inputs, text, generator)
                (losses["loss"] / config.grad_accum).backward()
                last = step + 1 == batches
                lr = optimizer.param_groups[0]["lr"]
                if (step + 1) % config.grad_accum == 0 or last:
                    if config.clip_grad_norm > 0:
                        torch.nn.utils.clip_grad_norm_(params, config.clip_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                values = {k: float(v.detach()) for k, v in losses.items()}
                for k in sums:
                    sums[k] += values[k]
                log.write({"type": "step", "epoch": epoch + 1, "step": step + 1,
                           "global_step": scheduler.last_epoch, "lr": lr, **values})
                progress.update(job, advance=1, status=f"loss {values['loss']:.4f} (align {values['align']:.4f}, "
                                                       f"mam {values['mam']:.4f})")
            seconds = time.perf_counter() - t0
            progress.remove_task(job)
            train_seconds += seconds
            samples += batches * config.batch_size * world
            epochs_trained += 1
            record = {"type": "epoch", "epoch": epoch + 1, "seconds": round(seconds, 3),
                      "samples_per_second": batches * config.batch_size * world / max(seconds, 1e-9),
                      **{f"train_{k}": v / batches for k, v in sums.items()}}
            if val is not None and val.ready:
                record.update(val.evaluate(vectors, teacher))
            log.write(record)
            history.append(record)
            if main:
                console.print(_epoch_line(record, config.epochs))
            save = (epoch + 1) % config.save_every == 0 or epoch + 1 == config.epochs
            if save and main:
                _save(checkpoint_path(out_dir, epoch + 1), model, optimizer, scheduler, epoch + 1, metadata)
            _barrier(world)
    final, encoder_file = out_dir / FINAL_NAME, out_dir / ENCODER_NAME
    if main:
        recalibrate_batchnorm(encoder, _clean_batches(encoder, train_rows, policy, config.batch_size))
        text = vectors[train_text] if vectors is not None else teacher.encode(train_rows["report"].tolist())
        audio_proj, text_proj = _projected_pairs(model, train_rows, text, policy, config.batch_size, dev)
        space_map = fit_space_map(audio_proj, text_proj, rotate=config.align_loss != "infonce")
        _atomic_save(encoder.export_state_dict(), encoder_file)
        _save(final, model, optimizer, scheduler, config.epochs, {**metadata, "final": True}, space_map)
    _barrier(world)
    return TrainResult(final, encoder_file, resume[0] if resume else None, epochs_trained, history,
                       train_seconds, samples / max(train_seconds, 1e-9))


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {record['epoch']}/{epochs}: loss {record['train_loss']:.4f} "
             f"(align {record['train_align']:.4f}, mam {record['train_mam']:.4f})"]
    if "val_cka" in record:
        parts.append(f"held-out CKA {record['val_cka']:.3f} (raw {record['val_cka_raw']:.3f})")
    if "val_mam" in record:
        parts.append(f"held-out MAM {record['val_mam']:.4f}")
    parts.append(f"{record['samples_per_second']:.1f} pairs/s")
    return " · ".join(parts)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
    random.seed(seed)


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


def _save(path: Path, model: AlignmentModel, optimizer, scheduler, epoch: int, metadata: dict[str, Any],
          space_map: dict[str, Tensor] | None = None) -> None:
    """A checkpoint in AcuLa's layout (plus acubench's keys), loadable with ``weights_only=True``.

    The final checkpoint also holds ``space_map`` (:func:`acubench.align.heads.fit_space_map`).
    """
    payload = {
        "epoch": epoch,
        "audio_model_state_dict": model.encoder.export_state_dict(),
        "audio_projection_mlp_state_dict": _cpu(model.audio_head.state_dict()),
        "language_projection_mlp_state_dict": _cpu(model.text_head.state_dict()),
        "optimizer_state_dict": optimizer.state_dict(),
        "scheduler_state_dict": scheduler.state_dict(),
        "acubench": {**metadata, "epoch": epoch, "global_step": scheduler.last_epoch},
    }
    if model.mam_head is not None:
        payload["mam_head_state_dict"] = _cpu(model.mam_head.state_dict())
    if space_map is not None:
        payload["space_map"] = space_map
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(payload, path)


def _cpu(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().cpu() for k, v in state.items()}


_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@torch.no_grad()
def recalibrate_batchnorm(encoder: AudioEncoder, batches: Iterable[Tensor]) -> int:
    """Re-estimate the running statistics of the encoder's BatchNorm layers with its current weights.

    The statistics are reset and recomputed as a cumulative average over
    ``batches`` of model inputs (as ``torch.optim.swa_utils.update_bn``), so
    that eval-mode embeddings match the trained weights even after a short
    run, where running averages (momentum 0.1, or 0.01 in EfficientNet) would
    still lag behind the weights.

    Returns
    -------
    int
        Number of BatchNorm layers recalibrated (0: nothing to do).
    """
    layers = [m for m in encoder.modules() if isinstance(m, _BATCHNORMS)]
    if not layers:
        return 0
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    was_training = encoder.training
    encoder.train()
    try:
        for inputs in batches:
            encoder.pool(encoder.forward_tokens(inputs))
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        encoder.train(was_training)
    return len(layers)


def _clean_batches(encoder: AudioEncoder, rows: pd.DataFrame, policy: ClipPolicy, batch_size: int) -> Iterator[Tensor]:
    """Featurised first windows of ``rows`` (no augmentation), ``batch_size`` at a time."""
    data = PairAudio(rows, encoder.sample_rate, policy, seed=0, train=False, augment_config=None)
    for start in range(0, len(rows), batch_size):
        yield encoder.featurize([torch.from_numpy(data[i][0]) for i in range(start, min(len(rows), start + batch_size))])


@torch.no_grad()
def _projected_pairs(model: AlignmentModel, rows: pd.DataFrame, text: Tensor, policy: ClipPolicy,
                     batch_size: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Projected audio (first window, eval mode) and projected text of ``rows``, streamed in batches."""
    was_training = model.training
    model.eval()
    try:
        audio = [model.audio_head(model.embed(x).float()).cpu()
                 for x in _clean_batches(model.encoder, rows, policy, batch_size)]
        return torch.cat(audio), model.text_head(text.to(device).float()).cpu()
    finally:
        model.train(was_training)


class _Validation:
    """Held-out pairs, featurised once; evaluated with fixed masks after every epoch."""

    def __init__(self, model: AlignmentModel, rows: pd.DataFrame, text_index: Tensor, policy: ClipPolicy,
                 config: AlignConfig, seed: int, device: torch.device) -> None:
        self.model = model
        self.rows = rows
        self.text_index = text_index
        self.config = config
        self.seed = seed
        self.device = device
        self.ready = len(rows) >= 2
        self.inputs = [x.cpu() for x in _clean_batches(model.encoder, rows, policy, config.batch_size)] \
            if self.ready else []

    @torch.no_grad()
    def evaluate(self, vectors: Tensor | None, teacher: Teacher) -> dict[str, float]:
        model = self.model
        was_training = model.training
        model.eval()
        try:
            if vectors is not None:
                text = vectors[self.text_index]
            else:
                text = teacher.encode(self.rows["report"].tolist())
            embeddings, mam = [], []
            # Fixed masks and a private RNG stream: comparable across epochs, training RNG untouched.
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed(derive_seed(self.seed, "validation"))
                for b, inputs in enumerate(self.inputs):
                    x = inputs.to(self.device)
                    embeddings.append(model.embed(x).float().cpu())
                    if self.config.lambda_mam > 0:
                        generator = torch.Generator().manual_seed(derive_seed(self.seed, "validation-mask", b))
                        mam.append(float(model.mam(x, generator)) * x.shape[0])
            emb = torch.cat(embeddings)
            audio = model.audio_head(emb.to(self.device)).cpu()
            language = model.text_head(text.to(self.device)).cpu()
            out = {"val_cka": float(linear_cka(audio, language)), "val_cka_raw": float(linear_cka(emb, text)),
                   "val_pairs": len(self.rows)}
            if mam:
                out["val_mam"] = sum(mam) / len(self.rows)
            return out
        finally:
            model.train(was_training)
