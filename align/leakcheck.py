"""Leak check: no alignment corpus may hold a clip that a benchmark task tests on.

Post-training on a test recording inflates exactly the gains AcuLa claims,
since its reports state the diagnosis the task asks for. Every corpus, built
by ``acubench corpus`` or supplied as a CSV (AcuLa's own included), is
checked against the test clips of every registered task whose data is
present, loaded with the same task options (``--task-arg``) as the
evaluation and under every split protocol the task offers (for
leave-one-subject-out tasks every pooled clip is a test clip):

* by resolved path (symbolic links and relative paths resolve to the same file), and
* by content: files of equal size are compared by SHA-256 of their bytes,
  so a copied or renamed test file is caught too.

An overlap stops the run with the clips named, unless the user allows it
(``--allow-test-overlap``), in which case it is recorded in
``alignment.json`` and marked in the row label.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from acubench.align.corpus import CorpusError
from acubench.manifest import POOL, LoadContext, validate_manifest
from acubench.plugins import registries
from acubench.specs import resolve_ref

#: Overlapping clips named in an error message.
SHOWN = 8


@dataclass
class TaskTestClips:
    """Test clips of the tasks present: ``frame`` (task, protocol, clip_id, path), and what was read or not."""

    frame: pd.DataFrame
    consulted: list[str] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)


def _present(dataset_id: str, data_root: Path, cache_dir: Path) -> bool:
    """Whether a dataset's data is here; generated (built-in) data counts once generated, and is never generated
    by the check itself."""
    spec = registries().datasets.get(dataset_id)
    return (Path(cache_dir if spec.generated else data_root) / spec.folder).is_dir()


def tested_clips(*, data_root: Path, cache_dir: Path, options: Mapping[str, Any] | None = None) -> TaskTestClips:
    """Every test clip of every registered task whose dataset is present, under each of its protocols."""
    options = dict(options or {})
    rows: list[pd.DataFrame] = []
    found = TaskTestClips(pd.DataFrame(columns=["task", "protocol", "clip_id", "path"]))
    for task in sorted(registries().tasks, key=lambda t: t.id):
        if not _present(task.dataset, Path(data_root), Path(cache_dir)):
            continue
        for protocol in task.protocols:
            ctx = LoadContext(task=task, data_root=Path(data_root), cache_dir=Path(cache_dir), protocol=protocol,
                              options=options)
            try:
                df = validate_manifest(resolve_ref(task.loader)(ctx), task, allow_leakage=True)
            except Exception as exc:  # a task whose manifest cannot load here cannot be checked: say so
                found.unchecked[f"{task.id}@{protocol}"] = f"{type(exc).__name__}: {str(exc)[:160]}"
                continue
            found.consulted.append(f"{task.id}@{protocol}")
            tested = df[df["split"].isin(["test", POOL])]
            rows.append(pd.DataFrame({"task": task.id, "protocol": protocol, "clip_id": tested["clip_id"].astype(str),
                                      "path": [os.path.realpath(str(p)) for p in tested["path"]]}))
    if rows:
        found.frame = pd.concat(rows, ignore_index=True).drop_duplicates(["task", "clip_id", "path"])
    return found


def _sha256(path: str, memo: dict[str, str]) -> str:
    if path not in memo:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        memo[path] = digest.hexdigest()
    return memo[path]


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def find_overlaps(corpus_paths: list[str], tests: pd.DataFrame) -> pd.DataFrame:
    """Corpus files that are test clips, by resolved path or by content.

    Returns
    -------
    DataFrame
        One row per (corpus file, test clip): ``corpus_path``, ``task``,
        ``protocol``, ``clip_id``, ``path`` (the test file), ``how``
        (``"path"`` or ``"content"``).
    """
    corpus = sorted({os.path.realpath(p) for p in corpus_paths})
    by_path = tests[tests["path"].isin(corpus)].assign(corpus_path=lambda d: d["path"], how="path")
    rest = [p for p in corpus if p not in set(tests["path"])]
    test_files = sorted(set(tests["path"]))
    sizes: dict[int, list[str]] = {}
    for p in test_files:
        size = _size(p)
        if size is not None:
            sizes.setdefault(size, []).append(p)
    memo: dict[str, str] = {}
    pairs = []
    for p in rest:
        size = _size(p)
        if size is None or size not in sizes:
            continue  # only files of equal size can be copies: most corpus files are never hashed
        mine = _sha256(p, memo)
        pairs += [(p, t) for t in sizes[size] if _sha256(t, memo) == mine]
    by_content = pd.DataFrame(pairs, columns=["corpus_path", "path"]).merge(tests, on="path").assign(how="content")
    columns = ["corpus_path", "task", "protocol", "clip_id", "path", "how"]
    return pd.concat([by_path[columns], by_content[columns]], ignore_index=True)


class CorpusLeakError(CorpusError):
    """A corpus that holds test clips of a benchmark task."""


def check_corpus_leaks(corpus_paths: list[str], *, source: str, data_root: Path, cache_dir: Path,
                       options: Mapping[str, Any] | None = None, allow: bool = False) -> dict[str, Any]:
    """Refuse a corpus holding test clips; return what was checked (for ``alignment.json``).

    Raises
    ------
    CorpusLeakError
        If any corpus file is a test clip and ``allow`` is false; the message
        names the clips, the tasks and the way out.
    """
    tests = tested_clips(data_root=data_root, cache_dir=cache_dir, options=options)
    overlaps = find_overlaps(corpus_paths, tests.frame)
    files = sorted(set(overlaps["corpus_path"]))
    info = {"checked_tasks": tests.consulted, "unchecked_tasks": tests.unchecked, "test_clips": len(tests.frame),
            "overlapping_files": len(files), "allow_test_overlap": bool(allow),
            "overlaps": overlaps.head(50).to_dict("records")}
    if files and not allow:
        shown = overlaps.drop_duplicates("corpus_path").head(SHOWN)
        named = "; ".join(f"{r.corpus_path} = {r.task} test clip {r.clip_id}"
                          + (f" (a copy of {r.path})" if r.how == "content" else "") for r in shown.itertuples())
        tasks = ", ".join(sorted(set(overlaps["task"])))
        raise CorpusLeakError(
            f"{source}: {len(files)} corpus recording(s) are test clips of {tasks}: {named}"
            f"{' …' if len(files) > SHOWN else ''}. Aligning on them leaks the test set into the encoder. Remove "
            f"them (`acubench corpus` excludes test clips and test subjects), or pass --allow-test-overlap to "
            f"align anyway (recorded in alignment.json and marked in the row label).")
    return info
