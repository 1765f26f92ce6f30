"""Result records → a leaderboard: rows per encoder × probe, one column per task.

Reads only result records (dicts with the fields of
:class:`acubench.results.ResultRecord`); never a model, a task or the registry.

Cell statistics
---------------
* fixed-split tasks: mean ± std of the test score over probe seeds;
* leave-one-subject-out tasks (records carry ``fold_values``): each fold's score
  is first averaged over seeds, then mean ± std are taken over folds, so the
  spread shown is the spread across held-out subjects.

Standard deviations are population deviations (``ddof=0``), the convention of
the OPERA benchmark's published tables, so our cells and theirs compare.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from acubench.leaderboard.reference import MODELS, published

#: Fields every record must carry; the rest have defaults (see :func:`_normalise`).
REQUIRED = ("encoder", "task", "metric", "higher_is_better", "probe", "seed", "value")
#: Two records with the same key describe the same probe fit.
RECORD_KEY = ("encoder", "encoder_fingerprint", "task", "task_version", "protocol", "probe", "seed")

ColumnKey = tuple[str, str, str]  # (task, task_version, protocol)


class LeaderboardError(ValueError):
    """Records that cannot be tabulated: missing fields, conflicts, mixed metrics."""


@dataclass(frozen=True)
class Column:
    """One task column.

    ``title`` is the task id and short name, qualified by version or protocol
    only when the table holds the same task under several of them.
    """

    task: str
    task_name: str
    task_version: str
    protocol: str
    metric: str
    higher_is_better: bool
    kind: str | None
    loso: bool
    opera_task: int | None
    title: str

    @property
    def key(self) -> ColumnKey:
        return (self.task, self.task_version, self.protocol)

    @property
    def metric_label(self) -> str:
        """``"AUROC ↑"``, ``"MAE ↓"``."""
        return f"{self.metric.upper()} {'↑' if self.higher_is_better else '↓'}"

    @property
    def header(self) -> str:
        return f"{self.title} {self.metric_label}"


@dataclass(frozen=True)
class Cell:
    """One encoder × probe × task score.

    ``mean``/``std`` are in the metric's units; ``n_folds`` is 0 for fixed splits.
    ``n_bad_audio`` counts recordings skipped as unusable.
    """

    mean: float
    std: float
    n_seeds: int
    n_folds: int
    seen_in_pretraining: bool
    n_bad_audio: int


@dataclass(frozen=True)
class Delta:
    """AcuLa effect under an aligned row: per column, positive = the aligned encoder is better.

    For ↑ metrics ``aligned − base``; for ↓ metrics ``base − aligned``.
    """

    base: str
    values: dict[ColumnKey, float]
    mean_auroc: float | None


@dataclass
class Row:
    """One encoder (label) under one probe."""

    label: str
    encoder: str
    encoder_id: str
    fingerprint: str
    probe: str
    aligned: bool
    random_init: bool
    weights: str
    run_ids: tuple[str, ...]
    cells: dict[ColumnKey, Cell]
    mean_auroc: float | None = None
    mean_rank: float | None = None
    delta: Delta | None = None


@dataclass
class ProbeGroup:
    """The rows of one probe; means and ranks are computed within a group.

    ``mean_columns``: classification columns every row of the group has (the
    mean-AUROC set); ``rank_columns``: all columns every row has.
    """

    probe: str
    columns: list[Column]
    rows: list[Row]
    mean_columns: list[ColumnKey]
    rank_columns: list[ColumnKey]

    @property
    def partial_auroc_columns(self) -> list[ColumnKey]:
        """Classification columns left out of the mean because some row lacks them."""
        return [c.key for c in self.columns if c.metric == "auroc" and c.key not in self.mean_columns]


@dataclass(frozen=True)
class PublishedRow:
    """A published model's (mean, std) per column; never part of our means or ranks."""

    model: str
    cells: dict[ColumnKey, tuple[float, float]]
    mean_auroc: float | None


@dataclass
class Leaderboard:
    """Everything a renderer needs; build it with :func:`aggregate`."""

    columns: list[Column]
    groups: list[ProbeGroup]
    reference: list[PublishedRow] = field(default_factory=list)
    reference_requested: bool = False
    reference_mean_columns: list[ColumnKey] = field(default_factory=list)

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]

    @property
    def probes(self) -> list[str]:
        return [group.probe for group in self.groups]

    def column(self, key: ColumnKey) -> Column:
        return next(c for c in self.columns if c.key == key)


