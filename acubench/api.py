"""The Python API: ``run``, ``embed``, ``align`` and ``zeroshot``, composed from the services.

This is the top layer (with the command line, which calls these functions):
the only place that joins AcuLa post-training, benchmark runs and the
leaderboard. The services below it return data and report through a
:class:`~acubench.reporting.Reporter`; here the default reporter only logs,
so the API is quiet in notebooks and scripts, while the CLI passes a rich one.

    import acubench
    result = acubench.run("opera", tasks="demo")
    result.board                       # the leaderboard, also written to result.out_dir
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acubench.align.options import AlignOptions
from acubench.encoder import AudioEncoder
from acubench.engine import distributed
from acubench.engine.embedding import EmbedResult, embed_files
from acubench.engine.rundir import RunFolder, reserve_run_folder
from acubench.engine.runner import PreparedTask, Runner, encoder_entry, encoder_label
from acubench.errors import OptionError
from acubench.loading import EncoderOptions, RandomInit
from acubench.paths import atomic_write, check_writable_dir
from acubench.paths import cache_dir as default_cache_dir
from acubench.plugins import get_probe, plugin_manager, registries
from acubench.records import stats
from acubench.records.predictions import concat
from acubench.records.results import ResultRecord, RunResults, versions, write_run_results
from acubench.reporting import LogReporter, Reporter
from acubench.specs import ClipPolicy

if TYPE_CHECKING:
    from acubench.align.api import AlignedCheckpoint
    from acubench.leaderboard.aggregate import Leaderboard

@dataclass
class RunResult:
    """What a run produced.

    Attributes
    ----------
    out_dir : Path or None
        The run folder (None on torchrun ranks other than 0, which write nothing).
    records : list of ResultRecord
        One per encoder × task × probe × seed.
    skipped : dict of str to str
        Task id → why it was not run (its data is absent).
    files : dict of str to Path
        What was written (config, results, predictions, leaderboard files).
    board : Leaderboard or None
        The leaderboard the files were rendered from (with reference rows when asked for);
        ``None`` on torchrun ranks other than 0, which embed their share and write nothing.
    """

    out_dir: Path | None
    records: list[ResultRecord]
    skipped: dict[str, str]
    files: dict[str, Path]
    board: Leaderboard | None


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
    encoder_options: EncoderOptions | None = None,
    skip_bad_audio: bool = False,
    aligned: bool = False,
    align_options: AlignOptions | Sequence[AlignOptions] | None = None,
    use_cache: bool = True,
    reference_rows: bool = False,
    bootstrap: int = stats.RESAMPLES,
    overwrite: bool = False,
    reporter: Reporter | None = None,
) -> RunResult:
    """Benchmark encoders on tasks and write a run folder (config, results, predictions, leaderboard).

    Parameters
    ----------
    encoders : str or sequence of str
        Encoder ids/aliases (comma-separated string allowed): ``"logmel,opera"``.
    tasks : str
        ``"demo"``, ``"all"``, a suite, or ``"T05,T09"``.
    probes : sequence of str
        Probe heads (``linear``, ``mlp``, ``lightgbm``, ``reference-linear``).
    seeds : int
        Seeds 0…N−1 per probe.
    out : path, optional
        Run folder; default a new time-stamped folder under ``runs_dir``. The
        folder is claimed before any compute and its files appear together at
        the end (see :mod:`acubench.engine.rundir`).
    task_options : dict, optional
        Loader options passed to every task (``--task-arg KEY=VALUE``), recorded in ``config.json``.
    encoder_options : EncoderOptions, optional
        Weights, config, device, precision, batch size… of every encoder. Its
        ``random_init`` defaults to ``"fallback"`` when every selected task reads
        generated data (the demo: the embedded default runs without downloads),
        else ``"never"``.
    aligned : bool
        Also evaluate each encoder after AcuLa post-training (``encoder+acula[…]`` rows, labelled with
        the corpus, preset, teacher and settings; their ``alignment.json`` is copied into the run folder).
    align_options : AlignOptions or sequence of AlignOptions, optional
        How to align, or which checkpoint to evaluate (:class:`acubench.align.options.AlignOptions`);
        several give one aligned row each, all compared with the same base row (``acubench sweep``).
    reference_rows : bool
        Add the published numbers of the tasks' reference tables to the leaderboard.
    bootstrap : int
        Resamples of the subject bootstrap behind every record's ``ci95`` (0: no intervals).
    overwrite : bool
        Let ``out`` replace a finished run (its files go only once the new ones are complete).
    reporter : Reporter, optional
        Where progress goes; default :class:`~acubench.reporting.LogReporter` (logging only).

    Raises
    ------
    AcubenchError
        Every bad option, location or input, before any compute where it can be known then.
    """
    names = [e.strip() for e in (encoders.split(",") if isinstance(encoders, str) else encoders) if e.strip()]
    if not names:
        raise OptionError("no encoder given")
    options = (encoder_options or EncoderOptions()).resolved()
    ranks, device = distributed.init(options.device)
    options = replace(options, device=device)
    reporter = reporter if reporter is not None and ranks.main else LogReporter()
    runner = Runner(tasks=tasks, probes=probes, seeds=seeds, data_root=data_root, cache=cache, protocol=protocol,
                    task_options=task_options, encoder_options=options, skip_bad_audio=skip_bad_audio,
                    use_cache=use_cache, bootstrap=bootstrap, reporter=reporter, ranks=ranks)
    _check_aligned_only(runner.probes, aligned)
    for name in names:
        options.check(name)
    if use_cache:
        check_writable_dir(runner.cache_root, what="embedding cache",
                           fix="point $ACUBENCH_CACHE at a writable folder, or pass --no-cache")
    if not ranks.main:  # under torchrun, rank 0 alone claims and writes the run folder
        return _run_in(None, runner, names, options, aligned, align_options, reference_rows, reporter, ranks)
    folder = reserve_run_folder(out=out, runs_dir=runs_dir, encoders=names, overwrite=overwrite)
    with folder:  # released, with anything staged, if the run fails or is interrupted
        result = _run_in(folder, runner, names, options, aligned, align_options, reference_rows, reporter, ranks)
    plugin_manager().hook.acubench_run_finished(run_dir=result.out_dir, records=[r.to_dict() for r in result.records])
    return result


def _run_in(folder: RunFolder | None, runner: Runner, names: list[str], options: EncoderOptions, aligned: bool,
            align_options: AlignOptions | Sequence[AlignOptions] | None, reference_rows: bool,
            reporter: Reporter, ranks: distributed.Ranks) -> RunResult:
    """The run itself, in the claimed ``folder`` (``None`` on torchrun ranks other than 0, which write
    nothing): its outputs are staged, then moved in at once."""
    from acubench.leaderboard.aggregate import board_from_runs
    from acubench.leaderboard.render import write_leaderboard

    prepared, skipped = runner.prepare_tasks()
    datasets = registries().datasets.items
    builtin = all(p.task.dataset in datasets and datasets[p.task.dataset].generated for p in prepared)
    init: RandomInit = options.random_init or ("fallback" if builtin else "never")
    out_dir, run_id = (folder.path, folder.run_id) if folder is not None else (None, "")
    reporter.note(f"acubench run → {out_dir}  ({len(prepared)} task(s), probes {', '.join(runner.probes)}, "
                  f"seeds {len(runner.seeds)}; {options.device}, {options.precision})", level="heading")
    for tid, why in skipped.items():
        reporter.note(f"  skipped {tid}: {why}", level="warning")
    kinds = {p.task.id: p.task.kind for p in prepared}
    for tid, probes in runner.unscored.items():
        if tid in kinds:
            reporter.note(f"  {tid}: not scored by {', '.join(probes)}, which handle{'s' if len(probes) == 1 else ''} "
                          f"no {kinds[tid]} tasks")
    needs_space = any(get_probe(p).aligned_only for p in runner.probes)

    records: list[ResultRecord] = []
    predictions = []
    entries: list[dict[str, Any]] = []
    alignments: list[tuple[AlignOptions, Any]] = []
    for name in names:
        base = options.load(name, random_init=init)
        label = encoder_label(base)
        # The base row first, then each aligned variant, aligned only when its turn comes (one in memory at a time).
        for plan in [None, *(_align_plans(align_options) if aligned else [])]:
            encoder, row_label, is_aligned, space = base, label, False, None
            if plan is not None:
                variant = _aligned_variant(base, label, plan, builtin, options, runner, reporter)
                alignments.append((plan, variant))
                encoder, row_label, is_aligned = variant.encoder, variant.label, True
                if needs_space:
                    space = _joint_space(variant.checkpoint, variant.encoder, runner, options, reporter)
            entries.append(encoder_entry(encoder, row_label, is_aligned))
            scored, clips = runner.evaluate(encoder, row_label, is_aligned, prepared, run_id, space)
            records.extend(scored)
            predictions.append(clips)

    if not ranks.main:  # rank 0 writes the run folder
        distributed.finish(ranks)
        return RunResult(out_dir, [], skipped, {}, None)
    config = _run_config(runner, prepared, skipped, entries, options, init, aligned, alignments)
    config["world_size"] = ranks.world
    results = RunResults(run_id, records, concat(predictions))
    board = board_from_runs([results], reference=reference_rows)
    stage = folder.staging()
    atomic_write(stage / "config.json", json.dumps(config, indent=2, sort_keys=True, default=str))
    staged = {"config": stage / "config.json", **write_run_results(stage, results.records, results.predictions)}
    staged.update(write_leaderboard(board, stage))
    staged.update(_copy_alignment_files(stage, [v for _, v in alignments]))
    folder.commit()
    files = {key: out_dir / path.name for key, path in staged.items()}
    distributed.finish(ranks)
    return RunResult(out_dir, records, skipped, files, board)


def _run_config(runner: Runner, prepared: Sequence[PreparedTask], skipped: dict[str, str],
                entries: list[dict[str, Any]], options: EncoderOptions, init: RandomInit, aligned: bool,
                alignments: list[tuple[AlignOptions, Any]]) -> dict[str, Any]:
    """``config.json``: everything needed to re-run and to judge the run."""
    return {
        "acubench_run": 1,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "argv": sys.argv,
        "versions": versions(),
        "encoders": entries,
        "tasks": runner.task_entries(prepared, [e["id"] for e in entries]),
        "task_options": runner.task_options,
        "skipped_tasks": skipped,
        "failed_tasks": runner.failed,
        "probes": runner.probes,
        "unscored": runner.unscored,
        "seeds": runner.seeds,
        "bootstrap": {"resamples": runner.bootstrap, "seed": 0, "unit": "subject"},
        "data_root": str(runner.data_root),
        "cache": str(runner.cache_root),
        "device": options.device,
        "batch_size": options.batch_size,
        "precision": options.precision,
        "random_init": init,
        "aligned": aligned,
        "align": _alignment_entries(alignments) if aligned else None,
    }


def _check_aligned_only(probes: Sequence[str], aligned: bool) -> None:
    """Refuse, before any compute, a probe that scores aligned encoders only in a run that aligns none."""
    needy = [p for p in probes if get_probe(p).aligned_only]
    if needy and not aligned:
        raise OptionError(f"probe {', '.join(needy)} scores aligned encoders only (it compares clips with class "
                          f"prompts in an AcuLa checkpoint's audio–text space): add --aligned, or "
                          f"--aligned-checkpoint PATH, or drop {', '.join(needy)} from --probe")


def _joint_space(checkpoint: Path, encoder: AudioEncoder, runner: Runner, options: EncoderOptions,
                 reporter: Reporter, temperature: float | None = None):
    """The joint audio–text space of an aligned checkpoint whose encoder is already loaded (for scorers)."""
    from acubench.align.api import load_aligned_model
    from acubench.align.zeroshot import DEFAULT_TEMPERATURE, AlignedSpace

    model = load_aligned_model(checkpoint, device=options.device, trust_checkpoint=options.trust_checkpoint,
                               encoder=encoder)
    return AlignedSpace(model, cache_dir=runner.cache_root, device=options.device,
                        temperature=DEFAULT_TEMPERATURE if temperature is None else temperature,
                        console=_console(reporter))


def _align_plans(align_options: AlignOptions | Sequence[AlignOptions] | None) -> list[AlignOptions]:
    """The aligned variants asked for: one, several (a sweep), or the defaults."""
    if align_options is None:
        return [AlignOptions()]
    return list(align_options) if isinstance(align_options, (list, tuple)) else [align_options]


def _aligned_variant(base: AudioEncoder, label: str, plan: AlignOptions, all_demo: bool, options: EncoderOptions,
                     runner: Runner, reporter: Reporter):
    """``base`` after AcuLa post-training (the cached checkpoint of the same settings, or a new alignment), or the
    checkpoint ``plan`` names; labelled by how it was made (:mod:`acubench.align.variant`)."""
    from acubench.align.variant import aligned_variant

    variant = aligned_variant(base, label, plan, all_demo=all_demo, device=options.device,
                              cache_dir=runner.cache_root, data_root=runner.data_root,
                              task_options=runner.task_options, trust_checkpoint=options.trust_checkpoint,
                              console=_console(reporter))
    reporter.note(f"{variant.label}: {'aligned now' if variant.trained else 'aligned checkpoint'} {variant.checkpoint}")
    return variant


def _alignment_entries(alignments: list[tuple[AlignOptions, Any]]) -> list[dict[str, Any]]:
    """``config.json``'s record of each aligned variant: the options asked for and what they resolved to."""
    out = []
    for asked, v in alignments:
        summary = v.summary or {}
        out.append({"label": v.label, "checkpoint": str(v.checkpoint), "options": asked.to_dict(),
                    "corpus": summary.get("corpus", {}).get("source"), "preset": summary.get("preset"),
                    "teacher": (summary.get("teacher") or {}).get("id"), "key": summary.get("key")})
    return out


