"""Paired comparisons of two leaderboard rows on the same test clips.

For each task both rows have, Δ is oriented so that positive means row ``a`` is
better (``a − b`` for ↑ metrics, ``b − a`` for ↓). Its 95 % interval comes from
a paired subject bootstrap (both rows resampled with the same subjects); the
p-value from DeLong's test for binary AUROC (:func:`acubench.records.stats.delong`) and
from the paired bootstrap for multiclass AUROC and MAE. Holm's adjustment runs
over the tasks of the pair. The mean AUROC gets a Δ, an interval and a
paired-bootstrap p-value too, as a family of its own (it summarises the tasks).

Comparisons use each row's per-clip scores of the first seed when every seed
predicted the same (deterministic heads), else the per-clip mean over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from acubench.leaderboard.evidence import BootstrapPlan, CellEvidence, Draws
from acubench.records import stats

if TYPE_CHECKING:
    from acubench.leaderboard.aggregate import Column, ColumnKey, Row

#: Holm-adjusted p-values below this are marked significant.
ALPHA = 0.05
MEAN_TASK = "mean AUROC"


class ComparisonError(ValueError):
    """Two rows that cannot be compared on a task (different test clips)."""


@dataclass(frozen=True)
class Comparison:
    """Row ``a`` against row ``b`` on one task (``column`` None: the mean AUROC).

    ``test`` is ``"delong"``, ``"paired-bootstrap"`` or None when no test was
    possible (``reason`` says why); ``how`` says which per-clip scores were
    compared for (a, b).
    """

    column: ColumnKey | None
    task: str
    probe: str
    a: str
    b: str
    delta: float
    ci95: tuple[float, float] | None
    p_value: float | None
    test: str | None
    p_holm: float | None = None
    how: tuple[str, str] = ("", "")
    n_clips: int = 0
    n_subjects: int = 0
    reason: str = ""

    @property
    def significant(self) -> bool:
        return self.p_holm is not None and self.p_holm < ALPHA

    def to_dict(self) -> dict:
        """The ``comparisons`` entry of ``leaderboard.json``."""
        version, protocol = (self.column[1], self.column[2]) if self.column else (None, None)
        return {"task": self.task, "task_version": version, "protocol": protocol, "probe": self.probe, "a": self.a,
                "b": self.b, "delta": _finite(self.delta), "ci95": list(self.ci95) if self.ci95 else None,
                "p_value": _finite(self.p_value), "p_holm": _finite(self.p_holm), "test": self.test,
                "scores": {"a": self.how[0], "b": self.how[1]}, "n_clips": self.n_clips or None,
                "n_subjects": self.n_subjects or None, "reason": self.reason or None}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class _Replicates:
    """Each compared cell's replicates of its compared scores under its task's shared draw, computed once."""

    def __init__(self, draws: Draws) -> None:
        self.draws = draws
        self._reps: dict[int, np.ndarray] = {}

    def __call__(self, ev: CellEvidence) -> np.ndarray:
        if id(ev) not in self._reps:
            if ev.how == "first seed" and ev.replicates is not None:
                self._reps[id(ev)] = ev.replicates  # the cell's own: the same scores under the same draw
            else:
                self._reps[id(ev)] = stats.replicates(ev.scores, self.draws(ev.scores))
        return self._reps[id(ev)]


def _check_shared(a: CellEvidence, b: CellEvidence) -> str:
    """Why two cells cannot be paired ("" when they can)."""
    if not np.array_equal(a.clip_id, b.clip_id):
        shared = len(np.intersect1d(a.clip_id, b.clip_id))
        return f"they do not share test clips ({shared} in common of {len(a.clip_id)} and {len(b.clip_id)})"
    if not (np.array_equal(a.scores.y, b.scores.y) and np.array_equal(a.scores.unit, b.scores.unit)):
        return "their test clips carry different labels or subjects"
    return ""


def _pair(a: Row, b: Row, col: Column, reps: _Replicates, plan: BootstrapPlan, strict: bool) -> Comparison:
    ca, cb = a.cells[col.key], b.cells[col.key]
    sign = 1.0 if col.higher_is_better else -1.0
    base = dict(column=col.key, task=col.task, probe=a.probe, a=a.label, b=b.label)
    ea, eb = ca.evidence, cb.evidence
    if ea is None or eb is None:
        return Comparison(**base, delta=sign * (ca.mean - cb.mean), ci95=None, p_value=None, test=None,
                          reason="no per-clip predictions (a run folder without predictions.parquet)")
    why = _check_shared(ea, eb)
    if why:
        if strict:
            raise ComparisonError(f"cannot compare {a.label} (run {', '.join(a.run_ids) or '?'}) with {b.label} "
                                  f"(run {', '.join(b.run_ids) or '?'}) on {col.title}: {why}; the runs used "
                                  "different splits, protocols or data")
        return Comparison(**base, delta=sign * (ca.mean - cb.mean), ci95=None, p_value=None, test=None, reason=why)
    delta = sign * (stats.point(ea.scores) - stats.point(eb.scores))
    extra = dict(how=(ea.how, eb.how), n_clips=len(ea.clip_id), n_subjects=ea.scores.n_units)
    reason = stats.no_interval_reason(eb.scores) if plan.resamples else "bootstrap turned off (--bootstrap 0)"
    ci, boot_p = None, math.nan
    if not reason:
        d = sign * (reps(ea) - reps(eb))
        ci, boot_p = stats.percentile_interval(d, plan.level), stats.paired_p(d)
    if col.kind == "binary" and col.metric == "auroc" and len(ea.scores.classes_present) == 2:
        test = stats.delong(ea.scores.y, ea.scores.score, eb.scores.score, ea.scores.unit)
        if math.isfinite(test.p):
            return Comparison(**base, delta=delta, ci95=ci, p_value=test.p, test="delong", **extra)
        reason = reason or "fewer than two subjects hold one of the classes (DeLong's variance is undefined)"
    if reason:
        return Comparison(**base, delta=delta, ci95=ci, p_value=None, test=None, reason=reason, **extra)
    return Comparison(**base, delta=delta, ci95=ci, p_value=boot_p, test="paired-bootstrap", **extra)


def _mean_comparison(a: Row, b: Row, keys: Sequence[ColumnKey], per_task: dict, reps: _Replicates,
                     plan: BootstrapPlan) -> Comparison | None:
    tested = [per_task.get(k) for k in keys]
    if not keys or any(c is None or c.test is None for c in tested) or not plan.resamples:
        return None
    d = np.mean([reps(a.cells[k].evidence) - reps(b.cells[k].evidence) for k in keys], axis=0)
    delta = float(np.mean([c.delta for c in tested]))
    p = stats.paired_p(d)
    return Comparison(column=None, task=MEAN_TASK, probe=a.probe, a=a.label, b=b.label, delta=delta,
                      ci95=stats.percentile_interval(d, plan.level), p_value=p, p_holm=p, test="paired-bootstrap",
                      how=tested[0].how)


def compare_rows(a: Row, b: Row, columns: Sequence[Column], mean_keys: Sequence[ColumnKey], cache: _Replicates, *,
                 strict: bool) -> list[Comparison]:
    """Row ``a`` against row ``b`` on every column both have, Holm-adjusted across those tasks, then the mean AUROC.

    Parameters
    ----------
    cache : from :func:`replicate_cache`
        Shares draws and replicates across the comparisons of one table.
    strict : bool
        Raise :class:`ComparisonError` when the rows do not share a task's test
        clips (an explicit ``--compare``); otherwise record the reason.
    """
    reps, plan = cache, cache.draws.plan
    out = [_pair(a, b, col, reps, plan, strict) for col in columns if col.key in a.cells and col.key in b.cells
           and math.isfinite(a.cells[col.key].mean) and math.isfinite(b.cells[col.key].mean)]
    adjusted = stats.holm([c.p_value if c.p_value is not None else math.nan for c in out])
    out = [_with_holm(c, p) for c, p in zip(out, adjusted, strict=True)]
    mean = _mean_comparison(a, b, list(mean_keys), {c.column: c for c in out}, reps, plan)
    return out + ([mean] if mean else [])


def _with_holm(c: Comparison, p: float) -> Comparison:
    return replace(c, p_holm=p if math.isfinite(p) else None)


def replicate_cache(draws: Draws) -> _Replicates:
    """A cache to share across the comparisons of one table (the baseline's replicates are computed once)."""
    return _Replicates(draws)