# -- records ----------------------------------------------------------------------------------------------------


def _normalise(rec: dict[str, Any], where: str) -> dict[str, Any]:
    missing = [k for k in REQUIRED if k not in rec]
    if missing:
        raise LeaderboardError(f"{where}: record lacks {', '.join(missing)} (expected the fields of ResultRecord)")
    value = rec["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LeaderboardError(f"{where}: 'value' must be a number, got {value!r}")
    folds = rec.get("fold_values") or []
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in folds):
        raise LeaderboardError(f"{where}: 'fold_values' must be a list of numbers")
    if not isinstance(rec["higher_is_better"], bool):
        raise LeaderboardError(f"{where}: 'higher_is_better' must be true or false, got {rec['higher_is_better']!r}")
    out = dict(rec)
    out.update(
        value=float(value),
        fold_values=[float(v) for v in folds],
        task_name=rec.get("task_name") or rec["task"],
        task_version=str(rec.get("task_version", "1")),
        protocol=rec.get("protocol") or "default",
        encoder_id=rec.get("encoder_id") or rec["encoder"],
        encoder_fingerprint=rec.get("encoder_fingerprint") or "",
        kind=rec.get("kind"),
        aligned=bool(rec.get("aligned", False)),
        random_init=bool(rec.get("random_init", False)),
        seen_in_pretraining=bool(rec.get("seen_in_pretraining", False)),
        n_bad_audio=int(rec.get("n_bad_audio") or 0),
        weights=rec.get("weights") or "",
        run_id=rec.get("run_id") or "",
        opera_task=rec.get("opera_task"),
    )
    return out


def _key(rec: dict[str, Any]) -> tuple:
    return tuple(rec[k] for k in RECORD_KEY)


def _content(rec: dict[str, Any]) -> str:
    # Everything but provenance: two runs that computed the same fit must agree on all of it.
    return json.dumps({k: v for k, v in rec.items() if k != "run_id"}, sort_keys=True, default=str)


