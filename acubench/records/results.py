"""Result records: one JSON object per encoder × task × probe × seed.

Scoring writes records; everything downstream (leaderboard tables, plots,
merges of several runs) reads only records, so a table can always be
re-rendered from ``results.jsonl`` without touching a model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acubench.errors import PathNotFound, RecordError
from acubench.paths import atomic_write
from acubench.records.predictions import PREDICTIONS_FILE, read_predictions, to_parquet

if TYPE_CHECKING:
    import pandas as pd

#: Version of the record layout. 2 added the task's provenance (``dataset``,
#: ``split_scheme``, ``published_as``), ``classes`` and the bootstrap interval.
SCHEMA_VERSION = 2
RESULTS_FILE = "results.jsonl"

#: The OPERA task numbers of acubench 0.1.0's task ids, used only to upgrade schema-1
#: records (which did not carry them): frozen, never extended. New records name their
#: published tables themselves (:attr:`ResultRecord.published_as`, from the task spec).
_SCHEMA1_OPERA: Mapping[str, int] = {
    "T01": 1, "T02": 2, "X01": 3, "X02": 4, "T03": 5, "T04": 6, "T05": 7, "T06": 8, "T07": 9, "T08": 10,
    "T09": 11, "X03": 12, "T10": 13, "T11": 14, "T12": 15, "T13": 16, "T14": 17, "T15": 18, "T16": 19,
}


@dataclass
class ResultRecord:
    """One probe fit and its test score: the contract between scoring and every table.

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
        Protocol variant (``"default"`` or ``"reference"``).
    probe : str
        Probe head id (see ``acubench probes``).
    seed : int
    value : float
        Headline metric on the test split (for leave-one-subject-out regression:
        the mean over folds; classification: the AUROC of the pooled folds).
    metrics : dict
        Every metric computed (``auroc``; ``mae``, ``mape``, ``rmse``…).
    fold_values : list of float
        Per-fold headline values for leave-one-subject-out regression, else empty.
    n_train, n_val, n_test : int
        Clips per split (for LOSO: per-fold means, rounded).
    n_bad_audio : int
        Clips skipped because their audio was unusable (``--skip-bad-audio``).
    hyperparams : dict
        What validation chose (e.g. ``{"C": 0.1}``).
    seen_in_pretraining : bool
        The encoder was pre-trained on this task's dataset.
    dataset : str
        Dataset id of the task ("" in records upgraded from schema 1).
    split_scheme : {"fixed", "loso"}
        Fixed train/val/test split, or leave-one-subject-out.
    published_as : dict of str to int
        The task's number in published tables, e.g. ``{"opera": 12}``.
    classes : list of str
        Class names in label order (label ``i`` is ``classes[i]``); empty for regression.
    ci95 : list of float or None
        ``[low, high]``: 95 % percentile interval of ``value`` over a bootstrap
        of test subjects (leave-one-subject-out: held-out subjects); ``None``
        when there is none, with the reason in ``bootstrap["reason"]``.
    bootstrap : dict
        How ``ci95`` was made: ``resamples``, ``seed``, ``unit``, ``stratified``,
        ``n_units`` (see :func:`acubench.records.stats.bootstrap`).
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
    dataset: str = ""
    split_scheme: str = "fixed"
    published_as: dict[str, int] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    ci95: list[float] | None = None
    bootstrap: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    schema: int = SCHEMA_VERSION

    #: Two records with the same key describe the same probe fit.
    KEY_FIELDS = ("encoder", "encoder_fingerprint", "task", "task_version", "protocol", "probe", "seed")

    @property
    def key(self) -> tuple:
        """(encoder, fingerprint, task, task version, protocol, probe, seed)."""
        return tuple(getattr(self, k) for k in self.KEY_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "record") -> ResultRecord:
        """Validate a record read from JSON; schema-1 records (acubench 0.1) are upgraded.

        Parameters
        ----------
        data : mapping
            The JSON object.
        where : str
            Names the record in errors (``"runs/a/results.jsonl:3"``).

        Raises
        ------
        RecordError
            A missing required field, a field of the wrong type, an unknown
            field, or a schema newer than this acubench reads.
        """
        if not isinstance(data, Mapping):
            raise RecordError(f"{where}: a record must be a JSON object, got {type(data).__name__}")
        schema = data.get("schema", 1)
        if not isinstance(schema, int) or isinstance(schema, bool) or not 1 <= schema <= SCHEMA_VERSION:
            raise RecordError(f"{where}: record schema {schema!r} is not one this acubench reads "
                              f"(1..{SCHEMA_VERSION}); upgrade acubench to read newer runs")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RecordError(f"{where}: unknown field(s) {', '.join(unknown)} (not in result record schema {schema})")
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise RecordError(f"{where}: record lacks {', '.join(missing)} (expected the fields of ResultRecord)")
        out = dict(data)
        for name, check, expected in _TYPES:
            if name in out and not check(out[name]):
                raise RecordError(f"{where}: {name!r} must be {expected}, got {out[name]!r}")
        # Fields that 0.1.0 records could omit or leave empty default from their neighbours.
        out["task_name"] = out.get("task_name") or out["task"]
        out["task_version"] = str(out.get("task_version", "1"))
        out["protocol"] = out.get("protocol") or "default"
        out["encoder_id"] = out.get("encoder_id") or out["encoder"]
        out.setdefault("encoder_fingerprint", "")
        out.setdefault("weights", "")
        out.setdefault("kind", "")
        for flag in ("aligned", "random_init"):
            out.setdefault(flag, False)
        out["value"] = float(out["value"])
        out["fold_values"] = [float(v) for v in out.get("fold_values") or []]
        if schema == 1:
            out.setdefault("published_as", {"opera": _SCHEMA1_OPERA[out["task"]]} if out["task"] in _SCHEMA1_OPERA
                           else {})
            folds = out["fold_values"] or (out.get("hyperparams") or {}).get("folds")
            out.setdefault("split_scheme", "loso" if folds else "fixed")
            out.setdefault("bootstrap", {"reason": "written by acubench 0.1 (record schema 1), before intervals"})
        if out.get("split_scheme", "fixed") not in ("fixed", "loso"):
            raise RecordError(f"{where}: 'split_scheme' must be 'fixed' or 'loso', got {out['split_scheme']!r}")
        ci = out.get("ci95")
        if ci is not None:
            out["ci95"] = [float(v) for v in ci]
        out["schema"] = SCHEMA_VERSION
        return cls(**out)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_REQUIRED = ("encoder", "task", "metric", "higher_is_better", "probe", "seed", "value")
