"""Result records → a leaderboard: rows per encoder × probe, one column per task.

Reads only what runs wrote: result records (:class:`acubench.records.results.ResultRecord`)
and their per-clip predictions; never a model, a task or the registry.

Cell statistics
---------------
* the value is the mean of the test score over probe seeds (leave-one-subject-out
  regression: the mean over folds, each fold averaged over seeds);
* the interval is a 95 % percentile bootstrap over test subjects of that value
  (see :mod:`acubench.leaderboard.evidence`);
* ``std`` (kept for CSV/JSON) is the spread over seeds, or over folds for
  leave-one-subject-out regression; population deviations (``ddof=0``), the
  convention of the OPERA benchmark's published tables.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from acubench.errors import AcubenchError
from acubench.leaderboard.compare import Comparison, ComparisonError, compare_rows, replicate_cache
from acubench.leaderboard.evidence import (
    BootstrapPlan,
    CellEvidence,
    Draws,
    EvidenceError,
    cell_evidence,
    mean_interval,
    recorded_interval,
)
from acubench.leaderboard.reference import MODELS, published
from acubench.records.results import RecordError, ResultRecord, RunResults

if TYPE_CHECKING:
    import pandas as pd

ColumnKey = tuple[str, str, str]  # (task, task_version, protocol)


class LeaderboardError(AcubenchError, ValueError):
    """Records that cannot be tabulated: malformed records, conflicts, mixed metrics, mismatched predictions."""


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
    published_as: Mapping[str, int]
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

    ``mean``/``std`` are in the metric's units (``std`` over seeds, or over
    folds for leave-one-subject-out regression); ``ci`` the 95 % bootstrap
    interval of ``mean`` or None, with ``ci_reason``; ``n_folds`` is 0 for fixed
    splits; ``n_bad_audio`` counts recordings skipped as unusable; ``evidence``
    holds the per-clip scores when the run wrote predictions.
    """

    mean: float
    std: float
    n_seeds: int
    n_folds: int
    seen_in_pretraining: bool
    n_bad_audio: int
    ci: tuple[float, float] | None = None
    ci_reason: str = ""
    evidence: CellEvidence | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Delta:
    """AcuLa effect under an aligned row: per column, positive = the aligned encoder is better.

    For ↑ metrics ``aligned − base``; for ↓ metrics ``base − aligned``. With
    per-clip predictions, ``comparisons`` holds each column's paired test
    (its Δ from the compared scores, interval and p-value) and ``mean`` the
    mean AUROC's.
    """

    base: str
    values: dict[ColumnKey, float]
    mean_auroc: float | None
    comparisons: dict[ColumnKey, Comparison] = field(default_factory=dict)
    mean: Comparison | None = None


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
    mean_auroc_ci: tuple[float, float] | None = None
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
    bootstrap: BootstrapPlan = field(default_factory=BootstrapPlan)
    #: Sources (run folders) whose records came without predictions.parquet.
    without_predictions: list[str] = field(default_factory=list)
    #: ``--compare ROW``: the baseline row label, and every other row's comparisons with it.
    compare_with: str | None = None
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]

    @property
    def probes(self) -> list[str]:
        return [group.probe for group in self.groups]

    def column(self, key: ColumnKey) -> Column:
        return next(c for c in self.columns if c.key == key)

    @property
    def all_comparisons(self) -> list[Comparison]:
        """The ``--compare`` comparisons, then each aligned pair's Δ tests (per task, then the mean AUROC)."""
        out = list(self.comparisons)
        for row in self.rows:
            if row.delta is not None:
                out.extend(row.delta.comparisons.values())
                out.extend([row.delta.mean] if row.delta.mean else [])
        return out


# -- records ----------------------------------------------------------------------------------------------------


@dataclass
class Merged:
    """Records of one or more runs, each fit once, with each record's prediction rows and source."""

    records: list[ResultRecord]
    predictions: dict[tuple, pd.DataFrame] = field(default_factory=dict)
    sources: dict[tuple, str] = field(default_factory=dict)


def _as_record(rec: ResultRecord | Mapping[str, Any], where: str) -> ResultRecord:
    if isinstance(rec, ResultRecord):
        return rec
    try:
        return ResultRecord.from_dict(rec, where=where)
    except RecordError as exc:
        raise LeaderboardError(str(exc)) from None


def _content(rec: ResultRecord) -> str:
    # Everything but provenance: two runs that computed the same fit must agree on all of it.
    return json.dumps({k: v for k, v in rec.to_dict().items() if k != "run_id"}, sort_keys=True, default=str)


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