def _dedupe(sourced: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    kept: dict[tuple, tuple[str, dict[str, Any], str]] = {}
    for source, rec in sourced:
        k, content = _key(rec), _content(rec)
        if k not in kept:
            kept[k] = (source, rec, content)
            continue
        first_source, first, first_content = kept[k]
        if content == first_content:
            continue
        diff = sorted(f for f in set(first) | set(rec) if f != "run_id" and first.get(f) != rec.get(f)
                      and not _both_nan(first.get(f), rec.get(f)))
        detail = ", ".join(f"{f} {first.get(f)!r} vs {rec.get(f)!r}" for f in diff[:3])
        raise LeaderboardError(
            f"{first_source} and {source} disagree on {rec['encoder']} · {rec['task']} (version {rec['task_version']}, "
            f"protocol {rec['protocol']}) · probe {rec['probe']} · seed {rec['seed']}: {detail}. The same encoder "
            f"fingerprint, task and seed should give the same record; tabulate one of the two runs, or re-run both "
            f"with the same acubench version."
        )
    return [rec for _, rec, _ in kept.values()]


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


def merge_runs(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Merge the records of several runs, dropping duplicates.

    Parameters
    ----------
    runs : sequence of (name, records)
        ``name`` identifies the run in error messages (its directory).

    Returns
    -------
    list of dict
        Normalised records, each (encoder, fingerprint, task, task version,
        protocol, probe, seed) once, in first-seen order.

    Raises
    ------
    LeaderboardError
        When two runs hold different results for the same key (naming both),
        or a record is malformed.
    """
    sourced = [(name, _normalise(rec, f"{name}: record {i + 1}")) for name, recs in runs for i, rec in enumerate(recs)]
    return _dedupe(sourced)


# -- aggregation ------------------------------------------------------------------------------------------------


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def _columns(records: list[dict[str, Any]]) -> list[Column]:
    by_key: dict[ColumnKey, list[dict[str, Any]]] = {}
    for rec in records:
        by_key.setdefault((rec["task"], rec["task_version"], rec["protocol"]), []).append(rec)
    versions: dict[str, set[str]] = {}
    protocols: dict[str, set[str]] = {}
    for task, version, protocol in by_key:
        versions.setdefault(task, set()).add(version)
        protocols.setdefault(task, set()).add(protocol)
    any_reference_protocol = any(p != "default" for ps in protocols.values() for p in ps)
    columns = []
    for key in sorted(by_key, key=lambda k: (_natural(k[0]), _natural(k[1]), k[2])):
        task, version, protocol = key
        recs = by_key[key]
        for name in ("metric", "higher_is_better", "kind"):
            seen = {r[name] for r in recs}
            if len(seen) > 1:
                raise LeaderboardError(f"task {task} (version {version}): records disagree on {name}: "
                                       f"{sorted(map(str, seen))}; they cannot share a column")
        loso = {bool(r["fold_values"]) for r in recs}
        if len(loso) > 1:
            raise LeaderboardError(f"task {task} (version {version}): some records have per-fold values and some "
                                   f"do not; a task is either leave-one-subject-out or fixed-split")
        name = recs[0]["task_name"]
        title = task if name == task else f"{task} {name}"
        if len(versions[task]) > 1:
            title += f" v{version}"
        if any_reference_protocol:
            title += f" [{protocol}]"
        opera = next((r["opera_task"] for r in recs if r["opera_task"] is not None), None)
        columns.append(Column(task, name, version, protocol, recs[0]["metric"], recs[0]["higher_is_better"],
                              recs[0]["kind"], loso.pop(), opera, title))
    return columns


def _cell(recs: list[dict[str, Any]], where: str) -> Cell:
    folds = [r["fold_values"] for r in recs]
    if folds[0]:
        if len({len(f) for f in folds}) > 1:
            raise LeaderboardError(f"{where}: seeds have different numbers of folds ({sorted({len(f) for f in folds})})")
        per_fold = np.mean(np.array(folds, dtype=float), axis=0)  # [n_folds]: each fold averaged over seeds
        mean, std, n_folds = float(per_fold.mean()), float(per_fold.std()), per_fold.size
    else:
        values = np.array([r["value"] for r in recs], dtype=float)  # [n_seeds]
        mean, std, n_folds = float(values.mean()), float(values.std()), 0
    return Cell(mean=mean, std=std, n_seeds=len(recs), n_folds=n_folds,
                seen_in_pretraining=any(r["seen_in_pretraining"] for r in recs),
                n_bad_audio=max(r["n_bad_audio"] for r in recs))


def _rows(records: list[dict[str, Any]], columns: list[Column]) -> list[Row]:
    fingerprints: dict[str, set[str]] = {}
    for rec in records:
        fingerprints.setdefault(rec["encoder"], set()).add(rec["encoder_fingerprint"])
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        grouped.setdefault((rec["encoder"], rec["encoder_fingerprint"], rec["probe"]), []).append(rec)
    rows = []
    for (encoder, fp, probe), recs in grouped.items():
        # One label, several builds (other weights or config): the fingerprint keeps rows apart.
        label = f"{encoder} [{fp[:8]}]" if len(fingerprints[encoder]) > 1 else encoder
        cells = {}
        for col in columns:
            in_col = [r for r in recs if (r["task"], r["task_version"], r["protocol"]) == col.key]
            if in_col:
                cells[col.key] = _cell(in_col, f"{label} · {col.title} · probe {probe}")
        rows.append(Row(label=label, encoder=encoder, encoder_id=recs[0]["encoder_id"], fingerprint=fp, probe=probe,
                        aligned=any(r["aligned"] for r in recs), random_init=any(r["random_init"] for r in recs),
                        weights=recs[0]["weights"], run_ids=tuple(dict.fromkeys(r["run_id"] for r in recs if r["run_id"])),
                        cells=cells))
    return rows


def _has(row: Row, key: ColumnKey) -> bool:
    return key in row.cells and math.isfinite(row.cells[key].mean)


def _order_pairs(rows: list[Row]) -> list[Row]:
    """Each aligned row right after its base row (first-seen order otherwise)."""
    bases = {id(r): _base_of(r, rows) for r in rows if r.aligned}
    ordered: list[Row] = []
    for row in rows:
        if row.aligned and bases[id(row)] is not None:
            continue
        ordered.append(row)
        ordered.extend(a for a in rows if a.aligned and bases[id(a)] is row)
    return ordered


def _base_of(aligned: Row, rows: list[Row]) -> Row | None:
    candidates = [r for r in rows if not r.aligned and r.encoder_id == aligned.encoder_id and r.probe == aligned.probe]
    if len(candidates) > 1:  # several builds of the base: the one evaluated in the same run
        candidates = [r for r in candidates if set(r.run_ids) & set(aligned.run_ids)]
    return candidates[0] if len(candidates) == 1 else None


def _mean_over(means: dict[ColumnKey, float], keys: list[ColumnKey]) -> float | None:
    return float(np.mean([means[k] for k in keys])) if keys else None


def _group(probe: str, rows: list[Row], columns: list[Column]) -> ProbeGroup:
    cols = [c for c in columns if any(c.key in r.cells for r in rows)]
    common = [c for c in cols if all(_has(r, c.key) for r in rows)]
    mean_keys = [c.key for c in common if c.metric == "auroc"]
    rank_keys = [c.key for c in common]
    rows = _order_pairs(rows)
    for row in rows:
        row.mean_auroc = _mean_over({k: c.mean for k, c in row.cells.items()}, mean_keys)
    if len(rows) > 1 and rank_keys:
        ranks = np.zeros((len(rows), len(rank_keys)))  # [n_rows, n_tasks]
        for j, key in enumerate(rank_keys):
            col = next(c for c in cols if c.key == key)
            score = np.array([r.cells[key].mean for r in rows]) * (1 if col.higher_is_better else -1)
            # "min" ranking as in the OPERA paper: tied rows share the better rank.
            ranks[:, j] = [1 + np.sum(score > s) for s in score]
        for row, rank in zip(rows, ranks.mean(axis=1)):
            row.mean_rank = float(rank)
    for row in rows:
        base = _base_of(row, rows) if row.aligned else None
        if base is None:
            continue
        values = {}
        for col in cols:
            if _has(row, col.key) and _has(base, col.key):
                diff = row.cells[col.key].mean - base.cells[col.key].mean
                values[col.key] = diff if col.higher_is_better else -diff
        mean = row.mean_auroc - base.mean_auroc if row.mean_auroc is not None and base.mean_auroc is not None else None
        row.delta = Delta(base=base.label, values=values, mean_auroc=mean)
    return ProbeGroup(probe=probe, columns=cols, rows=rows, mean_columns=mean_keys, rank_columns=rank_keys)


def _published_rows(columns: list[Column], mean_keys: list[ColumnKey]) -> list[PublishedRow]:
    numbers = {c.key: published(c.task, opera_task=c.opera_task, metric=c.metric) for c in columns}
    if not any(numbers.values()):
        return []
    rows = []
    for model in MODELS:
        cells = {key: by_model[model] for key, by_model in numbers.items() if model in by_model}
        complete = bool(mean_keys) and all(k in cells for k in mean_keys)
        mean = _mean_over({k: m for k, (m, _) in cells.items()}, mean_keys) if complete else None
        rows.append(PublishedRow(model, cells, mean))
    return rows


def aggregate(records: list[dict], *, reference: bool = False) -> Leaderboard:
    """Tabulate result records.

    Parameters
    ----------
    records : list of dict
        Result records (fields of :class:`acubench.results.ResultRecord`),
        from one run or several; identical records are counted once.
    reference : bool
        Attach the published OPERA-paper rows for the columns that have them
        (see :mod:`acubench.leaderboard.reference`); they never enter our means
        or ranks.

    Returns
    -------
    Leaderboard
        Columns in natural task order; one :class:`ProbeGroup` per probe (in
        first-seen order) whose rows keep first-seen order, each aligned row
        directly after its base with its :class:`Delta`.

    Raises
    ------
    LeaderboardError
        No records, malformed records, conflicting duplicates, or one task
        with two metrics.
    """
    if not records:
        raise LeaderboardError("no result records to tabulate (is results.jsonl empty?)")
    recs = _dedupe((r.get("run_id") or "records", _normalise(r, f"record {i + 1}")) for i, r in enumerate(records))
    columns = _columns(recs)
    rows = _rows(recs, columns)
    probes = list(dict.fromkeys(r.probe for r in rows))
    groups = [_group(p, [r for r in rows if r.probe == p], columns) for p in probes]
    board = Leaderboard(columns=columns, groups=groups, reference_requested=reference)
    if reference:
        # One published mean over the tasks that every probe group averages, so it compares with each.
        shared = [k for k in groups[0].mean_columns if all(k in g.mean_columns for g in groups[1:])]
        board.reference = _published_rows(columns, shared)
        board.reference_mean_columns = shared if any(r.mean_auroc is not None for r in board.reference) else []
    return board
