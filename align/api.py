"""The public entry points of AcuLa post-training.

``align``
    Post-train an encoder (``acubench align``): corpus, teacher, preset →
    checkpoint folder. Re-running the same call resumes an interrupted run
    and returns at once when the run is complete.
``ensure_aligned``
    What ``acubench run --aligned`` calls: the aligned checkpoint from the
    cache, training it first only if it is absent.
``load_aligned_encoder``
    An aligned checkpoint back as an :class:`~acubench.encoder.AudioEncoder`,
    rebuilt through the encoder's own factory (so it embeds exactly like the
    base model with new weights), marked ``WeightsInfo("aligned", ...)``.

The cache key of an aligned checkpoint covers the encoder id and config,
the base weights' digest, the corpus content hash, the teacher (id,
revision, pooling, layer, length, lowercasing), every training setting
(preset + overrides), the seed and the acubench version. Settings that do
not change the result (``num_workers``, ``save_every``, ``teacher_cache``)
are left out.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from acubench.align.checkpoints import ENCODER_NAME, FINAL_NAME, RUN_NAME, SUMMARY_NAME, latest_checkpoint
from acubench.align.corpus import (
    DEMO_CORPUS,
    PRESENT_CORPUS,
    Corpus,
    build_corpus,
    check_corpus,
    corpus_hash,
    read_corpus,
)
from acubench.align.data import check_corpus_for_training
from acubench.align.heads import ProjectionMLP, fit_space_map
from acubench.align.leakcheck import check_corpus_leaks
from acubench.align.model import AlignError, masked_modelling
from acubench.align.presets import AlignConfig, resolve_config
from acubench.align.summary import build_summary, summary_line
from acubench.align.teacher import Teacher
from acubench.align.trainer import train
from acubench.checkpoints import CheckpointError, load_checkpoint, state_digest, unwrap_state_dict
from acubench.encoder import AudioEncoder, WeightsInfo
from acubench.engine.devices import resolve_device
from acubench.loading import EncoderOptions, load_encoder
from acubench.paths import atomic_write
from acubench.paths import cache_dir as default_cache_dir
from acubench.paths import data_root as default_data_root
from acubench.plugins import registries
from acubench.records.results import versions

FORMAT = 1
#: Settings that do not change what training computes, left out of the cache key.
_KEY_EXEMPT = ("num_workers", "save_every", "teacher_cache")
#: The only backbone AcuLa's released code trains; assumed for checkpoints without acubench metadata.
ACULA_ENCODER = "opera-gt"


@dataclass(frozen=True)
class AlignedCheckpoint:
    """An aligned checkpoint on disk.

    Attributes
    ----------
    path : Path
        ``acula_final.pt``: AcuLa's dict layout plus ``"acubench"`` metadata.
    encoder_file : Path
        ``audio_encoder.pt``: the aligned ``audio_model_state_dict`` alone.
    fingerprint : str
        The cache key (16 hex digits).
    metadata : dict
        The ``"acubench"`` entry (encoder, config, base weights, corpus, teacher, settings, seed, versions).
    trained : bool
        Whether this call ran (or finished) the training; ``False`` for a cache hit.
    summary : dict
        The run's ``alignment.json`` (:mod:`acubench.align.summary`).
    """

    path: Path
    encoder_file: Path
    fingerprint: str
    metadata: dict[str, Any]
    trained: bool
    summary: dict[str, Any]

    @property
    def summary_file(self) -> Path:
        return self.path.parent / SUMMARY_NAME


def load_corpus(corpus: str | os.PathLike, *, cache_dir: Path, data_root: Path | None = None,
                options: Mapping[str, Any] | None = None, skip_bad: bool = False,
                allow_test_overlap: bool = False) -> Corpus:
    """A checked corpus: ``"demo"``, ``"datasets"`` (every dataset present) or a corpus CSV.

    Built corpora leave out every test clip and test subject of the tasks on
    their datasets (with the evaluation's task ``options``); every corpus is
    then checked against the test clips of all tasks present
    (:func:`acubench.align.leakcheck.check_corpus_leaks`).

    Raises
    ------
    CorpusError
        Bad rows, no usable row, no dataset present, or test clips in the corpus (``CorpusLeakError``).
    """
    root = default_data_root(data_root)
    options = dict(options or {})
    info: dict[str, Any] = {}
    if str(corpus) in (DEMO_CORPUS, PRESENT_CORPUS):
        datasets = ["demo"] if str(corpus) == DEMO_CORPUS else None
        build = build_corpus(root, datasets=datasets, cache_dir=cache_dir, options=options)
        data = check_corpus(build.corpus, source=str(corpus), skip_bad=skip_bad)
        info["excluded_test_clips"] = {ds: {"test_recordings": e.test_recordings,
                                            "test_subject_recordings": e.test_subject_recordings,
                                            "tasks": e.tasks} for ds, e in build.exclusions.items()}
        info["skipped_datasets"] = build.skipped
    else:
        data = read_corpus(corpus, skip_bad=skip_bad)
    info["leak_check"] = check_corpus_leaks(data.frame["audio_path"].tolist(), source=data.source, data_root=root,
                                            cache_dir=cache_dir, options=options, allow=allow_test_overlap)
    data.info = info
    return data


def run_key(metadata: Mapping[str, Any]) -> str:
    """The cache key of an alignment run from its metadata (see the module docstring)."""
    settings = {k: v for k, v in metadata["align_config"].items() if k not in _KEY_EXEMPT}
    teacher = {k: metadata["teacher"][k] for k in ("id", "revision", "pooling", "layer", "max_length", "lowercase")}
    payload = {
        "encoder": metadata["encoder"], "config": metadata["config"],
        "base_weights": metadata["base_weights"]["sha256"] or metadata["base_weights"]["status"],
        "corpus": metadata["corpus"]["hash"], "teacher": teacher, "settings": settings,
        "seed": metadata["seed"], "acubench": metadata["versions"]["acubench"], "format": FORMAT,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _teacher_meta(teacher: Teacher) -> dict[str, Any]:
    return {"source": teacher.requested, "id": teacher.id, "revision": teacher.source.revision,
            "pooling": teacher.pooling, "layer": teacher.layer, "max_length": teacher.max_length,
            "lowercase": teacher.lowercase, "dim": teacher.dim}


def align(
    encoder: str | AudioEncoder,
    *,
    corpus: str | os.PathLike = "demo",
    teacher: str | None = None,
    preset: str = "demo",
    overrides: Mapping[str, Any] | None = None,
    encoder_options: EncoderOptions | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    skip_bad: bool = False,
    data_root: str | os.PathLike | None = None,
    task_options: Mapping[str, Any] | None = None,
    allow_test_overlap: bool = False,
    console=None,
) -> AlignedCheckpoint:
    """Post-train ``encoder`` with AcuLa and return its checkpoint.

    Parameters
    ----------
    encoder : str or AudioEncoder
        Registered encoder id or alias (``"opera"`` → OPERA-GT's family default),
        or an already built base encoder (it is copied, never trained in place:
        ``acubench run --aligned`` evaluates the base model with the same object).
    corpus : str or path
        ``"demo"``, ``"datasets"`` (the datasets present under ``data_root``) or a corpus
        CSV (``acubench corpus``; AcuLa's ``Gen_Report`` column accepted).
    teacher : str, optional
        Language model folder or Hub id; default the bundled all-MiniLM-L6-v2.
    preset : {"demo", "paper"}
    overrides : mapping, optional
        :class:`~acubench.align.presets.AlignConfig` settings replacing the preset's.
    encoder_options : EncoderOptions, optional
        How to build the base encoder (weights, config, ``random_init`` — default
        ``"never"`` —, strict, trust_checkpoint) and the device to train on (``auto``
        resolved here). Its precision and batch size are for extraction: training
        takes its own from the settings.
    seed : int
        Seeds the base model's random initialisation (if any) and every draw of training.
    out : path, optional
        Run folder; default ``<cache>/aligned/<encoder>-<key>`` (shared with :func:`ensure_aligned`).
    cache_dir : path, optional
    skip_bad : bool
        Leave out (and count) bad corpus rows instead of stopping.
    data_root : path, optional
        Datasets folder: where built corpora come from and whose tasks' test clips are refused.
    task_options : mapping, optional
        Task loader options of the evaluation (``--task-arg``), applied to find test clips.
    allow_test_overlap : bool
        Align even if the corpus holds test clips (recorded in ``alignment.json``).
    console : rich.console.Console, optional

    Raises
    ------
    AlignError
        The encoder does not support alignment; the out folder holds a different run; the corpus is too small.
    CorpusError, TeacherNotFound, WeightsNotFound, CheckpointError
        As raised while loading the corpus, the teacher and the encoder.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    cache = default_cache_dir(cache_dir)
    settings = resolve_config(preset, overrides)
    options = encoder_options or EncoderOptions()
    device = str(resolve_device(options.device))
    if isinstance(encoder, AudioEncoder):
        base, encoder = copy.deepcopy(encoder).cpu(), encoder.spec.id
    else:
        # Built on the CPU: train() moves the copy it trains to the device.
        base = replace(options, device="cpu").load(encoder, seed=seed, random_init="never")
    if not base.spec.supports_alignment:
        alignable = sorted(s.id for s in registries().encoders if s.supports_alignment)
        raise AlignError(f"encoder {base.spec.id} does not support alignment (no trainable token features); "
                         f"alignable encoders: {', '.join(alignable)} (column 'AcuLa' of `acubench encoders`)")
    data = load_corpus(corpus, cache_dir=cache, data_root=data_root, options=task_options, skip_bad=skip_bad,
                       allow_test_overlap=allow_test_overlap)
    try:  # before the teacher loads and the run folder exists
        check_corpus_for_training(data.frame, settings, source=str(data.source))
    except ValueError as exc:
        raise AlignError(str(exc)) from None
    if data.bad:
        console.print(f"[yellow]corpus {data.source}: left out {sum(data.bad.values())} bad row(s)[/]: "
                      + ", ".join(f"{n} {r}" for r, n in data.bad.items()))
    tutor = Teacher(teacher, pooling=settings.teacher_pooling, layer=settings.teacher_layer,
                    max_length=settings.max_text_length, lowercase=settings.lowercase_reports, device=device)
    metadata = _metadata(encoder, base, data, tutor, preset, settings, seed)
    key = run_key(metadata)
    metadata["key"] = key
    out_dir = Path(out) if out is not None else cache / "aligned" / f"{base.spec.id}-{key}"
    done = _existing_run(out_dir, key)
    if done is not None:
        console.print(f"aligned checkpoint {done} is up to date (key {key})")
        summary = json.loads((out_dir / SUMMARY_NAME).read_text())
        console.print(summary_line(summary))
        return AlignedCheckpoint(done, out_dir / ENCODER_NAME, key, metadata, False, summary)
    fresh = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / RUN_NAME, json.dumps(metadata, indent=2, sort_keys=True, default=str))

    def rebuild(path: Path) -> AudioEncoder:
        return load_encoder(encoder, weights=path, config=dict(base.config), device="cpu", seed=seed, strict=True)

    try:
        result = train(encoder=base, rebuild=rebuild, corpus=data.frame, teacher=tutor, config=settings, seed=seed,
                       out_dir=out_dir, metadata=metadata, cache_dir=cache, device=device, console=console)
    except BaseException:
        if fresh and latest_checkpoint(out_dir) is None:
            shutil.rmtree(out_dir, ignore_errors=True)  # nothing to resume: leave no half-written run folder
        raise
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 alone writes (and holds the history)
        return AlignedCheckpoint(result.final, result.encoder_file, key, metadata, True, {})
    summary = build_summary(metadata, result)
    atomic_write(out_dir / SUMMARY_NAME, json.dumps(summary, indent=2, sort_keys=True, default=str))
    console.print(f"wrote {result.final}, {result.encoder_file} and {out_dir / SUMMARY_NAME} "
                  f"({result.samples_per_second:.1f} training pairs/s)")
    console.print(summary_line(summary))
    return AlignedCheckpoint(result.final, result.encoder_file, key, metadata, True, summary)


def _metadata(name: str, base: AudioEncoder, data: Corpus, teacher: Teacher, preset: str, settings: AlignConfig,
              seed: int) -> dict[str, Any]:
    info = base.weights_info
    preset_values = resolve_config(preset).to_dict()
    return {
        "format": FORMAT,
        "encoder": base.spec.id,
        "encoder_name": name,
        "config": dict(base.config),
        "base_weights": {"status": info.status, "source": info.source, "sha256": info.sha256},
        "corpus": {"source": str(data.source), "hash": corpus_hash(data.frame), "pairs": len(data.frame),
                   "subjects": int(data.frame["subject"].nunique()), "bad_rows": dict(data.bad),
                   "allow_test_overlap": bool(data.info.get("leak_check", {}).get("allow_test_overlap")),
                   **data.info},
        "teacher": _teacher_meta(teacher),
        "masked_modelling": masked_modelling(base, settings),
        "preset": preset,
        "overrides": {k: v for k, v in settings.to_dict().items() if preset_values[k] != v},
        "align_config": settings.to_dict(),
        "seed": int(seed),
        "versions": versions(),
    }


def _existing_run(out_dir: Path, key: str) -> Path | None:
    """The final checkpoint if ``out_dir`` holds the finished run ``key``; ``None`` to (re)start it.

    Raises
    ------
    AlignError
        If ``out_dir`` holds a different alignment run.
    """
    run_file = out_dir / RUN_NAME
    if not run_file.is_file():
        if out_dir.is_dir() and any(out_dir.iterdir()):
            raise AlignError(f"{out_dir}: not empty and not an alignment run folder; choose another --out")
        return None
    try:
        previous = json.loads(run_file.read_text()).get("key")
    except (OSError, ValueError):
        previous = None
    if previous != key:
        raise AlignError(f"{out_dir} holds a different alignment run (key {previous}, this one {key}): its encoder, "
                         "corpus, teacher or settings differ. Choose another --out, or delete the folder to start "
                         "over.")
    final = out_dir / FINAL_NAME
    whole = all((out_dir / name).is_file() for name in (FINAL_NAME, ENCODER_NAME, SUMMARY_NAME))
    return final if whole else None


def ensure_aligned(
    encoder: str,
    *,
    corpus: str = "demo",
    teacher: str | None = None,
    preset: str = "demo",
    overrides: dict | None = None,
    encoder_options: EncoderOptions | None = None,
    seed: int = 0,
    cache_dir: Path | None = None,
    console=None,
) -> AlignedCheckpoint:
    """The cached aligned checkpoint for these settings, aligning first only if it is absent.

    Same arguments as :func:`align` (the run folder is always the cache's).
    """
    return align(encoder, corpus=corpus, teacher=teacher, preset=preset, overrides=overrides,
                 encoder_options=encoder_options, seed=seed, cache_dir=cache_dir, console=console)


# --- loading ---------------------------------------------------------------------------------------


def _checkpoint_file(checkpoint: str | os.PathLike) -> Path:
    path = Path(checkpoint)
    if path.is_dir():
        path = path / FINAL_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: aligned checkpoint not found (run `acubench align`, or pass the "
                              f"{FINAL_NAME} it wrote, or its folder)")
    return path


def read_aligned(checkpoint: str | os.PathLike, *,
                 trust_checkpoint: bool = False) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """``(file, checkpoint dict, acubench metadata)``; AcuLa's own checkpoints get OPERA-GT defaults."""
    path = _checkpoint_file(checkpoint)
    obj = load_checkpoint(path, trust=trust_checkpoint)
    if not isinstance(obj, dict) or "audio_model_state_dict" not in obj:
        raise CheckpointError(f"{path}: not an AcuLa checkpoint (no audio_model_state_dict)")
    meta = obj.get("acubench")
    if not isinstance(meta, dict):
        meta = {"encoder": ACULA_ENCODER, "encoder_name": ACULA_ENCODER, "config": "default",
                "base_weights": {"status": "pretrained", "source": "", "sha256": ""}, "teacher": None}
    return path, obj, meta


def _aligned_encoder(path: Path, obj: dict[str, Any], meta: dict[str, Any], device: str,
                     trust_checkpoint: bool) -> AudioEncoder:
    sidecar = path.parent / ENCODER_NAME
    source = sidecar if "acubench" in obj and sidecar.is_file() else path
    encoder = load_encoder(meta.get("encoder_name") or meta["encoder"], weights=source, config=meta["config"],
                           device=device, trust_checkpoint=trust_checkpoint)
    encoder.weights_info = WeightsInfo("aligned", str(path), state_digest(unwrap_state_dict(obj, path=str(path))),
                                       base_status=meta["base_weights"]["status"])
    return encoder.eval()


def load_aligned_encoder(checkpoint: str | os.PathLike, *, device: str = "cpu",
                         trust_checkpoint: bool = False) -> AudioEncoder:
    """Rebuild an aligned encoder from ``acubench align``'s checkpoint (file or folder) or AcuLa's.

    The encoder is built by its registered factory from the checkpoint's
    ``audio_model_state_dict`` (strictly: every key must fit), with the
    config it was aligned with; ``weights_info`` becomes
    ``WeightsInfo("aligned", <checkpoint>, <digest of the aligned weights>)``,
    so its fingerprint, and the embedding cache, differ from the base model's.
    A checkpoint without acubench metadata is taken as AcuLa's OPERA-GT.
    """
    path, obj, meta = read_aligned(checkpoint, trust_checkpoint=trust_checkpoint)
    return _aligned_encoder(path, obj, meta, device, trust_checkpoint)


@dataclass
class AlignedModel:
    """An aligned encoder with its two projection heads, the space map and the teacher settings (for zero-shot use)."""

    encoder: AudioEncoder
    audio_head: torch.nn.Module
    text_head: torch.nn.Module
    space_map: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    path: Path


def _head(state: Mapping[str, torch.Tensor], where: str) -> torch.nn.Module:
    if not state:  # a run that aligned the encoder's embedding itself: no head on this side
        return torch.nn.Identity()
    try:
        w0, w3 = state["layers.0.weight"], state["layers.3.weight"]
    except KeyError:
        raise CheckpointError(f"{where}: not a projection MLP state (expected layers.0/layers.3)") from None
    head = ProjectionMLP(w0.shape[1], w0.shape[0], w3.shape[0])
    head.load_state_dict(state)
    return head.eval()


def load_aligned_model(checkpoint: str | os.PathLike, *, device: str = "cpu", trust_checkpoint: bool = False,
                       encoder: AudioEncoder | None = None) -> AlignedModel:
    """The aligned encoder plus both projection heads and the zero-shot space map of a checkpoint.

    ``encoder``: the checkpoint's encoder when the caller has already loaded it
    (:func:`load_aligned_encoder`), so it is not built a second time.
    """
    path, obj, meta = read_aligned(checkpoint, trust_checkpoint=trust_checkpoint)
    if encoder is None:
        encoder = _aligned_encoder(path, obj, meta, device, trust_checkpoint)
    audio = _head(obj["audio_projection_mlp_state_dict"], f"{path} audio_projection_mlp_state_dict").to(device)
    text = _head(obj["language_projection_mlp_state_dict"], f"{path} language_projection_mlp_state_dict").to(device)
    # Checkpoints from AcuLa's own code (or intermediate ones) have no map: compare the raw projections.
    space_map = obj.get("space_map")
    if space_map is None:
        if not isinstance(audio, ProjectionMLP):
            raise CheckpointError(f"{path}: no space_map (an intermediate checkpoint?); use the final checkpoint")
        space_map = fit_space_map(torch.zeros(1, audio.layers[3].out_features),
                                  torch.zeros(1, text.layers[3].out_features), rotate=False)
    return AlignedModel(encoder, audio, text, space_map, meta, path)