def _fit_rows(predictions: pd.DataFrame | None) -> dict[tuple, pd.DataFrame]:
    """A run's prediction rows by (encoder, task, probe, seed), the fit they belong to within the run."""
    if predictions is None or not len(predictions):
        return {}
    keys = ["encoder", "task", "probe", "seed"]
    return {tuple(k): rows for k, rows in predictions.groupby(keys, sort=False, dropna=False)}


def merge_runs(runs: Sequence[RunResults]) -> Merged:
    """Merge the records of several runs, dropping duplicates.

    Parameters
    ----------
    runs : sequence of RunResults
        ``source`` names the run in messages (its directory); ``records`` may be
        :class:`ResultRecord` or JSON dicts (validated); ``predictions`` optional.

    Returns
    -------
    Merged
        Each (encoder, fingerprint, task, task version, protocol, probe, seed)
        once, in first-seen order, with the prediction rows of its run.

    Raises
    ------
    LeaderboardError
        When two runs hold different results for the same key (naming both),
        or a record is malformed.
    """
    merged = Merged([])
    kept: dict[tuple, tuple[ResultRecord, str]] = {}
    for run in runs:
        rows = _fit_rows(run.predictions)
        for i, raw in enumerate(run.records):
            rec = _as_record(raw, f"{run.source}: record {i + 1}")
            key, content = rec.key, _content(rec)
            if key in kept:
                first, first_content = kept[key]
                if content != first_content:
                    _conflict(first, merged.sources[key], rec, run.source)
                continue
            kept[key] = (rec, content)
            merged.records.append(rec)
            merged.sources[key] = run.source
            fit = rows.get((rec.encoder, rec.task, rec.probe, rec.seed))
            if fit is not None:
                merged.predictions[key] = fit
    return merged


def _conflict(first: ResultRecord, first_source: str, rec: ResultRecord, source: str) -> None:
    a, b = first.to_dict(), rec.to_dict()
    diff = sorted(f for f in set(a) | set(b)
                  if f != "run_id" and a.get(f) != b.get(f) and not _both_nan(a.get(f), b.get(f)))
    detail = ", ".join(f"{f} {a.get(f)!r} vs {b.get(f)!r}" for f in diff[:3])
    raise LeaderboardError(
        f"{first_source} and {source} disagree on {rec.encoder} · {rec.task} (version {rec.task_version}, "
        f"protocol {rec.protocol}) · probe {rec.probe} · seed {rec.seed}: {detail}. The same encoder "
        f"fingerprint, task and seed should give the same record; tabulate one of the two runs, or re-run both "
        f"with the same acubench version."
    )


# -- aggregation ------------------------------------------------------------------------------------------------


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def _column_key(rec: ResultRecord) -> ColumnKey:
    return (rec.task, rec.task_version, rec.protocol)


def _columns(records: list[ResultRecord]) -> list[Column]:
    by_key: dict[ColumnKey, list[ResultRecord]] = {}
    for rec in records:
        by_key.setdefault(_column_key(rec), []).append(rec)
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
        for name in ("metric", "higher_is_better", "kind", "split_scheme"):
            seen = {getattr(r, name) for r in recs}
            if len(seen) > 1:
                raise LeaderboardError(f"task {task} (version {version}): records disagree on {name}: "
                                       f"{sorted(map(str, seen))}; they cannot share a column")
        name = recs[0].task_name
        title = task if name == task else f"{task} {name}"
        if len(versions[task]) > 1:
            title += f" v{version}"
        if any_reference_protocol:
            title += f" [{protocol}]"
        published_as: dict[str, int] = {}
        for rec in recs:
            published_as.update(rec.published_as)
        columns.append(Column(task, name, version, protocol, recs[0].metric, recs[0].higher_is_better,
                              recs[0].kind or None, recs[0].split_scheme == "loso", published_as, title))
    return columns


