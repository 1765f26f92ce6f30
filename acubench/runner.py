"""``acubench run``: encoders × tasks → embeddings → probes × seeds → records → leaderboard.

The runner composes the services and owns the run directory. Everything it
writes is written atomically and last, so an interrupted run leaves no
half-written results; the embedding cache makes the re-run resume where the
first one stopped.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from acubench.cache import EmbeddingCache
from acubench.datasets import check_task_options, effective_protocol, load_manifest
from acubench.encoder import AudioEncoder
from acubench.errors import OptionError
from acubench.extract import Extraction, Precision, extract
from acubench.loading import RandomInit, load_encoder
from acubench.manifest import DatasetError, DatasetMissing, ManifestError, split_counts
from acubench.paths import cache_dir as default_cache_dir
from acubench.paths import atomic_write, check_writable_dir
from acubench.paths import data_root as default_data_root
from acubench.plugins import named_tasks, plugin_manager, registries, select_tasks
from acubench import stats
from acubench.predictions import clip_scores, concat, prediction_frame
from acubench.results import ResultRecord, RunResults, versions, write_run_results
from acubench.rundir import RunFolder, reserve_run_folder
from acubench.specs import TaskSpec

log = logging.getLogger(__name__)

ALIGNED_SUFFIX = "+acula"


@dataclass
class AlignOptions:
    """How ``--aligned`` post-trains an encoder before evaluation (see ``acubench align``)."""

    corpus: str = "demo"
    teacher: str | None = None
    preset: str = "demo"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """What a run produced."""

    out_dir: Path
    records: list[ResultRecord]
    skipped: dict[str, str]
    files: dict[str, Path]


@dataclass
class _Prepared:
    task: TaskSpec
    manifest: pd.DataFrame


def _manifest_hash(df: pd.DataFrame) -> str:
    cols = [c for c in ("clip_id", "path", "label", "subject", "split", "start", "end") if c in df.columns]
    blob = df[cols].to_csv(index=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _evaluate(X: np.ndarray, df: pd.DataFrame, task: TaskSpec, probe: str, seeds: Sequence[int]):
    from acubench.probe import evaluate_seeds

    return evaluate_seeds(X, df["label"].to_numpy(), df["split"].to_numpy(), df["subject"].to_numpy(),
                          seeds=list(seeds), kind=task.kind, n_classes=len(task.classes), protocol=task.protocol,
                          probe=probe, options=dict(task.probe_options))


class Runner:
    """One benchmark run. Use :func:`run` unless you need the pieces."""

    def __init__(
        self,
        *,
        tasks: str | Sequence[str] = "demo",
        probes: Sequence[str] = ("linear",),
        seeds: int = 5,
        data_root: str | Path | None = None,
        cache: str | Path | None = None,
        protocol: str = "default",
        device: str = "cpu",
        batch_size: int = 16,
        precision: Precision = "fp32",
        skip_bad_audio: bool = False,
        use_cache: bool = True,
        task_options: dict[str, str] | None = None,
        bootstrap: int = stats.RESAMPLES,
        console: Console | None = None,
    ) -> None:
        from acubench.probe import PROBES

        bad = [p for p in probes if p not in PROBES]
        if bad:
            raise OptionError(f"unknown probe(s) {bad}; choose from {list(PROBES)}")
        if seeds < 1:
            raise OptionError(f"--seeds must be >= 1, got {seeds}")
        if bootstrap < 0:
            raise OptionError(f"--bootstrap must be >= 0 (0 turns intervals off), got {bootstrap}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise OptionError(f"--batch-size must be a positive integer, got {batch_size}")
        select_tasks(tasks if isinstance(tasks, str) else ",".join(tasks))  # unknown names fail here, before any work
        self.bootstrap = bootstrap
        self.selection = tasks if isinstance(tasks, str) else ",".join(tasks)
        self.probes = list(probes)
        self.seeds = list(range(seeds))
        self.data_root = default_data_root(data_root)
        self.cache_root = default_cache_dir(cache)
        self.protocol = protocol
        self.task_options = dict(task_options or {})
        self.device = device
        self.batch_size = batch_size
        self.precision = precision
        self.skip_bad_audio = skip_bad_audio
        self.use_cache = use_cache
        self.console = console or Console(stderr=True)

    # -- tasks ------------------------------------------------------------------------------

    def prepare_tasks(self) -> tuple[list[_Prepared], dict[str, str]]:
        """Load every selected task whose data is present; the rest are skipped with a reason.

        A task whose dataset is absent is skipped. A task whose dataset is
        there but does not load (malformed metadata, missing files, a manifest
        that breaks its contract) is an error when the task was named
        explicitly; selected through ``all`` or a suite it is recorded in
        :attr:`failed` and reported loudly, and the run goes on.
        """
        tasks = select_tasks(self.selection)
        check_task_options(tasks, self.task_options, {d.id: d for d in registries().datasets})
        named = named_tasks(self.selection)
        prepared: list[_Prepared] = []
        skipped: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        for task in tasks:
            try:
                df = load_manifest(task, data_root=self.data_root, cache=self.cache_root, protocol=self.protocol,
                                   options=self.task_options)
            except DatasetMissing as exc:
                skipped[task.id] = str(exc)
                continue
            except (DatasetError, ManifestError) as exc:
                if task.id in named:
                    raise type(exc)(f"task {task.id} ({task.name}) does not load: {exc}") from None
                self.failed[task.id] = str(exc)
                continue
            prepared.append(_Prepared(task, df))
        if not prepared:
            reasons = {**skipped, **self.failed}
            detail = "; ".join(f"{k}: {v}" for k, v in list(reasons.items())[:3])
            raise DatasetError(
                f"none of the selected tasks has its data under {self.data_root} ({detail}). "
                f"See `acubench data status`, or run the built-in demo with --tasks demo."
            )
        return prepared, skipped

    # -- one encoder on all tasks ----------------------------------------------------------------

    def embed_task(self, encoder: AudioEncoder, prep: _Prepared, label: str) -> Extraction:
        task, df = prep.task, prep.manifest
        policy = task.clip_policy(encoder.spec)
        cache = EmbeddingCache(self.cache_root, encoder.fingerprint(), enabled=self.use_cache)
        cache.write_info({"encoder": encoder.spec.id, "config": encoder.config, "weights": encoder.weights_info.label(),
                          "source": encoder.weights_info.source})
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=self.console, transient=True) as bar:
            job = bar.add_task(f"{escape(label)} · {task.id} embeddings", total=len(df))
            ext = extract(encoder, df, policy, cache=cache, batch_size=self.batch_size,
                          skip_bad_audio=self.skip_bad_audio, precision=self.precision,
                          on_clip=lambda k: bar.advance(job, k))
        note = "no encoder forward" if ext.computed == 0 and not ext.bad else f"{ext.windows} windows forwarded"
        self.console.print(
            f"  {escape(label)} · {task.id} ({task.name}): {len(df)} clips — {ext.cached} from cache, "
            f"{ext.computed} computed ({note}) in {ext.seconds:.1f} s"
            + (f", [yellow]{len(ext.bad)} bad recordings skipped[/]" if ext.bad else "")
        )
        for clip_id, message in ext.bad[:5]:
            self.console.print(f"    [yellow]skipped[/] {clip_id}: {message}")
        return ext

    def score(self, encoder: AudioEncoder, label: str, aligned: bool, prep: _Prepared, ext: Extraction,
              run_id: str) -> tuple[list[ResultRecord], pd.DataFrame]:
        """Probe fits × seeds on one task: their records (each with its bootstrap interval), per-clip predictions."""
        task, df = prep.task, prep.manifest
        keep = ext.ok
        X, sub = ext.embeddings[keep], df[keep].reset_index(drop=True)
        counts = split_counts(sub)
        records, frames = [], []
        seen = task.dataset in encoder.spec.pretrained_on
        random_init = encoder.weights_info.is_random or bool(getattr(encoder, "base_random_init", False))
        for probe in self.probes:
            intervals: dict[int, stats.Interval] = {}  # a deterministic head shares one outcome across seeds
            for seed, outcome in zip(self.seeds, _evaluate(X, sub, task, probe, self.seeds)):
                frame = _prediction_frame(sub, outcome, task, label, probe, seed)
                frames.append(frame)
                if id(outcome) not in intervals:
                    scores = clip_scores(frame, kind=task.kind, classes=task.classes, split_scheme=task.protocol)
                    intervals[id(outcome)] = stats.bootstrap(scores, resamples=self.bootstrap)
                interval = intervals[id(outcome)]
                records.append(ResultRecord(
                    encoder=label, encoder_id=encoder.spec.id, encoder_fingerprint=encoder.fingerprint(),
                    weights=encoder.weights_info.label(), random_init=random_init, aligned=aligned,
                    task=task.id, task_name=task.name, task_version=task.version, kind=task.kind,
                    metric=task.metric, higher_is_better=task.higher_is_better,
                    protocol=effective_protocol(task, self.protocol),
                    probe=probe, seed=seed, value=float(outcome.value), metrics=dict(outcome.metrics),
                    fold_values=[float(v) for v in outcome.fold_values],
                    n_train=int(outcome.n_train or counts.get("train", 0)), n_val=int(outcome.n_val or counts.get("val", 0)),
                    n_test=int(outcome.n_test or counts.get("test", 0)), n_bad_audio=len(ext.bad),
                    hyperparams=dict(outcome.hyperparams), seen_in_pretraining=seen, dataset=task.dataset,
                    split_scheme=task.protocol, published_as=task.published_as, classes=list(task.classes),
                    ci95=list(interval.ci) if interval.ci else None, bootstrap=dict(interval.info), run_id=run_id,
                ))
        return records, concat(frames)


def _prediction_frame(sub: pd.DataFrame, outcome, task: TaskSpec, label: str, probe: str, seed: int) -> pd.DataFrame:
    """The predictions.parquet rows of one fit (``sub``: the manifest rows the probe saw, in order)."""
    pred = outcome.predictions
    rows = sub.iloc[pred.index]
    return prediction_frame(encoder=label, task=task.id, probe=probe, seed=seed,
                            clip_id=rows["clip_id"].astype(str).tolist(), subject=rows["subject"].astype(str).tolist(),
                            label=rows["label"].to_numpy(), score=pred.score,
                            fold=None if pred.fold is None else pred.fold.tolist(), classes=task.classes)


def _encoder_entry(encoder: AudioEncoder, label: str, aligned: bool) -> dict[str, Any]:
    return {"label": label, "id": encoder.spec.id, "fingerprint": encoder.fingerprint(), "config": encoder.config,
            "weights": encoder.weights_info.label(), "weights_source": encoder.weights_info.source,
            "weights_sha256": encoder.weights_info.sha256, "aligned": aligned,
            "sample_rate": encoder.sample_rate, "embed_dim": encoder.embed_dim}


def run(
    encoders: str | Sequence[str] = "opera",
    *,
    tasks: str | Sequence[str] = "demo",
    probes: Sequence[str] = ("linear",),
    seeds: int = 5,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    data_root: str | Path | None = None,
    cache: str | Path | None = None,
    protocol: str = "default",
    task_options: dict[str, str] | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    precision: Precision = "fp32",
    weights: str | None = None,
    config: str = "default",
    random_init: RandomInit | None = None,
    strict: bool = True,
    trust_checkpoint: bool = False,
    skip_bad_audio: bool = False,
    aligned: bool = False,
    align: AlignOptions | None = None,
    use_cache: bool = True,
    reference_rows: bool = False,
    bootstrap: int = stats.RESAMPLES,
    overwrite: bool = False,
    console: Console | None = None,
) -> RunResult:
    """Benchmark encoders on tasks and write a run directory.

    Parameters
    ----------
    encoders : str or sequence of str
        Encoder ids/aliases (comma-separated string allowed): ``"logmel,opera"``.
    tasks : str
        ``"demo"``, ``"all"``, a suite, or ``"T05,T09"``.
    task_options : dict, optional
        Loader options passed to every task (``--task-arg KEY=VALUE``), recorded in ``config.json``.
    probes : sequence of str
        Probe heads (``linear``, ``mlp``, ``lightgbm``, ``reference-linear``).
    seeds : int
        Seeds 0…N−1 per probe.
    out : path, optional
        Run directory; default a new time-stamped folder under ``runs_dir``.
        The folder is claimed before any compute (see :mod:`acubench.rundir`).
    overwrite : bool
        Let ``out`` replace a finished run (only once the new outputs are complete).
    random_init : {"never", "fallback", "always"}, optional
        Default: ``"fallback"`` when every selected task is a demo task (the
        embedded default runs without downloads), else ``"never"``.
    aligned : bool
        Also evaluate each encoder after AcuLa post-training (``encoder+acula`` rows).
    bootstrap : int
        Resamples of the subject bootstrap behind every record's ``ci95`` (0: no intervals).

    Returns
    -------
    RunResult
    """
    names = [e.strip() for e in (encoders.split(",") if isinstance(encoders, str) else encoders) if e.strip()]
    if not names:
        raise ValueError("no encoder given")
    console = console or Console(stderr=True)
    runner = Runner(tasks=tasks, probes=probes, seeds=seeds, data_root=data_root, cache=cache, protocol=protocol,
                    task_options=task_options, device=device, batch_size=batch_size, precision=precision, skip_bad_audio=skip_bad_audio,
                    use_cache=use_cache, bootstrap=bootstrap, console=console)
    _check_encoders(names, config=config, random_init=random_init)
    if use_cache:
        check_writable_dir(runner.cache_root, what="embedding cache",
                           fix="point $ACUBENCH_CACHE at a writable folder, or pass --no-cache")
    folder = reserve_run_folder(out=out, runs_dir=runs_dir, encoders=names, overwrite=overwrite)
    with folder:  # released (with anything staged) if the run fails or is interrupted
        result = _run_in(folder, runner, names, console, weights=weights, config=config, random_init=random_init,
                         device=device, strict=strict, trust_checkpoint=trust_checkpoint, aligned=aligned,
                         align=align, protocol=protocol, batch_size=batch_size, precision=precision,
                         reference_rows=reference_rows)
    plugin_manager().hook.acubench_run_finished(run_dir=result.out_dir, records=[r.to_dict() for r in result.records])
    return result


def _check_encoders(names: Sequence[str], *, config: str, random_init: RandomInit | None) -> None:
    """Refuse, before any folder is claimed or any model built, names and configs that cannot work."""
    for name in names:
        spec = _spec(name.partition(":")[0])
        if isinstance(config, str) and config not in spec.configs:
            raise OptionError(f"encoder {spec.id}: unknown config {config!r}; choose from {list(spec.configs)}")
        if random_init == "always" and not spec.random_init:
            raise OptionError(f"encoder {name}: --random-init does not apply: it loads its own weights; "
                              f"drop --random-init")


def _run_in(folder: RunFolder, runner: Runner, names: list[str], console: Console, *, weights: str | None,
            config: str, random_init: RandomInit | None, device: str, strict: bool, trust_checkpoint: bool,
            aligned: bool, align: AlignOptions | None, protocol: str, batch_size: int, precision: Precision,
            reference_rows: bool) -> RunResult:
    """The run itself, writing into the claimed ``folder`` at the end."""
    prepared, skipped = runner.prepare_tasks()
    all_demo = all("demo" in p.task.suites for p in prepared)
    init: RandomInit = random_init or ("fallback" if all_demo else "never")
    out_dir = folder.path
    run_id = folder.run_id
    console.print(f"[bold]acubench run[/] → {out_dir}  ({len(prepared)} task(s), probes {', '.join(runner.probes)}, "
                  f"seeds {len(runner.seeds)})")
    for tid, why in skipped.items():
        console.print(f"  [yellow]skipped {tid}[/]: {why}")
    for tid, why in runner.failed.items():
        console.print(f"  [bold red]FAILED {tid}: its dataset is there but does not load[/] ({escape(why)}); "
                      f"it is left out of this run and recorded in config.json")

    records: list[ResultRecord] = []
    predictions: list[pd.DataFrame] = []
    entries: list[dict[str, Any]] = []
    for name in names:
        base = load_encoder(name, weights=weights, config=config, random_init=init, device=device,
                            strict=strict, trust_checkpoint=trust_checkpoint)
        # A non-default config (``--config tiny``) is part of the row's name, so it cannot pass for the real model.
        preset = base.config.get("name", "default") if isinstance(base.config, dict) else "default"
        label = base.name if preset == "default" else f"{base.name}[{preset}]"
        variants: list[tuple[AudioEncoder, str, bool]] = [(base, label, False)]
        if aligned:
            variants.append((_aligned_variant(base, name, weights, init, align or AlignOptions(), device, runner, console),
                             label + ALIGNED_SUFFIX, True))
        for encoder, label, is_aligned in variants:
            status = encoder.weights_info.label()
            console.print(f"[bold]{escape(label)}[/] ({status}, fingerprint {encoder.fingerprint()})")
            entries.append(_encoder_entry(encoder, label, is_aligned))
            for prep in prepared:
                ext = runner.embed_task(encoder, prep, label)
                scored, clips = runner.score(encoder, label, is_aligned, prep, ext, run_id)
                records.extend(scored)
                predictions.append(clips)
            if encoder is not base:
                del encoder

    config_payload = {
        "acubench_run": 1,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "argv": sys.argv,
        "versions": versions(),
        "encoders": entries,
        "tasks": [{"id": p.task.id, "name": p.task.name, "version": p.task.version, "dataset": p.task.dataset,
                   "protocol": effective_protocol(p.task, protocol),
                   "split_protocol": p.task.protocol, "manifest_sha256": _manifest_hash(p.manifest),
                   "counts": split_counts(p.manifest),
                   "clip_policies": {e["id"]: p.task.clip_policy(_spec(e["id"])).describe() for e in entries}}
                  for p in prepared],
        "task_options": runner.task_options,
        "skipped_tasks": skipped,
        "failed_tasks": runner.failed,
        "probes": runner.probes,
        "seeds": runner.seeds,
        "bootstrap": {"resamples": runner.bootstrap, "seed": 0, "unit": "subject"},
        "data_root": str(runner.data_root),
        "cache": str(runner.cache_root),
        "device": device,
        "batch_size": batch_size,
        "precision": precision,
        "random_init": init,
        "aligned": aligned,
        "align": vars(align) if (aligned and align) else ({"corpus": "demo", "preset": "demo"} if aligned else None),
    }
    files = _write_outputs(folder, RunResults(run_id, records, concat(predictions)), config_payload, reference_rows,
                           console)
    return RunResult(out_dir, records, skipped, files)


def _spec(encoder_id: str):
    from acubench.plugins import get_encoder

    return get_encoder(encoder_id)


def _aligned_variant(base: AudioEncoder, name: str, weights: str | None, init: RandomInit, opts: AlignOptions,
                     device: str, runner: Runner, console: Console) -> AudioEncoder:
    from acubench.align.api import ensure_aligned, load_aligned_encoder

    ckpt = ensure_aligned(name, weights=weights, random_init=init, corpus=opts.corpus, teacher=opts.teacher,
                          preset=opts.preset, overrides=opts.overrides, device=device, seed=0,
                          cache_dir=runner.cache_root, console=console, config=dict(base.config))
    encoder = load_aligned_encoder(ckpt.path, device=device)
    encoder.base_random_init = base.weights_info.is_random
    return encoder


def _write_outputs(folder: RunFolder, run: RunResults, config_payload: dict, reference_rows: bool,
                   console: Console) -> dict[str, Path]:
    """Every output rendered into the staging folder, then moved into the run folder in one step."""
    from acubench.leaderboard.aggregate import board_from_runs
    from acubench.leaderboard.render import rich_table, write_leaderboard

    stage = folder.staging()
    files: dict[str, Path] = {}
    atomic_write(stage / "config.json", json.dumps(config_payload, indent=2, sort_keys=True, default=str))
    files["config"] = stage / "config.json"
    files.update(write_run_results(stage, run.records, run.predictions))
    board = board_from_runs([run], reference=reference_rows)
    files.update(write_leaderboard(board, stage))
    folder.commit()
    files = {k: folder.path / p.name for k, p in files.items()}
    console.print(rich_table(board))
    console.print(f"wrote {', '.join(str(p) for p in files.values())}")
    return files
