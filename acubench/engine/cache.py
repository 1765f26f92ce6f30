"""The embedding store: per encoder and task, packed, memory-mappable, checked rows.

Layout, under ``<cache>/embeddings/<encoder fingerprint>[-bf16]/<task>/``:

* ``store.json`` — the format version and embedding size the folder was written with.
* ``seg-*.npy`` — segments: one structured array each, a row per clip
  ``(key: 16 bytes, emb: float32 × D, crc: uint32)``. ``key`` is the clip's
  content fingerprint (:func:`clip_key`), ``crc`` a CRC-32 of the key and the
  embedding bytes. A finished extraction compacts a task's segments into one,
  which a later run memory-maps and reads in one pass.

Keys are content fingerprints, never task names: a clip missing from a task's
store is looked up in the encoder's other task stores before it is computed,
so a recording shared by several tasks is embedded once. Every segment is
written to a temporary file and renamed into place, rows are written in
segments every few hundred clips, and compaction deletes only segments whose
rows it has already renamed into place; so a run killed at any moment (even
``kill -9``) loses at most its last unflushed rows, two runs can write the
same store at once, and the next run resumes. A row whose CRC does not match,
a segment that cannot be parsed, or a folder written by another store format
is discarded and recomputed, never read as garbage.

The per-clip ``.npy`` files of acubench 0.1 (``<fingerprint>/<ab>/<key>.npy``)
are read once, checked, moved into the ``_migrated`` store of their encoder and
deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

from acubench.paths import atomic_write
from acubench.specs import ClipPolicy

CACHE_FORMAT = 1
#: Version of the segment layout; a folder written with another is rebuilt.
STORE_FORMAT = 2
#: Rows buffered before a segment is written (bounds what ``kill -9`` can lose).
FLUSH_ROWS = 256
#: ... or seconds since the last write, whichever comes first.
FLUSH_SECONDS = 30.0
#: Leftover temporary files older than this (s) are from killed writers and are removed.
STALE_SECONDS = 3600.0
MIGRATED = "_migrated"


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


def row_dtype(dim: int) -> np.dtype:
    """The segment row: key (16 bytes), embedding (float32 × dim), CRC-32 of both."""
    return np.dtype([("key", "S16"), ("emb", "<f4", (dim,)), ("crc", "<u4")])


def _crcs(rows: np.ndarray) -> np.ndarray:
    """CRC-32 of each row's bytes before its ``crc`` field (one pass over the data)."""
    size = rows.dtype.itemsize
    buf = memoryview(np.ascontiguousarray(rows).view(np.uint8).reshape(-1))
    return np.fromiter((zlib.crc32(buf[i: i + size - 4]) for i in range(0, len(buf), size)), dtype=np.uint32,
                       count=len(rows))


def _slug(task: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in task) or "_"


