"""Result records: one JSON object per encoder × task × probe × seed.

Scoring writes records; everything downstream (leaderboard tables, plots,
merges of several runs) reads only records, so a table can always be
re-rendered from ``results.jsonl`` without touching a model.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

SCHEMA_VERSION = 1


@dataclass
class ResultRecord:
    """One probe fit and its test score.

    Parameters
    ----------
    encoder : str
        Row label in tables: the encoder id, with ``+acula`` for aligned encoders.
    encoder_id : str
        Registered encoder id.
    encoder_fingerprint : str
        :meth:`AudioEncoder.fingerprint` — identifies config and weights.
    weights : str
        ``"pretrained"``, ``"random init (seed 0)"``, ``"aligned"``, ``"none"``.
    random_init : bool
        True when the encoder (or the one it was aligned from) has no trained weights.
    aligned : bool
    task, task_name, task_version : str
    kind : {"binary", "multiclass", "regression"}
    metric : {"auroc", "mae"}
        The headline metric; ``value`` holds it.
    higher_is_better : bool
    protocol : str
        Split protocol (``"default"`` or ``"reference"``).
    probe : str
        ``linear``, ``mlp``, ``lightgbm`` or ``reference-linear``.
    seed : int
    value : float
        Headline metric on the test split (for leave-one-subject-out tasks:
        the mean over folds).
    metrics : dict
        Every metric computed (``auroc``; ``mae``, ``mape``, ``rmse``…).
    fold_values : list of float
        Per-fold headline values for leave-one-subject-out tasks, else empty.
    n_train, n_val, n_test : int
        Clips per split (for LOSO: totals over folds of the test clips, and
        the mean train/val sizes).
    n_bad_audio : int
        Clips skipped because their audio was unusable (``--skip-bad-audio``).
    hyperparams : dict
        What validation chose (e.g. ``{"C": 0.1}``).
    seen_in_pretraining : bool
        The encoder was pre-trained on this task's dataset.
    """

    encoder: str
    encoder_id: str
    encoder_fingerprint: str
    weights: str
    random_init: bool
    aligned: bool
    task: str
    task_name: str
    task_version: str
    kind: str
    metric: str
    higher_is_better: bool
    protocol: str
    probe: str
    seed: int
    value: float
    metrics: dict[str, float] = field(default_factory=dict)
    fold_values: list[float] = field(default_factory=list)
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    n_bad_audio: int = 0
    hyperparams: dict[str, Any] = field(default_factory=dict)
    seen_in_pretraining: bool = False
    run_id: str = ""
    schema: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, allow_nan=True)


def write_records(path: str | os.PathLike, records: Iterable[ResultRecord | dict[str, Any]]) -> None:
    """Write records as JSON lines, atomically (a temp file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write((rec.to_json() if isinstance(rec, ResultRecord) else json.dumps(rec, sort_keys=True)) + "\n")
    os.replace(tmp, path)


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records from a ``results.jsonl`` file or a run directory holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results file (expected a run directory with results.jsonl)")
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not a JSON record ({exc.msg})") from None
    return records


def versions(dists: Iterable[str] = ("torch", "torchaudio", "transformers", "scikit-learn", "lightgbm", "numpy",
                                      "pandas")) -> dict[str, str]:
    """acubench, Python, the platform and the installed versions of ``dists`` (for reproducibility records)."""
    import importlib.metadata as md
    import platform

    from acubench import __version__

    out = {"acubench": __version__, "python": platform.python_version(), "platform": platform.platform()}
    for dist in dists:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out
