"""The service behind ``acubench embed`` and ``acubench.embed()``: clip embeddings for your own recordings.

Same preprocessing, pooling, batching and cache as the benchmark, so an
embedding extracted here equals the one the leaderboard was computed from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from acubench.encoder import AudioEncoder
from acubench.engine.cache import EmbeddingCache
from acubench.engine.distributed import Ranks
from acubench.engine.extract import Extraction, Precision, extract_shared
from acubench.errors import OptionError, PathNotFound
from acubench.paths import atomic_path, atomic_write, cache_dir
from acubench.reporting import LogReporter, Reporter
from acubench.specs import ClipPolicy

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


@dataclass
class EmbedResult:
    """Embeddings of a list of files, row-aligned with ``ids``.

    Attributes
    ----------
    ids : list of str
        The input paths, in the order of the rows.
    embeddings : ndarray of float32, shape (n_files, D)
        NaN rows for files skipped as unusable (``skip_bad_audio``).
    encoder : str
        Encoder id and weights status.
    extraction : Extraction
    """

    ids: list[str]
    embeddings: np.ndarray
    encoder: str
    extraction: Extraction


def parse_clip_policy(text: str, default: ClipPolicy) -> ClipPolicy:
    """``default`` | ``whole[:MIN_S]`` | ``windows:SEC[:HOP_S]`` | ``crop:MAX_S`` (seconds)."""
    kind, _, rest = text.partition(":")
    try:
        nums = [float(x) for x in rest.split(":") if x] if rest else []
        if kind == "default":
            return default
        if kind == "whole":
            return replace(default, window_seconds=None, hop_seconds=None,
                           min_seconds=nums[0] if nums else default.min_seconds)
        if kind == "windows" and nums:
            return replace(default, window_seconds=nums[0], hop_seconds=nums[1] if len(nums) > 1 else None,
                           last_window="pad" if default.pad != "none" else "keep")
        if kind == "crop" and nums:
            return replace(default, max_seconds=nums[0], window_seconds=None, hop_seconds=None)
    except (ValueError, IndexError):
        pass
    raise OptionError(f"--clip-policy {text!r}: use default, whole[:MIN_S], windows:SEC[:HOP_S] or crop:MAX_S")


def collect_files(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Audio files named directly or found (recursively, sorted) under folders."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise PathNotFound(f"{path}: no such file or folder")
    if not files:
        raise PathNotFound(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {', '.join(map(str, inputs))}")
    return files


def embed_files(
    files: Sequence[str | os.PathLike],
    encoder: AudioEncoder,
    *,
    clip_policy: ClipPolicy | str = "default",
    batch_size: int = 16,
    precision: Precision = "fp32",
    skip_bad_audio: bool = False,
    use_cache: bool = True,
    reporter: Reporter | None = None,
    ranks: Ranks | None = None,
) -> EmbedResult | None:
    """One clip embedding per audio file (the service behind :func:`acubench.embed`).

    Parameters
    ----------
    files : sequence of path-like
        Audio files and/or folders (searched recursively).
    encoder : AudioEncoder
        A built encoder.
    clip_policy : ClipPolicy or str
        Default: the encoder's reference policy (e.g. OPERA-GT's 8.18 s windows);
        a string as :func:`parse_clip_policy` reads it.
    batch_size : int
        Model inputs (windows) per forward pass.
    precision : {"fp32", "bf16"}
    reporter : Reporter, optional
        Shows progress; default :class:`~acubench.reporting.LogReporter`.
    ranks : Ranks, optional
        Under torchrun: this rank embeds its share; rank 0 returns every file, the others ``None``.
    """
    paths = collect_files(files)
    policy = parse_clip_policy(clip_policy, encoder.spec.clip) if isinstance(clip_policy, str) else clip_policy
    table = pd.DataFrame({"clip_id": [str(p) for p in paths], "path": [str(p) for p in paths]})
    cache = EmbeddingCache(cache_dir(), encoder.fingerprint(), task="files", precision=precision, enabled=use_cache)
    with (reporter or LogReporter()).progress("embedding", len(paths)) as advance:
        ext = extract_shared(encoder, table, policy, ranks=ranks or Ranks(), cache=cache, what="embeddings",
                             batch_size=batch_size, skip_bad_audio=skip_bad_audio, precision=precision,
                             on_clip=advance)
    if ext is None:
        return None
    return EmbedResult([str(p) for p in paths], ext.embeddings, f"{encoder.spec.id} ({encoder.weights_info.label()})",
                       ext)


def save_embeddings(result: EmbedResult, out: str | os.PathLike) -> list[Path]:
    """Write ``OUT.npy`` (+ ``OUT.ids.json``) or ``OUT.parquet`` (columns id, embedding), atomically."""
    out = Path(out)
    if out.suffix not in (".npy", ".parquet"):
        raise OptionError(f"{out}: output must end in .npy or .parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    # A failure (a full disk) leaves neither a half-written output nor a temporary file.
    if out.suffix == ".npy":
        ids_path = out.with_suffix(".ids.json")
        # Both files are written in full before either is renamed into place.
        with atomic_path(out) as tmp, atomic_path(ids_path) as ids_tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, result.embeddings, allow_pickle=False)
            ids_tmp.write_text(json.dumps({"ids": result.ids, "encoder": result.encoder}, indent=1))
        return [out, ids_path]
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise OptionError("writing .parquet needs pyarrow: pip install 'acubench[parquet]' "
                          "(or use OUT.npy)") from None
    df = pd.DataFrame({"id": result.ids, "embedding": list(result.embeddings)})
    df.attrs["encoder"] = result.encoder
    atomic_write(out, lambda fh: df.to_parquet(fh, index=False))
    return [out]
