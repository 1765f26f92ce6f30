"""Run folders: reserved when chosen, filled all at once.

A run folder is claimed before any compute, by an exclusive ``mkdir`` (a new
folder under ``--runs-dir``) or an exclusive lock file (``--out``), so two
runs started in the same second, in two processes, never share a folder and
an unwritable location fails at once. The outputs are written into a hidden
staging folder next to it and moved in by one ``rename``: ``config.json``,
``results.jsonl``, ``predictions.parquet`` and the leaderboard files appear
together or not at all, and a run that fails leaves neither its folder nor
temporary files behind.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import shutil
import socket
from collections.abc import Sequence
from pathlib import Path

from acubench.paths import OutputError, check_writable_dir

#: Files a run writes; a folder holding any of them holds a finished run (``alignment[-<label>].json``
#: too: the summaries of the aligned variants of ``run --aligned``).
RUN_FILES = ("config.json", "results.jsonl", "predictions.parquet", "leaderboard.md", "leaderboard.csv",
             "leaderboard.json", "leaderboard.png", "alignment.json")


def _is_run_file(name: str) -> bool:
    return name in RUN_FILES or (name.startswith("alignment-") and name.endswith(".json"))
#: Marks a folder as claimed by a running ``acubench run`` (pid, host, start time).
LOCK_NAME = ".acubench-run.lock"


class RunFolderError(OutputError):
    """A run folder that cannot be claimed: another run holds it, or it holds results not to be replaced."""


def _lock_owner(lock: Path) -> dict | None:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return None


def _stale(owner: dict | None) -> bool:
    """Whether a lock was left by a process that no longer runs (on this host; other hosts are never presumed dead)."""
    if owner is None or owner.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, KeyError, TypeError, ValueError):
        return False
    return False


class RunFolder:
    """A claimed run folder: write into :meth:`staging`, then :meth:`commit`; :meth:`release` on failure.

    Use :func:`reserve_run_folder`; as a context manager it releases the
    claim when the block raises.
    """

    def __init__(self, path: Path, *, created: bool, lock: Path, created_parent: Path | None = None) -> None:
        self.path = path
        self.created = created
        self._lock = lock
        self._created_parent = created_parent
        self._staging: Path | None = None

    @property
    def run_id(self) -> str:
        return self.path.name

    def staging(self) -> Path:
        """A fresh hidden folder next to the run folder (same file system, so the final move is one rename)."""
        if self._staging is None:
            self._staging = self.path.parent / f".{self.path.name}.partial-{os.getpid()}"
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging.mkdir()
        return self._staging

    def commit(self) -> None:
        """Move the staged outputs into place in one step, replacing a previous run's (``--overwrite``)."""
        if self._staging is None:
            raise RuntimeError("nothing staged")
        old = self.path.parent / f".{self.path.name}.replaced-{os.getpid()}"
        replacing = any(p.name != LOCK_NAME for p in self.path.iterdir())
        if replacing:
            os.rename(self.path, old)  # a previous run's files: set aside, removed once the new ones are in
        else:
            self._lock.unlink(missing_ok=True)  # only the claim: the folder is empty and rename replaces it
        try:
            os.rename(self._staging, self.path)
        except OSError as exc:
            if replacing:
                os.rename(old, self.path)
            kept, self._staging = self._staging, None  # finished work is never deleted
            raise RunFolderError(f"{self.path}: the finished outputs could not be moved into place "
                                 f"({exc.strerror or exc}); they are kept in {kept}") from None
        self._staging = None
        shutil.rmtree(old, ignore_errors=True)

    def release(self) -> None:
        """Give the folder up after a failure: staged files go, a folder this run created goes if it is empty."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        self._lock.unlink(missing_ok=True)
        for made in (self.path if self.created else None, self._created_parent):
            if made is not None:
                try:
                    made.rmdir()
                except OSError:
                    pass  # not empty (someone put files there meanwhile): leave it

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            self.release()


def _claim(folder: Path) -> Path:
    """Create ``folder``'s lock file exclusively; a stale lock (its process gone) is taken over once."""
    lock = folder / LOCK_NAME
    payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                          "started": _dt.datetime.now().isoformat(timespec="seconds")})
    for attempt in (1, 2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            if attempt == 1 and _stale(owner):
                lock.unlink(missing_ok=True)
                continue
            who = (f"pid {owner.get('pid')} on {owner.get('host')}, started {owner.get('started')}" if owner
                   else "unknown")
            raise RunFolderError(f"{folder}: another acubench run is writing to this folder ({who}). Wait for it "
                                 f"to finish or choose another --out; if no run is active, delete {lock}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(payload)
        return lock
    raise AssertionError("unreachable")


def _check_contents(folder: Path, overwrite: bool) -> None:
    entries = [p.name for p in folder.iterdir() if p.name != LOCK_NAME]
    finished = sorted(n for n in entries if _is_run_file(n))
    foreign = sorted(n for n in entries if not _is_run_file(n))
    if foreign:
        raise RunFolderError(f"{folder}: not empty and not an acubench run folder (it holds {foreign[:3]}); "
                             f"acubench never deletes files it did not write. Choose another --out")
    if finished and not overwrite:
        raise RunFolderError(f"{folder}: holds a finished run ({', '.join(finished[:3])}…); pass --overwrite to "
                             f"replace it, or choose another --out")


def _reserve_out(out: Path, overwrite: bool) -> RunFolder:
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: exists and is not a folder; choose another --out")
    check_writable_dir(out, what="run folder (--out)", fix="choose another --out")
    created = False
    try:
        out.mkdir(parents=True)
        created = True
    except FileExistsError:
        pass
    lock = _claim(out)
    folder = RunFolder(out, created=created, lock=lock)
    try:
        _check_contents(out, overwrite)
    except BaseException:
        folder.release()
        raise
    return folder


def reserve_run_folder(*, out: str | os.PathLike | None = None, runs_dir: str | os.PathLike = "runs",
                       encoders: Sequence[str] = (), overwrite: bool = False,
                       now: _dt.datetime | None = None) -> RunFolder:
    """Claim the folder a run will write to, before any compute.

    Parameters
    ----------
    out : path, optional
        An explicit run folder (``--out``). Created if absent; an existing one
        must be empty, or hold a finished run and ``overwrite`` be set.
    runs_dir : path
        Parent of a new folder ``<YYYYmmdd-HHMMSS>-<encoders>[-k]`` when ``out``
        is not given. The name is taken by ``mkdir``, which one process wins,
        so concurrent runs get distinct folders (``-2``, ``-3``…).
    encoders : sequence of str
        Encoder names, for the folder name.
    overwrite : bool
        Allow replacing a finished run in ``out`` (the old files are replaced
        only when the new ones are complete).

    Raises
    ------
    RunFolderError
        ``out`` holds a run and ``overwrite`` is False, holds files that are
        not run outputs, or is claimed by a live run.
    OutputError
        The location cannot be written.
    """
    if out is not None:
        return _reserve_out(Path(out).expanduser(), overwrite)
    base = Path(runs_dir).expanduser()
    check_writable_dir(base, what="runs folder (--runs-dir)", fix="choose another --runs-dir or --out")
    created_parent = None if base.exists() else base
    base.mkdir(parents=True, exist_ok=True)
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{'_'.join(e.replace(':', '-').replace('/', '-') for e in encoders) or 'run'}"
    for k in range(1, 10_000):
        path = base / (name if k == 1 else f"{name}-{k}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise OutputError(f"{path}: folder name too long; pass fewer encoders or --out DIR") from None
            raise
        return RunFolder(path, created=True, lock=_claim(path), created_parent=created_parent)
    raise RunFolderError(f"{base}: could not find a free run folder name for {name}")
