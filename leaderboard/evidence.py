"""The per-clip evidence behind a leaderboard cell: its bootstrap interval and its comparable scores.

A cell holds one row's records on one task (one per probe seed). With the run's
``predictions.parquet`` the cell gets

* an interval for the value it shows (the mean over seeds): each seed's metric
  is recomputed under the same subject resamples and averaged, and the
  percentile interval is taken over those averages;
* the scores a paired comparison uses: the first seed's when every seed
  predicted the same (a deterministic head), else the per-clip mean over seeds.

Without predictions (run folders of acubench 0.1, or ``--bootstrap 0``) a cell
of one distinct fit keeps the interval its record carries, and otherwise has
none; the reason is kept for the notes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from acubench.errors import AcubenchError
from acubench.records import stats
from acubench.records.predictions import clip_scores, score_matrix
from acubench.records.results import ResultRecord

if TYPE_CHECKING:
    import pandas as pd

#: Relative tolerance between a record's value and the value recomputed from its predictions.
_MATCH = 1e-9


class EvidenceError(AcubenchError, ValueError):
    """Predictions that do not reproduce their records (files of different runs in one folder)."""


@dataclass(frozen=True)
class BootstrapPlan:
    """How leaderboard intervals are drawn: ``resamples`` (0: none) seeded with ``seed``."""

    resamples: int = stats.RESAMPLES
    seed: int = 0
    level: float = stats.LEVEL

    @classmethod
    def from_records(cls, records: Sequence[ResultRecord], resamples: int | None = None) -> BootstrapPlan:
        """The plan the runs recorded (the first record that ran a bootstrap), unless ``resamples`` overrides it."""
        info = next((r.bootstrap for r in records if r.bootstrap.get("resamples")), {})
        return cls(resamples=info.get("resamples", stats.RESAMPLES) if resamples is None else resamples,
                   seed=int(info.get("seed", 0)), level=float(info.get("level", stats.LEVEL)))


class Draws:
    """Subject draws of one plan, one per distinct set of strata: every row of a task shares its task's draw.

    Sharing is what pairs the rows (resample b holds the same subjects for all of
    them), and it spares drawing the same counts once per cell.
    """

    def __init__(self, plan: BootstrapPlan) -> None:
        self.plan = plan
        self._draws: dict[bytes, np.ndarray] = {}

    def __call__(self, scores: stats.ClipScores) -> np.ndarray:
        strata = scores.strata()
        key = strata.tobytes() + str(strata.dtype).encode()
        if key not in self._draws:
            self._draws[key] = stats.draw(strata, self.plan.resamples, self.plan.seed)
        return self._draws[key]


@dataclass(eq=False)
class CellEvidence:
    """What a cell's predictions give.

    Attributes
    ----------
    clip_id : ndarray of str, shape (n,)
        The test clips, sorted; every array below follows this order.
    scores : ClipScores
        The scores comparisons use (see :attr:`how`).
    how : {"first seed", "mean over seeds"}
    replicates : ndarray, shape (resamples,), or None
        The cell value under each subject resample (None without a bootstrap).
    ci : (float, float) or None
    reason : str or None
        Why there is no interval.
    """

    clip_id: np.ndarray
    scores: stats.ClipScores
    how: str
    replicates: np.ndarray | None
    ci: tuple[float, float] | None
    reason: str | None


def cell_evidence(records: Sequence[ResultRecord], rows: Sequence[pd.DataFrame], draws: Draws,
                  where: str) -> CellEvidence:
    """Evidence of one cell from its records and each record's prediction rows (same order).

    Raises
    ------
    EvidenceError
        A record whose value its predictions do not reproduce, or seeds scored on different clips.
    """
    first = records[0]
    kind, classes, scheme = first.kind, first.classes, first.split_scheme
    per_seed, written, order = [], None, None
    for rec, seed_rows in zip(records, rows, strict=True):
        ids = seed_rows["clip_id"].to_numpy()
        if written is None:  # every seed of a fit writes its clips in one order: sort once
            written, order = ids, np.argsort(ids, kind="stable")
        elif not np.array_equal(ids, written):
            raise EvidenceError(f"{where}: seeds {first.seed} and {rec.seed} were scored on different test clips")
        seed_rows = seed_rows.iloc[order]
        cs = clip_scores(seed_rows, kind=kind, classes=classes, split_scheme=scheme)
        recomputed = stats.point(cs)
        if not math.isclose(recomputed, rec.value, rel_tol=_MATCH, abs_tol=1e-12):
            raise EvidenceError(
                f"{where} · seed {rec.seed}: predictions.parquet gives {recomputed:.6f} but results.jsonl says "
                f"{rec.value:.6f}; the two files come from different runs (re-run, or remove predictions.parquet)")
        per_seed.append((cs, score_matrix(seed_rows, kind, classes)))
    # Distinct fits only: a deterministic head repeats one fit for every seed.
    distinct: list[tuple[stats.ClipScores, np.ndarray, int]] = []
    for cs, s in per_seed:
        match = next((i for i, (_, t, _) in enumerate(distinct) if np.array_equal(s, t)), None)
        if match is None:
            distinct.append((cs, s, 1))
        else:
            c, t, k = distinct[match]
            distinct[match] = (c, t, k + 1)
    clip_ids = written[order].astype(str)
    base = distinct[0][0]
    if len(distinct) == 1:
        combined, how = base, "first seed"
    else:
        mean = sum(k * s for _, s, k in distinct) / len(per_seed)
        combined = stats.ClipScores(base.kind, base.y, mean, base.unit, base.n_classes, base.per_unit)
        how = "mean over seeds"
    plan = draws.plan
    reason = stats.no_interval_reason(base) if plan.resamples else "bootstrap turned off (--bootstrap 0)"
    if reason:
        return CellEvidence(clip_ids, combined, how, None, None, reason)
    counts = draws(base)
    reps = sum(k * stats.replicates(cs, counts) for cs, _, k in distinct) / len(per_seed)
    return CellEvidence(clip_ids, combined, how, reps, stats.percentile_interval(reps, plan.level), None)


def recorded_interval(records: Sequence[ResultRecord]) -> tuple[tuple[float, float] | None, str]:
    """Without predictions: the records' own interval when the cell is one distinct fit, else the reason for none."""
    if all(r.ci95 is None for r in records):
        reasons = {r.bootstrap.get("reason") for r in records} - {None}
        return None, (reasons.pop() if len(reasons) == 1 else "")
    if len({(r.value, tuple(r.ci95 or ())) for r in records}) == 1:
        low, high = records[0].ci95  # type: ignore[misc]
        return (low, high), ""
    return None, "the run folder holds no predictions.parquet to combine its seeds' intervals"


def mean_interval(replicates: Sequence[np.ndarray | None], plan: BootstrapPlan) -> tuple[float, float] | None:
    """Interval of a mean over tasks: each task resampled on its own, the b-th replicates averaged."""
    if not replicates or any(r is None for r in replicates):
        return None
    return stats.percentile_interval(np.mean(np.vstack(replicates), axis=0), plan.level)
