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

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from acubench.align.corpus import Corpus, build_corpus, check_corpus, corpus_hash, read_corpus
from acubench.align.heads import ProjectionMLP, fit_space_map
from acubench.align.presets import AlignConfig, resolve_config
from acubench.align.teacher import Teacher
from acubench.align.trainer import ENCODER_NAME, FINAL_NAME, RUN_NAME, AlignError, train
from acubench.checkpoints import CheckpointError, load_checkpoint, state_digest, unwrap_state_dict
from acubench.encoder import AudioEncoder, WeightsInfo
from acubench.loading import RandomInit, load_encoder
from acubench.paths import atomic_write
from acubench.paths import cache_dir as default_cache_dir
from acubench.plugins import registries
from acubench.results import versions

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
    """

    path: Path
    encoder_file: Path
    fingerprint: str
    metadata: dict[str, Any]
    trained: bool


def load_corpus(corpus: str | os.PathLike, *, cache_dir: Path, skip_bad: bool = False) -> Corpus:
    """``"demo"`` (the demo dataset's recordings minus every demo task's test split) or a corpus CSV."""
    if str(corpus) == "demo":
        build = build_corpus(cache_dir, datasets=["demo"], cache_dir=cache_dir)
        return check_corpus(build.corpus, source="demo", skip_bad=skip_bad)
    return read_corpus(corpus, skip_bad=skip_bad)


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
    encoder: str,
    *,
    corpus: str | os.PathLike = "demo",
    teacher: str | None = None,
    preset: str = "demo",
    overrides: Mapping[str, Any] | None = None,
    weights: str | os.PathLike | None = None,
    config: str | dict[str, Any] = "default",
    random_init: RandomInit = "never",
    strict: bool = True,
    trust_checkpoint: bool = False,
    device: str = "cpu",
    seed: int = 0,
    out: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    skip_bad: bool = False,
    console=None,
) -> AlignedCheckpoint:
    """Post-train ``encoder`` with AcuLa and return its checkpoint.

    Parameters
    ----------
    encoder : str
        Registered encoder id or alias (``"opera"`` → OPERA-GT's family default).
    corpus : str or path
        ``"demo"`` or a corpus CSV (``acubench corpus``; AcuLa's ``Gen_Report`` column accepted).
    teacher : str, optional
        Language model folder or Hub id; default the bundled all-MiniLM-L6-v2.
    preset : {"demo", "paper"}
    overrides : mapping, optional
        :class:`~acubench.align.presets.AlignConfig` settings replacing the preset's.
    weights, config, random_init, strict, trust_checkpoint
        How to build the base encoder (see :func:`acubench.loading.load_encoder`).
    device : str
    seed : int
        Seeds the base model's random initialisation (if any) and every draw of training.
    out : path, optional
        Run folder; default ``<cache>/aligned/<encoder>-<key>`` (shared with :func:`ensure_aligned`).
    cache_dir : path, optional
    skip_bad : bool
        Leave out (and count) bad corpus rows instead of stopping.
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
    base = load_encoder(encoder, weights=weights, config=config, random_init=random_init, device="cpu", seed=seed,
                        strict=strict, trust_checkpoint=trust_checkpoint)
    if not base.spec.supports_alignment:
        alignable = sorted(s.id for s in registries().encoders if s.supports_alignment)
        raise AlignError(f"encoder {base.spec.id} does not support alignment (no trainable token features); "
                         f"alignable encoders: {', '.join(alignable)} (column 'AcuLa' of `acubench encoders`)")
    data = load_corpus(corpus, cache_dir=cache, skip_bad=skip_bad)
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
        return AlignedCheckpoint(done, out_dir / ENCODER_NAME, key, metadata, trained=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / RUN_NAME, json.dumps(metadata, indent=2, sort_keys=True, default=str))

    def rebuild(path: Path) -> AudioEncoder:
        return load_encoder(encoder, weights=path, config=dict(base.config), device="cpu", seed=seed, strict=True)

    result = train(encoder=base, rebuild=rebuild, corpus=data.frame, teacher=tutor, config=settings, seed=seed,
                   out_dir=out_dir, metadata=metadata, cache_dir=cache, device=device, console=console)
    console.print(f"wrote {result.final} and {result.encoder_file} "
                  f"({result.samples_per_second:.1f} training pairs/s)")
    return AlignedCheckpoint(result.final, result.encoder_file, key, metadata, trained=True)


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
                   "bad_rows": dict(data.bad)},
        "teacher": _teacher_meta(teacher),
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
                         f"corpus, teacher or settings differ. Choose another --out, or delete the folder to start over.")
    final = out_dir / FINAL_NAME
    return final if final.is_file() and (out_dir / ENCODER_NAME).is_file() else None


def ensure_aligned(
    encoder: str,
    *,
    weights: str | None,
    random_init: RandomInit,
    corpus: str = "demo",
    teacher: str | None = None,
    preset: str = "demo",
    overrides: dict | None = None,
    device: str = "cpu",
    seed: int = 0,
    cache_dir: Path | None = None,
    console=None,
    config: str | dict[str, Any] = "default",
) -> AlignedCheckpoint:
    """The cached aligned checkpoint for these settings, aligning first only if it is absent.

    Same arguments as :func:`align` (the run folder is always the cache's).
    """
    return align(encoder, corpus=corpus, teacher=teacher, preset=preset, overrides=overrides, weights=weights,
                 config=config, random_init=random_init, device=device, seed=seed, cache_dir=cache_dir,
                 console=console)


# --- loading ---------------------------------------------------------------------------------------


def _checkpoint_file(checkpoint: str | os.PathLike) -> Path:
    path = Path(checkpoint)
    if path.is_dir():
        path = path / FINAL_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: aligned checkpoint not found (run `acubench align`, or pass the "
                              f"{FINAL_NAME} it wrote, or its folder)")
    return path


def read_aligned(checkpoint: str | os.PathLike, *, trust_checkpoint: bool = False) -> tuple[Path, dict[str, Any], dict[str, Any]]:
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
    audio_head: ProjectionMLP
    text_head: ProjectionMLP
    space_map: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    path: Path


def _head(state: Mapping[str, torch.Tensor], where: str) -> ProjectionMLP:
    try:
        w0, w3 = state["layers.0.weight"], state["layers.3.weight"]
    except KeyError:
        raise CheckpointError(f"{where}: not a projection MLP state (expected layers.0/layers.3)") from None
    head = ProjectionMLP(w0.shape[1], w0.shape[0], w3.shape[0])
    head.load_state_dict(state)
    return head.eval()


def load_aligned_model(checkpoint: str | os.PathLike, *, device: str = "cpu",
                       trust_checkpoint: bool = False) -> AlignedModel:
    """The aligned encoder plus both projection heads and the zero-shot space map of a checkpoint."""
    path, obj, meta = read_aligned(checkpoint, trust_checkpoint=trust_checkpoint)
    encoder = _aligned_encoder(path, obj, meta, device, trust_checkpoint)
    audio = _head(obj["audio_projection_mlp_state_dict"], f"{path} audio_projection_mlp_state_dict").to(device)
    text = _head(obj["language_projection_mlp_state_dict"], f"{path} language_projection_mlp_state_dict").to(device)
    # Checkpoints from AcuLa's own code (or intermediate ones) have no map: compare the raw projections.
    space_map = obj.get("space_map") or fit_space_map(torch.zeros(1, audio.layers[3].out_features),
                                                      torch.zeros(1, text.layers[3].out_features), rotate=False)
    return AlignedModel(encoder, audio, text, space_map, meta, path)