def _copy_alignment_files(out_dir: Path, variants: list[Any]) -> dict[str, Path]:
    """Each aligned checkpoint's ``alignment.json`` into the run folder (suffixed when there are several)."""
    files = {}
    for v in variants:
        if v.summary is None:
            continue
        name = "alignment.json" if len(variants) == 1 else f"alignment-{v.label.replace('/', '_')}.json"
        atomic_write(out_dir / name, json.dumps({**v.summary, "label": v.label}, indent=2, sort_keys=True,
                                                default=str))
        files[name] = out_dir / name
    return files


def _console(reporter: Reporter):
    """A rich console for the services that still print through one (alignment): the reporter's own, else silent."""
    from rich.console import Console

    return getattr(reporter, "console", None) or Console(stderr=True, quiet=True)


def embed(
    files: Sequence[str | os.PathLike],
    *,
    encoder: str | AudioEncoder = "opera",
    aligned: str | os.PathLike | None = None,
    clip_policy: ClipPolicy | str = "default",
    encoder_options: EncoderOptions | None = None,
    skip_bad_audio: bool = False,
    use_cache: bool = True,
    reporter: Reporter | None = None,
) -> EmbedResult | None:
    """One clip embedding per audio file, as the benchmark computes it.

    Under ``torchrun`` every rank embeds a share of the files; rank 0 returns
    the result, the other ranks ``None``.

    Parameters
    ----------
    files : sequence of path-like
        Audio files and/or folders (searched recursively).
    encoder : str or AudioEncoder
        Encoder id/alias, or an already built encoder.
    aligned : path-like, optional
        An AcuLa checkpoint (``acubench align``); overrides ``encoder``.
    clip_policy : ClipPolicy or str
        Default: the encoder's reference policy (e.g. OPERA-GT's 8.18 s windows).
    encoder_options : EncoderOptions, optional
        How to load and run the encoder (missing weights are an error unless
        ``random_init`` says otherwise).

    Examples
    --------
    >>> from acubench import embed                                   # doctest: +SKIP
    >>> res = embed(["cough.wav"], encoder="opera-gt")               # doctest: +SKIP
    >>> res.embeddings.shape                                         # doctest: +SKIP
    (1, 384)
    """
    options = (encoder_options or EncoderOptions()).resolved()
    ranks, device = distributed.init(options.device)
    options = replace(options, device=device)
    if use_cache:
        check_writable_dir(default_cache_dir(), what="embedding cache",
                           fix="point $ACUBENCH_CACHE at a writable folder, or pass --no-cache")
    if aligned is not None:
        from acubench.align.api import load_aligned_encoder

        model = load_aligned_encoder(Path(aligned), device=options.device, trust_checkpoint=options.trust_checkpoint)
    elif isinstance(encoder, AudioEncoder):
        model = encoder
    else:
        model = options.load(encoder)
    result = embed_files(files, model, clip_policy=clip_policy, batch_size=options.batch_size,
                       precision=options.precision, skip_bad_audio=skip_bad_audio, use_cache=use_cache,
                       reporter=reporter if ranks.main else None, ranks=ranks)
    distributed.finish(ranks)
    return result


