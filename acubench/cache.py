"""The embedding cache: one small file per (encoder, clip, input policy).

Keys are content fingerprints, never task names, so a recording shared by
several tasks (or re-used by a second run) is embedded once. Each entry is
written to a temporary file and renamed into place, so a run killed at any
moment leaves either a complete entry or none, and the next run resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from acubench.specs import ClipPolicy

CACHE_FORMAT = 1


def clip_key(
    path: str | os.PathLike,
    *,
    start: float | None,
    end: float | None,
    channel: int | None,
    policy: ClipPolicy,
    sample_rate: int,
) -> str:
    """Fingerprint of one model input: the file's identity, segment and preprocessing.

    The file is identified by its resolved path, size and modification time
    (nanoseconds): cheap, and any rewrite of the file invalidates its entries.
    """
    p = Path(path).resolve()
    try:
        st = p.stat()
        ident = [str(p), st.st_size, st.st_mtime_ns]
    except OSError:
        ident = [str(p), None, None]

    def _num(x):
        return None if x is None or (isinstance(x, float) and np.isnan(x)) else round(float(x), 6)

    payload = {
        "file": ident,
        "segment": [_num(start), _num(end), None if _num(channel) is None else int(channel)],
        "policy": asdict(policy),
        "sr": sample_rate,
        "format": CACHE_FORMAT,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class EmbeddingCache:
    """Embeddings of one encoder fingerprint under ``root/embeddings/<fingerprint>/``.

    Parameters
    ----------
    root : Path
        The acubench cache root (:func:`acubench.paths.cache_dir`).
    fingerprint : str
        :meth:`acubench.encoder.AudioEncoder.fingerprint` of the encoder.
    enabled : bool, default True
        ``False`` reads nothing and writes nothing (``--no-cache``).
    """

    def __init__(self, root: Path, fingerprint: str, *, enabled: bool = True) -> None:
        self.folder = Path(root) / "embeddings" / fingerprint
        self.enabled = enabled

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached embedding (D,) float32, or ``None``."""
        if not self.enabled:
            return None
        path = self._path(key)
        try:
            return np.load(path, allow_pickle=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (ValueError, OSError, EOFError):
            # Only a foreign or damaged file can fail to parse (our writes are atomic): recompute it.
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, embedding: np.ndarray) -> None:
        """Store an embedding atomically (write a temp file, then rename)."""
        if not self.enabled:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, np.asarray(embedding, dtype=np.float32), allow_pickle=False)
        os.replace(tmp, path)

    def write_info(self, info: dict) -> None:
        """Describe the encoder behind this folder (for humans browsing the cache)."""
        if not self.enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / "encoder.json"
        tmp = target.with_name(f".encoder.json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
        os.replace(tmp, target)