def _cell(recs: list[ResultRecord], rows: list[pd.DataFrame] | None, draws: Draws, where: str) -> Cell:
    folds = [r.fold_values for r in recs]
    if folds[0]:
        if len({len(f) for f in folds}) > 1:
            counts = sorted({len(f) for f in folds})
            raise LeaderboardError(f"{where}: seeds have different numbers of folds ({counts})")
        per_fold = np.mean(np.array(folds, dtype=float), axis=0)  # [n_folds]: each fold averaged over seeds
        mean, std, n_folds = float(per_fold.mean()), float(per_fold.std()), per_fold.size
    else:
        values = np.array([r.value for r in recs], dtype=float)  # [n_seeds]
        mean, std, n_folds = float(values.mean()), float(values.std()), 0
    evidence, ci, reason = None, None, ""
    if rows is not None and math.isfinite(mean):
        try:
            evidence = cell_evidence(recs, rows, draws, where)
        except EvidenceError as exc:
            raise LeaderboardError(str(exc)) from None
        ci, reason = evidence.ci, evidence.reason or ""
    else:
        ci, reason = recorded_interval(recs)
    return Cell(mean=mean, std=std, n_seeds=len(recs), n_folds=n_folds,
                seen_in_pretraining=any(r.seen_in_pretraining for r in recs),
                n_bad_audio=max(r.n_bad_audio for r in recs), ci=ci, ci_reason=reason, evidence=evidence)