class EmbeddingCache:
    """The embeddings of one encoder (fingerprint, precision) on one task.

    Parameters
    ----------
    root : Path
        The acubench cache root (:func:`acubench.paths.cache_dir`).
    fingerprint : str
        :meth:`acubench.encoder.AudioEncoder.fingerprint` of the encoder.
    task : str, default "files"
        The task (or ``files`` for ``acubench embed``); the store's folder.
    precision : {"fp32", "bf16"}
        bf16 embeddings live apart from fp32 ones (they differ in the 5th digit).
    enabled : bool, default True
        ``False`` reads nothing and writes nothing (``--no-cache``).
    """

    def __init__(self, root: Path, fingerprint: str, *, task: str = "files", precision: str = "fp32",
                 enabled: bool = True) -> None:
        suffix = "" if precision == "fp32" else f"-{precision}"
        self.encoder_folder = Path(root) / "embeddings" / (fingerprint + suffix)
        self.legacy_folder = Path(root) / "embeddings" / fingerprint
        self.folder = self.encoder_folder / _slug(task)
        self.enabled = enabled
        self.dim: int | None = None
        self._index: dict[bytes, int] = {}  # key → row of self._table
        self._table = np.zeros((0, 0), dtype=np.float32)
        self._new: dict[bytes, np.ndarray] = {}
        self._pending: list[tuple[bytes, np.ndarray]] = []
        self._last_flush = time.monotonic()
        self._wrote = False

    # -- reading ---------------------------------------------------------------------------

    def lookup(self, keys: list[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored embeddings of ``keys``.

        Returns
        -------
        embeddings : ndarray of float32, shape (len(keys), dim)
            NaN rows where nothing is stored.
        found : ndarray of bool, shape (len(keys),)
        """
        if not self.enabled or not keys:
            return np.full((len(keys), dim), np.nan, dtype=np.float32), np.zeros(len(keys), dtype=bool)
        self._open(dim)
        raw = [bytes.fromhex(k) for k in keys]
        index, new = self._index, self._new
        rows = np.fromiter((index.get(k, -1) for k in raw), dtype=np.int64, count=len(raw))
        found = rows >= 0
        if found.all():
            out = np.ascontiguousarray(self._table[rows], dtype=np.float32)  # one pass over the mapped rows
        else:
            out = np.full((len(keys), dim), np.nan, dtype=np.float32)
            out[found] = self._table[rows[found]]
        for i in np.flatnonzero(~found):
            hit = new.get(raw[i])
            if hit is not None:
                out[i], found[i] = hit, True
        if not found.all():
            # Content addressing: another task of this encoder (or the migrated 0.1 cache) may hold the clip.
            wanted: dict[bytes, list[int]] = {}
            for i in np.flatnonzero(~found):
                wanted.setdefault(raw[i], []).append(int(i))
            for folder in sorted(p for p in self.encoder_folder.iterdir() if p.is_dir() and p != self.folder):
                sibling_keys, table = _read_folder(folder, dim)
                for key, row in zip(sibling_keys, table, strict=True):
                    if key in wanted:
                        for i in wanted.pop(key):
                            out[i], found[i] = row, True
                        self.put(key.hex(), row)
                if not wanted:
                    break
        return out, found

    def reload(self) -> None:
        """Read the store folder again at the next lookup (rows other processes wrote meanwhile)."""
        self.flush()
        self.dim = None

    def get(self, key: str) -> np.ndarray | None:
        """One stored embedding (D,) float32, or ``None`` (needs a prior :meth:`lookup` or a known ``dim``)."""
        if not self.enabled or self.dim is None:
            return None
        raw = bytes.fromhex(key)
        row = self._index.get(raw)
        return self._new.get(raw) if row is None else self._table[row]

    def _open(self, dim: int) -> None:
        if self.dim == dim:
            return
        self.dim = dim
        self.folder.mkdir(parents=True, exist_ok=True)
        header = self.folder / "store.json"
        expected = {"format": STORE_FORMAT, "dim": dim, "dtype": "float32"}
        try:
            current = json.loads(header.read_text())
        except (OSError, ValueError):
            current = None
        if current is not None and {k: current.get(k) for k in expected} != expected:
            for seg in self.folder.glob("seg-*.npy"):  # another format or size: rebuild
                seg.unlink(missing_ok=True)
            current = None
        if current is None:
            atomic_write(header, json.dumps({**expected, "layout": "seg-*.npy rows (key S16, emb <f4[dim], crc <u4)"}))
        self._migrate_legacy(dim)
        keys, self._table = _read_folder(self.folder, dim)
        self._index = {k: i for i, k in enumerate(keys)}
        self._new = {}

    def _migrate_legacy(self, dim: int) -> None:
        """Move acubench 0.1's per-clip files of this encoder into its ``_migrated`` store, once."""
        files = sorted(self.legacy_folder.glob("[0-9a-f][0-9a-f]/*.npy"))
        if not files:
            return
        rows = []
        for path in files:
            try:
                value = np.load(path, allow_pickle=False)
                if value.shape == (dim,) and value.dtype == np.float32 and np.isfinite(value).all():
                    rows.append((bytes.fromhex(path.stem), value))
            except (OSError, ValueError, EOFError):
                continue
        target = self.encoder_folder / MIGRATED
        target.mkdir(parents=True, exist_ok=True)
        if rows:
            _write_segment(target, rows, dim)
        for path in files:
            path.unlink(missing_ok=True)
        for sub in {p.parent for p in files}:
            try:
                sub.rmdir()
            except OSError:
                pass

    # -- writing ---------------------------------------------------------------------------

    def put(self, key: str, embedding: np.ndarray) -> None:
        """Store an embedding (buffered; written within :data:`FLUSH_ROWS` rows or :data:`FLUSH_SECONDS`).

        Raises
        ------
        ValueError
            For a non-finite embedding, which is never stored.
        """
        if not self.enabled:
            return
        embedding = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if not np.isfinite(embedding).all():
            raise ValueError(f"refusing to store a non-finite embedding (key {key})")
        self._open(len(embedding))
        raw = bytes.fromhex(key)
        self._new[raw] = embedding
        self._pending.append((raw, embedding))
        if len(self._pending) >= FLUSH_ROWS or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one segment (atomically)."""
        if self._pending and self.dim is not None:
            _write_segment(self.folder, self._pending, self.dim)
            self._wrote = True
        self._pending = []
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush, then compact this task's segments into one if this run wrote any."""
        self.flush()
        if self._wrote and self.dim is not None:
            compact(self.folder, self.dim)
            self._wrote = False

    def write_info(self, info: dict) -> None:
        """Describe the encoder behind this store (for humans browsing the cache)."""
        if not self.enabled:
            return
        self.encoder_folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.encoder_folder / "encoder.json", json.dumps(info, indent=2, sort_keys=True, default=str))


def _write_segment(folder: Path, rows: list[tuple[bytes, np.ndarray]], dim: int) -> Path:
    data = np.zeros(len(rows), dtype=row_dtype(dim))
    data["key"] = [k for k, _ in rows]
    data["emb"] = np.stack([e for _, e in rows])
    data["crc"] = _crcs(data)
    name = f"seg-{time.time_ns():x}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npy"
    # fsync: the segment is whole on disk before its name appears (its temporary name matches
    # the stale-file sweep of _segments, so a crash mid-write leaves nothing that is read).
    return atomic_write(folder / name, lambda fh: np.save(fh, data, allow_pickle=False), fsync=True)


def _segments(folder: Path) -> list[Path]:
    now = time.time()
    for tmp in folder.glob(".seg-*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_SECONDS:
                tmp.unlink()
        except OSError:
            pass
    return sorted(folder.glob("seg-*.npy"))


def _load_segment(path: Path, dim: int) -> np.ndarray | None:
    """A segment's valid rows (memory-mapped), or ``None`` if the file is foreign or damaged (it is removed)."""
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        return None  # compacted away by another process meanwhile
    except (OSError, ValueError, EOFError):
        path.unlink(missing_ok=True)
        return None
    if data.dtype != row_dtype(dim) or data.ndim != 1:
        path.unlink(missing_ok=True)
        return None
    good = _crcs(data) == data["crc"]
    if not good.all():
        good &= np.isfinite(data["emb"]).all(axis=1)
        return data[good]
    return data


def _keys(data: np.ndarray) -> list[bytes]:
    """The 16-byte keys of a segment's rows (numpy strips the trailing NUL bytes of ``S16`` values)."""
    return [k.ljust(16, b"\0") for k in data["key"].tolist()]


def _read_folder(folder: Path, dim: int) -> tuple[list[bytes], np.ndarray]:
    """The keys and embeddings (n, dim) of every valid row of a store folder (duplicates included)."""
    keys: list[bytes] = []
    tables: list[np.ndarray] = []
    if (folder / "store.json").is_file() or folder.name == MIGRATED:
        for path in _segments(folder):
            data = _load_segment(path, dim)
            if data is not None and len(data):
                keys.extend(_keys(data))
                tables.append(data["emb"])  # still memory-mapped when one segment holds the task
    table = np.concatenate(tables) if len(tables) > 1 else (tables[0] if tables else np.zeros((0, dim), np.float32))
    return keys, table


def compact(folder: Path, dim: int) -> None:
    """Merge a store folder's segments into one; only segments already merged are deleted."""
    paths = _segments(folder)
    if len(paths) < 2:
        return
    merged: dict[bytes, np.ndarray] = {}
    read: list[Path] = []
    for path in paths:
        data = _load_segment(path, dim)
        if data is None:
            continue
        merged.update(zip(_keys(data), np.array(data["emb"]), strict=True))
        read.append(path)
    if len(read) < 2:
        return
    _write_segment(folder, list(merged.items()), dim)
    for path in read:
        path.unlink(missing_ok=True)
