"""Loading a large task's embeddings from the packed store, against 0.1's one file per clip.

Writes N random embeddings (keys as a real task's) through the store, compacted as
a finished extraction leaves it, then times a fresh ``lookup`` of all N keys in a new
process-like object (checksums verified, rows copied into an (N, D) array). The
0.1 layout is timed the same way: one ``.npy`` per clip, read one by one; then the
first run after an upgrade (a fresh store object finding 0.1's per-clip files:
migration into the packed store, the task's rows copied in and compacted) and
the run after it. Wall and CPU seconds of each.

    python benchmarks/bench_store.py --clips 100000 --dim 384
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import numpy as np
from _common import Stopwatch, load_average, write_result

from acubench.engine.cache import EmbeddingCache


def _lookup(root: Path, keys: list[str], dim: int, fingerprint: str = "fp") -> tuple[np.ndarray, float, float]:
    """A fresh store object's ``lookup`` of ``keys`` and ``close`` (what a run does): (rows, wall s, CPU s)."""
    with Stopwatch() as sw:
        store = EmbeddingCache(root, fingerprint, task="big")
        got, found = store.lookup(keys, dim)
        store.close()
    assert found.all()
    return got, sw.wall, sw.cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--legacy", type=int, default=None,
                    help="clips of the one-file-per-clip comparison and migration (default: --clips)")
    args = ap.parse_args()
    legacy_n = args.legacy or args.clips
    rng = np.random.default_rng(0)
    keys = [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(args.clips)]
    emb = rng.standard_normal((args.clips, args.dim)).astype(np.float32)
    load = load_average()
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        root = Path(tmp) / "packed"
        with Stopwatch() as write:
            store = EmbeddingCache(root, "fp", task="big")
            for k, e in zip(keys, emb, strict=True):
                store.put(k, e)
            store.close()
        size = sum(p.stat().st_size for p in root.rglob("seg-*.npy"))
        loads = []
        for _ in range(3):
            got, wall, cpu = _lookup(root, keys, args.dim)
            loads.append((wall, cpu))
        assert np.array_equal(got, emb)
        # acubench 0.1's layout: <cache>/embeddings/<fingerprint>/<ab>/<key>.npy, one file per clip.
        legacy_root = Path(tmp) / "legacy"
        for k, e in zip(keys[:legacy_n], emb[:legacy_n], strict=True):
            (legacy_root / "embeddings" / "fp" / k[:2]).mkdir(parents=True, exist_ok=True)
            np.save(legacy_root / "embeddings" / "fp" / k[:2] / f"{k}.npy", e)
        with Stopwatch() as legacy:
            for k in keys[:legacy_n]:
                np.load(legacy_root / "embeddings" / "fp" / k[:2] / f"{k}.npy")
        # The first run after an upgrade: per-clip files migrated, the task's rows packed; then a normal run.
        got, migrate_wall, migrate_cpu = _lookup(legacy_root, keys[:legacy_n], args.dim)
        assert np.array_equal(got, emb[:legacy_n])
        assert not list((legacy_root / "embeddings" / "fp").glob("[0-9a-f][0-9a-f]/*.npy"))
        _, after_wall, after_cpu = _lookup(legacy_root, keys[:legacy_n], args.dim)
    result = {"clips": args.clips, "dim": args.dim, "load_before": load, "load_after": load_average(),
              "store_bytes": size, "write_and_compact_s": round(write.wall, 2),
              "write_and_compact_cpu_s": round(write.cpu, 2),
              "load_s": [round(w, 3) for w, _ in loads], "load_cpu_s": [round(c, 3) for _, c in loads],
              "load_s_min": round(min(w for w, _ in loads), 3),
              "legacy_files": legacy_n, "legacy_load_s": round(legacy.wall, 2),
              "legacy_load_cpu_s": round(legacy.cpu, 2),
              "migration_s": round(migrate_wall, 2), "migration_cpu_s": round(migrate_cpu, 2),
              "after_migration_load_s": round(after_wall, 3), "after_migration_load_cpu_s": round(after_cpu, 3)}
    write_result(f"store-{args.clips}x{args.dim}", result)


if __name__ == "__main__":
    main()