def align(
    encoder: str = "opera",
    *,
    corpus: str | os.PathLike = "demo",
    teacher: str | None = None,
    preset: str = "demo",
    overrides: dict[str, Any] | None = None,
    encoder_options: EncoderOptions | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    skip_bad: bool = False,
    data_root: str | os.PathLike | None = None,
    task_options: dict[str, str] | None = None,
    allow_test_overlap: bool = False,
    reporter: Reporter | None = None,
) -> AlignedCheckpoint:
    """Post-train an encoder with AcuLa (see :func:`acubench.align.api.align` for every parameter).

    ``encoder_options`` gives the base encoder's weights, config, device and
    checkpoint settings (``random_init`` defaults to ``"never"``).
    """
    from acubench.align.api import align as align_encoder

    return align_encoder(encoder, corpus=corpus, teacher=teacher, preset=preset, overrides=overrides,
                         encoder_options=encoder_options, seed=seed, out=out, cache_dir=cache_dir, skip_bad=skip_bad,
                         data_root=data_root, task_options=task_options, allow_test_overlap=allow_test_overlap,
                         console=_console(reporter or LogReporter()))


@dataclass
class ZeroShotResult:
    """What :func:`zeroshot` scored.

    Attributes
    ----------
    checkpoint : Path
        The aligned checkpoint file.
    label : str
        Its row label (``opera-gt+acula[demo]``), as ``run --aligned`` names it.
    records : list of ResultRecord
        One ``zeroshot`` record per scored task (seed 0), with its 95 % interval; the class
        prompts, teacher and temperature are in ``hyperparams``.
    skipped : dict of str to str
        Task id → why it was not scored (its data is absent, or it is a regression task of a suite).
    """

    checkpoint: Path
    label: str
    records: list[ResultRecord]
    skipped: dict[str, str]


