"""The run service: an encoder on the selected tasks → embeddings → probes × seeds → result records.

It returns records and per-clip predictions, reports through a
:class:`~acubench.reporting.Reporter`, and writes nothing but the embedding
cache (which makes an interrupted run resume where it stopped). Composing a
run (loading encoders, AcuLa variants, the run folder, the leaderboard) is
:mod:`acubench.api`'s job.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acubench.datasets import check_task_options, effective_protocol, load_manifest
from acubench.encoder import AudioEncoder
from acubench.engine.cache import EmbeddingCache
from acubench.engine.distributed import Ranks
from acubench.engine.extract import Extraction, extract_shared
from acubench.errors import OptionError
from acubench.loading import EncoderOptions
from acubench.manifest import DatasetError, DatasetMissing, ManifestError, split_counts
from acubench.paths import cache_dir as default_cache_dir
from acubench.paths import data_root as default_data_root
from acubench.plugins import get_encoder, get_probe, named_tasks, registries, select_tasks
from acubench.probe_base import JointSpace, ProbeContext
from acubench.records import stats
from acubench.records.predictions import clip_scores, concat, prediction_frame
from acubench.records.results import ResultRecord
from acubench.reporting import LogReporter, Reporter
from acubench.specs import TaskSpec

log = logging.getLogger(__name__)

@dataclass
class PreparedTask:
    """A selected task and its validated manifest."""

    task: TaskSpec
    manifest: pd.DataFrame


def _manifest_hash(df: pd.DataFrame) -> str:
    cols = [c for c in ("clip_id", "path", "label", "subject", "split", "start", "end") if c in df.columns]
    blob = df[cols].to_csv(index=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _evaluate(X: np.ndarray, df: pd.DataFrame, task: TaskSpec, probe: str, seeds: Sequence[int],
              encoder: AudioEncoder, space: JointSpace | None):
    from acubench.engine.probe import evaluate_seeds

    return evaluate_seeds(X, df["label"].to_numpy(), df["split"].to_numpy(), df["subject"].to_numpy(),
                          seeds=list(seeds), kind=task.kind, n_classes=len(task.classes), protocol=task.protocol,
                          probe=probe, options=dict(task.probe_options), context=ProbeContext(task, encoder, space))


def _unscored(tasks: Sequence[TaskSpec], probes: Sequence[str], named: set[str]) -> dict[str, list[str]]:
    """Task id → the probes that do not handle its kind, for tasks selected through ``all`` or a suite.

    Raises
    ------
    OptionError
        A task named one by one that a probe of the run does not handle.
    """
    out: dict[str, list[str]] = {}
    for task in tasks:
        for spec in map(get_probe, probes):
            if task.kind in spec.kinds:
                continue
            if task.id in named:
                raise OptionError(f"probe {spec.id} does not handle {task.kind} tasks ({task.id} is one; it handles "
                                  f"{', '.join(spec.kinds)}): drop {spec.id} from --probe, or leave out {task.id}")
            out.setdefault(task.id, []).append(spec.id)
    return out


class Runner:
    """One benchmark run's services: load the tasks, embed and score encoders on them.

    Parameters
    ----------
    tasks : str or sequence of str
        ``"demo"``, ``"all"``, a suite, or task ids/names.
    probes : sequence of str
        Probe heads (``linear``, ``mlp``, ``lightgbm``, ``reference-linear``).
    seeds : int
        Seeds 0…N−1 per probe.
    encoder_options : EncoderOptions
        Batch size and precision of extraction (the encoders come built).
    bootstrap : int
        Resamples of the subject bootstrap behind every record's ``ci95`` (0: no intervals).
    reporter : Reporter, optional
        Where progress goes; default :class:`~acubench.reporting.LogReporter`.
    ranks : Ranks, optional
        This process's place under torchrun (:mod:`acubench.engine.distributed`); default a single process.
    """

    def __init__(
        self,
        *,
        tasks: str | Sequence[str] = "demo",
        probes: Sequence[str] = ("linear",),
        seeds: int = 5,
        data_root: str | Path | None = None,
        cache: str | Path | None = None,
        protocol: str = "default",
        task_options: dict[str, str] | None = None,
        encoder_options: EncoderOptions | None = None,
        skip_bad_audio: bool = False,
        use_cache: bool = True,
        bootstrap: int = stats.RESAMPLES,
        reporter: Reporter | None = None,
        ranks: Ranks | None = None,
    ) -> None:
        if seeds < 1:
            raise OptionError(f"--seeds must be >= 1, got {seeds}")
        if bootstrap < 0:
            raise OptionError(f"--bootstrap must be >= 0 (0 turns intervals off), got {bootstrap}")
        self.selection = tasks if isinstance(tasks, str) else ",".join(tasks)
        selected = select_tasks(self.selection)  # unknown names fail here, before any work
        self.bootstrap = bootstrap
        self.ranks = ranks or Ranks()
        # An unknown id fails here, naming the registered ones and close matches; aliases become ids.
        self.probes = list(dict.fromkeys(get_probe(p).id for p in probes))
        #: Task id → probes of this run that do not handle its kind (tasks of a suite or ``all``; see
        #: :func:`_unscored`).
        self.unscored = _unscored(selected, self.probes, named_tasks(self.selection))
        self.seeds = list(range(seeds))
        self.data_root = default_data_root(data_root)
        self.cache_root = default_cache_dir(cache)
        self.protocol = protocol
        self.task_options = dict(task_options or {})
        self.options = encoder_options or EncoderOptions()
        self.skip_bad_audio = skip_bad_audio
        self.use_cache = use_cache
        self.reporter = reporter or LogReporter()
        #: Selected tasks whose dataset is there but does not load (id → why); see :meth:`prepare_tasks`.
        self.failed: dict[str, str] = {}

    # -- tasks ------------------------------------------------------------------------------

    def prepare_tasks(self) -> tuple[list[PreparedTask], dict[str, str]]:
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
        prepared: list[PreparedTask] = []
        skipped: dict[str, str] = {}
        self.failed = {}
        for task in tasks:
            if len(self.unscored.get(task.id, ())) == len(self.probes):
                skipped[task.id] = f"no probe of this run handles {task.kind} tasks ({', '.join(self.probes)})"
                continue
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
                self.reporter.note(f"  FAILED {task.id}: its dataset is there but does not load ({exc}); it is left "
                                   f"out of this run and recorded in config.json", level="error")
                continue
            prepared.append(PreparedTask(task, df))
        if not prepared:
            detail = "; ".join(f"{k}: {v}" for k, v in list({**skipped, **self.failed}.items())[:3])
            raise DatasetError(
                f"none of the selected tasks has its data under {self.data_root} ({detail}). "
                f"See `acubench data status`, or run the built-in demo with --tasks demo."
            )
        return prepared, skipped

    # -- one encoder on all tasks ----------------------------------------------------------------

    def embed_task(self, encoder: AudioEncoder, prep: PreparedTask, label: str) -> Extraction | None:
        """Embeddings of every clip of one task (from the cache where present).

        Under torchrun each rank embeds its share; rank 0 gets them all, the others ``None``.
        """
        task, df = prep.task, prep.manifest
        policy = task.clip_policy(encoder.spec)
        cache = EmbeddingCache(self.cache_root, encoder.fingerprint(), task=task.id, precision=self.options.precision,
                               enabled=self.use_cache)
        cache.write_info({"encoder": encoder.spec.id, "config": encoder.config, "weights": encoder.weights_info.label(),
                          "source": encoder.weights_info.source})
        with self.reporter.progress(f"{label} · {task.id} embeddings", len(df)) as advance:
            ext = extract_shared(encoder, df, policy, ranks=self.ranks, cache=cache, what=f"{task.id} embeddings",
                                 batch_size=self.options.batch_size, skip_bad_audio=self.skip_bad_audio,
                                 precision=self.options.precision, on_clip=advance)
        if ext is None:
            return None
        note = "no encoder forward" if ext.computed == 0 and not ext.bad else f"{ext.windows} windows forwarded"
        self.reporter.note(
            f"  {label} · {task.id} ({task.name}): {len(df)} clips — {ext.cached} from cache, "
            f"{ext.computed} computed ({note}) in {ext.seconds:.1f} s"
            + (f", {len(ext.bad)} bad recordings skipped" if ext.bad else ""), level="warning" if ext.bad else "info")
        for clip_id, message in ext.bad[:5]:
            self.reporter.note(f"    skipped {clip_id}: {message}", level="warning")
        return ext

    def probes_for(self, task: TaskSpec, space: JointSpace | None) -> list[str]:
        """The probes of this run that score ``task`` for an encoder with (or without) a joint space."""
        return [p for p in self.probes if p not in self.unscored.get(task.id, ())
                and (space is not None or not get_probe(p).aligned_only)]

    def score(self, encoder: AudioEncoder, label: str, aligned: bool, prep: PreparedTask, ext: Extraction,
              run_id: str, space: JointSpace | None = None) -> tuple[list[ResultRecord], pd.DataFrame]:
        """Probe fits × seeds on one task: their records (each with its bootstrap interval), per-clip predictions.

        ``space``: the encoder's joint audio–text space if it is aligned (for scorers such as ``zeroshot``);
        probes that need one are left out without it (see :meth:`probes_for`).
        """
        task, df = prep.task, prep.manifest
        keep = ext.ok
        X, sub = ext.embeddings[keep], df[keep].reset_index(drop=True)
        counts = split_counts(sub)
        records, frames = [], []
        seen = task.dataset in encoder.spec.pretrained_on
        random_init = encoder.weights_info.from_random_init
        for probe in self.probes_for(task, space):
            # A deterministic head shares one outcome across seeds: its rows and interval are made once.
            shared: dict[int, tuple[pd.DataFrame, stats.Interval]] = {}
            outcomes = _evaluate(X, sub, task, probe, self.seeds, encoder, space)
            for seed, outcome in zip(self.seeds, outcomes, strict=True):
                if id(outcome) in shared:
                    frame, interval = shared[id(outcome)]
                    frame = frame.assign(seed=seed)
                else:
                    frame = _prediction_frame(sub, outcome, task, label, probe, seed)
                    scores = clip_scores(frame, kind=task.kind, classes=task.classes, split_scheme=task.protocol)
                    interval = stats.bootstrap(scores, resamples=self.bootstrap)
                    shared[id(outcome)] = (frame, interval)
                frames.append(frame)
                records.append(ResultRecord(
                    encoder=label, encoder_id=encoder.spec.id, encoder_fingerprint=encoder.fingerprint(),
                    weights=encoder.weights_info.label(), random_init=random_init, aligned=aligned,
                    task=task.id, task_name=task.name, task_version=task.version, kind=task.kind,
                    metric=task.metric, higher_is_better=task.higher_is_better,
                    protocol=effective_protocol(task, self.protocol),
                    probe=probe, seed=seed, value=float(outcome.value), metrics=dict(outcome.metrics),
                    fold_values=[float(v) for v in outcome.fold_values],
                    n_train=int(outcome.n_train or counts.get("train", 0)),
                    n_val=int(outcome.n_val or counts.get("val", 0)),
                    n_test=int(outcome.n_test or counts.get("test", 0)), n_bad_audio=len(ext.bad),
                    hyperparams=dict(outcome.hyperparams), seen_in_pretraining=seen, dataset=task.dataset,
                    split_scheme=task.protocol, published_as=task.published_as, classes=list(task.classes),
                    ci95=list(interval.ci) if interval.ci else None, bootstrap=dict(interval.info), run_id=run_id,
                ))
        return records, concat(frames)

    def evaluate(self, encoder: AudioEncoder, label: str, aligned: bool, prepared: Sequence[PreparedTask],
                 run_id: str, space: JointSpace | None = None) -> tuple[list[ResultRecord], pd.DataFrame]:
        """One encoder on every prepared task: its records and its per-clip test predictions.

        ``space``: the encoder's joint audio–text space when it is aligned (see :meth:`score`).
        """
        self.reporter.note(f"{label} ({encoder.weights_info.label()}, fingerprint {encoder.fingerprint()})",
                           level="heading")
        records: list[ResultRecord] = []
        frames: list[pd.DataFrame] = []
        for prep in prepared:
            ext = self.embed_task(encoder, prep, label)
            if ext is None:  # another rank fits the probes
                continue
            scored, clips = self.score(encoder, label, aligned, prep, ext, run_id, space)
            records.extend(scored)
            frames.append(clips)
        return records, concat(frames)

    def task_entries(self, prepared: Sequence[PreparedTask], encoder_ids: Sequence[str]) -> list[dict[str, Any]]:
        """What ``config.json`` records about each task: protocol, manifest digest, counts, input policies."""
        return [{"id": p.task.id, "name": p.task.name, "version": p.task.version, "dataset": p.task.dataset,
                 "protocol": effective_protocol(p.task, self.protocol),
                 "split_protocol": p.task.protocol, "manifest_sha256": _manifest_hash(p.manifest),
                 "counts": split_counts(p.manifest),
                 "clip_policies": {e: p.task.clip_policy(get_encoder(e)).describe() for e in encoder_ids}}
                for p in prepared]


def _prediction_frame(sub: pd.DataFrame, outcome, task: TaskSpec, label: str, probe: str, seed: int) -> pd.DataFrame:
    """The predictions.parquet rows of one fit (``sub``: the manifest rows the probe saw, in order)."""
    pred = outcome.predictions
    rows = sub.iloc[pred.index]
    return prediction_frame(encoder=label, task=task.id, probe=probe, seed=seed,
                            clip_id=rows["clip_id"].astype(str).tolist(), subject=rows["subject"].astype(str).tolist(),
                            label=rows["label"].to_numpy(), score=pred.score,
                            fold=None if pred.fold is None else pred.fold.tolist(), classes=task.classes)


def encoder_label(encoder: AudioEncoder) -> str:
    """The row name of an encoder: its id, with a non-default config in brackets (``opera-gt[tiny]``),
    so that a toy config cannot pass for the real model."""
    preset = encoder.config.get("name", "default")
    return encoder.name if preset == "default" else f"{encoder.name}[{preset}]"


def encoder_entry(encoder: AudioEncoder, label: str, aligned: bool) -> dict[str, Any]:
    """What ``config.json`` records about one evaluated encoder."""
    return {"label": label, "id": encoder.spec.id, "fingerprint": encoder.fingerprint(), "config": encoder.config,
            "weights": encoder.weights_info.label(), "weights_source": encoder.weights_info.source,
            "weights_sha256": encoder.weights_info.sha256, "aligned": aligned,
            "sample_rate": encoder.sample_rate, "embed_dim": encoder.embed_dim}