_TYPES: tuple[tuple[str, Any, str], ...] = (
    *((name, lambda v: isinstance(v, str), "a string") for name in (
        "encoder", "encoder_id", "encoder_fingerprint", "weights", "task", "task_name", "kind", "metric", "protocol",
        "probe", "dataset", "run_id")),
    ("task_version", lambda v: isinstance(v, (str, int)) and not isinstance(v, bool), "a string"),
    *((name, lambda v: isinstance(v, bool), "true or false") for name in (
        "higher_is_better", "random_init", "aligned", "seen_in_pretraining")),
    *((name, _is_int, "an integer") for name in ("seed", "n_train", "n_val", "n_test", "n_bad_audio")),
    ("value", _is_number, "a number"),
    ("fold_values", lambda v: isinstance(v, list) and all(map(_is_number, v)), "a list of numbers"),
    ("metrics", lambda v: isinstance(v, dict) and all(map(_is_number, v.values())), "an object of numbers"),
    ("hyperparams", lambda v: isinstance(v, dict), "an object"),
    ("bootstrap", lambda v: isinstance(v, dict), "an object"),
    ("published_as", lambda v: isinstance(v, dict) and all(isinstance(k, str) and _is_int(n) for k, n in v.items()),
     'an object of table → number, e.g. {"opera": 7}'),
    ("classes", lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of strings"),
    ("ci95", lambda v: v is None or (isinstance(v, list) and len(v) == 2 and all(map(_is_number, v))),
     "null or [low, high]"),
)


def write_records(path: str | os.PathLike, records: Iterable[ResultRecord]) -> None:
    """Write records as JSON lines, atomically (a temp file renamed into place)."""
    atomic_write(path, "".join(rec.to_json() + "\n" for rec in records))


def read_records(path: str | os.PathLike) -> list[ResultRecord]:
    """Validated records from a ``results.jsonl`` file or a run directory holding one.

    Raises
    ------
    FileNotFoundError
        No results file.
    RecordError
        A line that is not JSON or not a valid record (the message names file and line).
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise PathNotFound(f"{path}: no results file (expected a run directory with {RESULTS_FILE})")
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(f"{path}:{lineno}: not a JSON record ({exc.msg})") from None
            records.append(ResultRecord.from_dict(data, where=f"{path}:{lineno}"))
    return records


# -- run folders ------------------------------------------------------------------------------------------------


def write_run_results(out_dir: str | os.PathLike, records: list[ResultRecord],
                      predictions: pd.DataFrame | None) -> dict[str, Path]:
    """Write ``predictions.parquet`` and then ``results.jsonl``, each atomically.

    ``results.jsonl`` is written last, so a reader that finds results also finds
    the predictions they were computed from; a run killed in between leaves no
    results at all.

    Returns
    -------
    dict
        ``{"predictions", "results"}`` → path (no predictions entry when ``predictions`` is None).
    """
    out_dir = Path(out_dir)
    files: dict[str, Path] = {}
    if predictions is not None:
        atomic_write(out_dir / PREDICTIONS_FILE, to_parquet(predictions))
        files["predictions"] = out_dir / PREDICTIONS_FILE
    write_records(out_dir / RESULTS_FILE, records)
    files["results"] = out_dir / RESULTS_FILE
    return files


@dataclass
class RunResults:
    """What a run folder holds for tables: its validated records and, when written, per-clip predictions."""

    source: str
    records: list[ResultRecord]
    predictions: pd.DataFrame | None = None


def read_run(path: str | os.PathLike) -> RunResults:
    """Records and predictions of a run folder (or of a ``results.jsonl`` file, which has no predictions)."""
    path = Path(path)
    records = read_records(path)
    return RunResults(str(path), records, read_predictions(path) if path.is_dir() else None)


def versions(dists: Iterable[str] = ("torch", "torchaudio", "transformers", "scikit-learn", "lightgbm", "numpy",
                                      "pandas")) -> dict[str, str]:
    """acubench, Python, the platform and the installed versions of ``dists`` (for reproducibility records)."""
    import importlib.metadata as md
    import platform

    from acubench._version import __version__

    out = {"acubench": __version__, "python": platform.python_version(), "platform": platform.platform()}
    for dist in dists:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out
