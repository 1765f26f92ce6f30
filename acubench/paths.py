"""Where acubench keeps state (cache, data root, runs), and how it writes files there.

Every location has a flag, then an environment variable, then a documented
default, so that CI, clusters and laptops can all point it somewhere sensible.
"""

from __future__ import annotations

import os
from pathlib import Path

#: ``$ACUBENCH_CACHE`` or ``$XDG_CACHE_HOME/acubench`` (``~/.cache/acubench``).
CACHE_ENV = "ACUBENCH_CACHE"
#: ``$ACUBENCH_DATA`` or ``~/acubench-data``: one folder per dataset inside.
DATA_ENV = "ACUBENCH_DATA"
#: Folder of released checkpoints (``encoder-operaGT.ckpt``…).
WEIGHTS_ENV = "ACUBENCH_WEIGHTS"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache root (demo audio, embeddings, teacher embeddings, aligned checkpoints)."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "acubench"


def data_root(override: str | os.PathLike | None = None) -> Path:
    """The data root: ``--data-root``, then ``$ACUBENCH_DATA``, then ``~/acubench-data``."""
    if override:
        return Path(override).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return Path.home() / "acubench-data"


def weights_dir() -> Path | None:
    value = os.environ.get(WEIGHTS_ENV)
    return Path(value).expanduser() if value else None


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place.

    A reader, or a run killed mid-write, never sees a half-written file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