def _rows(merged: Merged, columns: list[Column], draws: Draws) -> list[Row]:
    fingerprints: dict[str, set[str]] = {}
    for rec in merged.records:
        fingerprints.setdefault(rec.encoder, set()).add(rec.encoder_fingerprint)
    grouped: dict[tuple[str, str, str], list[ResultRecord]] = {}
    for rec in merged.records:
        grouped.setdefault((rec.encoder, rec.encoder_fingerprint, rec.probe), []).append(rec)
    rows = []
    for (encoder, fp, probe), recs in grouped.items():
        # One label, several builds (other weights or config): the fingerprint keeps rows apart.
        label = f"{encoder} [{fp[:8]}]" if len(fingerprints[encoder]) > 1 else encoder
        cells = {}
        for col in columns:
            in_col = sorted((r for r in recs if _column_key(r) == col.key), key=lambda r: r.seed)
            if in_col:
                found = [merged.predictions.get(r.key) for r in in_col]
                rows_ = None if any(f is None for f in found) else found
                cells[col.key] = _cell(in_col, rows_, draws, f"{label} · {col.title} · probe {probe}")
        rows.append(Row(label=label, encoder=encoder, encoder_id=recs[0].encoder_id, fingerprint=fp, probe=probe,
                        aligned=any(r.aligned for r in recs), random_init=any(r.random_init for r in recs),
                        weights=recs[0].weights, run_ids=tuple(dict.fromkeys(r.run_id for r in recs if r.run_id)),
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


def _group(probe: str, rows: list[Row], columns: list[Column], plan: BootstrapPlan, cache) -> ProbeGroup:
    cols = [c for c in columns if any(c.key in r.cells for r in rows)]
    common = [c for c in cols if all(_has(r, c.key) for r in rows)]
    mean_keys = [c.key for c in common if c.metric == "auroc"]
    rank_keys = [c.key for c in common]
    rows = _order_pairs(rows)
    for row in rows:
        row.mean_auroc = _mean_over({k: c.mean for k, c in row.cells.items()}, mean_keys)
        reps = [row.cells[k].evidence.replicates if row.cells[k].evidence else None for k in mean_keys]
        row.mean_auroc_ci = mean_interval(reps, plan)
    if len(rows) > 1 and rank_keys:
        ranks = np.zeros((len(rows), len(rank_keys)))  # [n_rows, n_tasks]
        for j, key in enumerate(rank_keys):
            col = next(c for c in cols if c.key == key)
            score = np.array([r.cells[key].mean for r in rows]) * (1 if col.higher_is_better else -1)
            # "min" ranking as in the OPERA paper: tied rows share the better rank.
            ranks[:, j] = [1 + np.sum(score > s) for s in score]
        for row, rank in zip(rows, ranks.mean(axis=1), strict=True):
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
        tests = compare_rows(row, base, cols, mean_keys, cache, strict=False)
        by_column = {c.column: c for c in tests if c.column is not None and c.test is not None}
        mean_test = next((c for c in tests if c.column is None), None)
        row.delta = Delta(base=base.label, values=values, mean_auroc=mean, comparisons=by_column, mean=mean_test)
    return ProbeGroup(probe=probe, columns=cols, rows=rows, mean_columns=mean_keys, rank_columns=rank_keys)


def _published_rows(columns: list[Column], mean_keys: list[ColumnKey]) -> list[PublishedRow]:
    numbers = {c.key: published(c.published_as.get("opera"), metric=c.metric) for c in columns}
    if not any(numbers.values()):
        return []
    rows = []
    for model in MODELS:
        cells = {key: by_model[model] for key, by_model in numbers.items() if model in by_model}
        complete = bool(mean_keys) and all(k in cells for k in mean_keys)
        mean = _mean_over({k: m for k, (m, _) in cells.items()}, mean_keys) if complete else None
        rows.append(PublishedRow(model, cells, mean))
    return rows


def _comparisons(board: Leaderboard, baseline: str, cache) -> list[Comparison]:
    labels = [r.label for r in board.rows]
    if baseline not in labels:
        raise LeaderboardError(f"--compare {baseline}: no such row; the rows are {', '.join(dict.fromkeys(labels))}")
    out: list[Comparison] = []
    for group in board.groups:
        base = next((r for r in group.rows if r.label == baseline), None)
        if base is None:
            continue
        for row in group.rows:
            if row is not base:
                try:
                    out.extend(compare_rows(row, base, group.columns, group.mean_columns, cache, strict=True))
                except ComparisonError as exc:
                    raise LeaderboardError(str(exc)) from None
    return out


def aggregate(records: Sequence[ResultRecord | Mapping[str, Any]] | Merged, *, reference: bool = False,
              bootstrap: int | None = None, compare: str | None = None) -> Leaderboard:
    """Tabulate result records.

    Parameters
    ----------
    records : sequence of ResultRecord (or JSON dicts), or Merged
        From one run or several; identical records are counted once. A
        :class:`Merged` (see :func:`merge_runs`) brings the runs' predictions,
        which give every cell its interval.
    reference : bool
        Attach the published OPERA-paper rows for the columns whose records name
        an OPERA task (``published_as``); they never enter our means or ranks.
    bootstrap : int, optional
        Resamples for the intervals; default what the runs recorded (1000).
    compare : str, optional
        A row label: compare every other row of its probe group with it on each
        task (see :mod:`acubench.leaderboard.compare`). Aligned rows are always
        compared with their base.

    Returns
    -------
    Leaderboard
        Columns in natural task order; one :class:`ProbeGroup` per probe (in
        first-seen order) whose rows keep first-seen order, each aligned row
        directly after its base with its :class:`Delta`.

    Raises
    ------
    LeaderboardError
        No records, malformed records, conflicting duplicates, one task with two
        metrics, predictions that do not reproduce their records, or a
        ``compare`` row that is absent or does not share a task's test clips.
    """
    if isinstance(records, Merged):
        merged = records
    else:  # each record named by its run, as a run folder would be
        merged = merge_runs([RunResults((r.run_id if isinstance(r, ResultRecord) else r.get("run_id")) or "records",
                                        [r]) for r in records])
    if not merged.records:
        raise LeaderboardError("no result records to tabulate (is results.jsonl empty?)")
    plan = BootstrapPlan.from_records(merged.records, bootstrap)
    columns = _columns(merged.records)
    draws = Draws(plan)
    rows = _rows(merged, columns, draws)
    probes = list(dict.fromkeys(r.probe for r in rows))
    cache = replicate_cache(draws)
    groups = [_group(p, [r for r in rows if r.probe == p], columns, plan, cache) for p in probes]
    board = Leaderboard(columns=columns, groups=groups, reference_requested=reference, bootstrap=plan)
    if compare is not None:
        board.compare_with = compare
        board.comparisons = _comparisons(board, compare, cache)
    board.without_predictions = sorted({merged.sources.get(r.key, r.run_id) for r in merged.records
                                        if r.key not in merged.predictions})
    if reference:
        # One published mean over the tasks that every probe group averages, so it compares with each.
        shared = [k for k in groups[0].mean_columns if all(k in g.mean_columns for g in groups[1:])]
        board.reference = _published_rows(columns, shared)
        board.reference_mean_columns = shared if any(r.mean_auroc is not None for r in board.reference) else []
    return board


def board_from_runs(runs: Sequence[RunResults], *, reference: bool = False, bootstrap: int | None = None,
                    probes: Sequence[str] | None = None, compare: str | None = None) -> Leaderboard:
    """Merge run folders' results and tabulate them (see :func:`merge_runs`, :func:`aggregate`).

    ``probes`` keeps only those probe heads (an error names the probes the runs hold when none is left).
    """
    merged = merge_runs(runs)
    if probes:
        held = sorted({r.probe for r in merged.records})
        merged.records = [r for r in merged.records if r.probe in probes]
        if not merged.records:
            raise LeaderboardError(f"no records for probe {', '.join(probes)}; the runs hold {', '.join(held)}")
    return aggregate(merged, reference=reference, bootstrap=bootstrap, compare=compare)