def zeroshot(
    checkpoint: str | os.PathLike,
    *,
    tasks: str | Sequence[str] = "demo",
    data_root: str | Path | None = None,
    cache: str | Path | None = None,
    protocol: str = "default",
    task_options: dict[str, str] | None = None,
    encoder_options: EncoderOptions | None = None,
    temperature: float | None = None,
    skip_bad_audio: bool = False,
    use_cache: bool = True,
    bootstrap: int = stats.RESAMPLES,
    reporter: Reporter | None = None,
) -> ZeroShotResult:
    """Zero-shot classification with an aligned checkpoint: the ``zeroshot`` probe of :func:`run`, without a run folder.

    The same runner, embeddings (cache) and scorer as
    ``run(..., aligned=True, probes=["linear", "zeroshot"])``, so a task scores the
    same here as in a run of the same checkpoint (``acubench zeroshot`` prints these).

    Parameters
    ----------
    checkpoint : path
        ``acula_final.pt`` from ``acubench align`` (or its folder).
    tasks : str
        As :func:`run`; regression tasks of a suite are skipped, a named one is an error.
    temperature : float, optional
        Softmax temperature of the similarities (default 0.07, CLIP's); it does not change a binary AUROC.
    encoder_options : EncoderOptions, optional
        Device, precision, batch size and ``trust_checkpoint`` (the weights come from ``checkpoint``).

    Raises
    ------
    AcubenchError
        A checkpoint that does not load or records no teacher, a teacher that is absent, a named task
        the scorer does not handle, no task with data.
    """
    from acubench.align.api import load_aligned_model
    from acubench.align.variant import aligned_label, read_summary

    options = (encoder_options or EncoderOptions()).resolved()
    reporter = reporter or LogReporter()
    runner = Runner(tasks=tasks, probes=("zeroshot",), seeds=1, data_root=data_root, cache=cache, protocol=protocol,
                    task_options=task_options, encoder_options=options, skip_bad_audio=skip_bad_audio,
                    use_cache=use_cache, bootstrap=bootstrap, reporter=reporter)
    model = load_aligned_model(checkpoint, device=options.device, trust_checkpoint=options.trust_checkpoint)
    space = _joint_space(model.path, model.encoder, runner, options, reporter, temperature)
    prepared, skipped = runner.prepare_tasks()
    label = aligned_label(encoder_label(model.encoder), read_summary(model.path))
    records, _ = runner.evaluate(model.encoder, label, True, prepared, run_id="", space=space)
    return ZeroShotResult(model.path, label, records, skipped)
