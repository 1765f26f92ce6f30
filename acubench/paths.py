"""Where acubench keeps state (cache, data root, runs), and how it writes files there.

Every location has a flag, then an environment variable, then a documented
default, so that CI, clusters and laptops can all point it somewhere sensible.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from acubench.errors import AcubenchError

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


class OutputError(AcubenchError, OSError):
    """An output location that cannot be written (checked before any compute)."""


def check_writable_dir(path: str | os.PathLike, *, what: str, fix: str) -> None:
    """Fail now, not after the compute, if files cannot be written in folder ``path``.

    ``path`` need not exist yet: its nearest existing ancestor must be a folder
    in which a file can be created (tried for real, since permission bits do
    not tell a read-only mount or a quota). Nothing is left behind.

    Parameters
    ----------
    what : str
        The location's role, for the message ("run folder (--out)").
    fix : str
        What the user can do instead ("choose another --out").

    Raises
    ------
    OutputError
        Naming ``path``, the reason and ``fix``.
    """
    path = Path(path)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{path}: cannot write the {what} there: {probe} is not a folder; {fix}")
    try:
        fd, name = tempfile.mkstemp(prefix=".acubench-write-test-", dir=probe)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the {what} there ({exc.strerror or exc}); {fix}") from None
    os.close(fd)
    os.unlink(name)


def check_writable_file(path: str | os.PathLike, *, what: str, fix: str) -> None:
    """:func:`check_writable_dir` for the folder of output file ``path``, which must not be a folder itself."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, not a file name for the {what}; {fix}")
    check_writable_dir(path.parent if str(path.parent) else Path("."), what=what, fix=fix)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it when the ``with`` block ends without error.

    For writers that need a file name (an external program); the file handle form of
    :func:`atomic_write` serves the rest. The temporary name is hidden (a leading dot), unique
    to the process and the call (concurrent writers of one file never share it), and ends in
    ``.tmp``, so a glob for the real files' suffix never picks it up. Whatever happens in the
    block, no temporary file is left behind, and ``path`` is either untouched or whole.

    Raises
    ------
    FileNotFoundError
        If the block ends without error but wrote nothing to the temporary path.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, data: str | bytes | Callable[[BinaryIO], object], *,
                 fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file renamed into place; returns ``path``.

    A reader, or a run killed mid-write, never sees a half-written file: every file acubench
    writes goes through here (or :func:`atomic_path`).

    Parameters
    ----------
    path : str or path
        The file to write; its folder must exist.
    data : str, bytes or callable
        Text (written as UTF-8, line ends as given), bytes, or a function that writes to a
        binary file handle (``lambda fh: np.save(fh, array)``, ``torch.save``, ``to_parquet``).
    fsync : bool
        Flush the file to the disk before the rename, so that a machine crash, not only a
        killed process, leaves either the old file or the whole new one.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
    return Path(path)
