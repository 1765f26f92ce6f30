"""Loading a large task's embeddings from the packed store, against 0.1's one file per clip.

Writes N random embeddings (keys as a real task's) through the store, compacted as
a finished extraction leaves it, then times a fresh ``lookup`` of all N keys in a new
process-like object (checksums verified, rows copied into an (N, D) array). The
0.1 layout is timed the same way: one ``.npy`` per clip, read one by one.

    python benchmarks/bench_store.py --clips 100000 --dim 384
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_result

from acubench.engine.cache import EmbeddingCache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--legacy", type=int, default=10_000, help="clips of the one-file-per-clip comparison")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    keys = [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(args.clips)]
    emb = rng.standard_normal((args.clips, args.dim)).astype(np.float32)
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        store = EmbeddingCache(Path(tmp), "fp", task="big")
        t0 = time.perf_counter()
        for k, e in zip(keys, emb, strict=True):
            store.put(k, e)
        store.close()
        write_s = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).rglob("seg-*.npy"))
        loads = []
        for _ in range(3):
            t0 = time.perf_counter()
            got, found = EmbeddingCache(Path(tmp), "fp", task="big").lookup(keys, args.dim)
            loads.append(time.perf_counter() - t0)
        assert found.all() and np.array_equal(got, emb)
        legacy = Path(tmp) / "legacy"
        for k, e in zip(keys[: args.legacy], emb[: args.legacy], strict=True):
            (legacy / k[:2]).mkdir(parents=True, exist_ok=True)
            np.save(legacy / k[:2] / f"{k}.npy", e)
        t0 = time.perf_counter()
        for k in keys[: args.legacy]:
            np.load(legacy / k[:2] / f"{k}.npy")
        legacy_s = time.perf_counter() - t0
    result = {"clips": args.clips, "dim": args.dim, "store_bytes": size, "write_and_compact_s": round(write_s, 2),
              "load_s": [round(x, 3) for x in loads], "load_s_min": round(min(loads), 3),
              "legacy_files_read": args.legacy, "legacy_load_s": round(legacy_s, 2),
              "legacy_load_s_per_100k": round(legacy_s * 100_000 / args.legacy, 1)}
    write_result(f"store-{args.clips}x{args.dim}", result)


if __name__ == "__main__":
    main()
