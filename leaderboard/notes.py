"""The notes under a leaderboard: what every number, interval, test and mark means (one sentence each)."""

from __future__ import annotations

from acubench.leaderboard.aggregate import Leaderboard
from acubench.leaderboard.compare import ALPHA
from acubench.leaderboard.reference import CITATION, SOURCE
from acubench.leaderboard.text import (
    DELTA_LABEL,
    MEAN_HEADER,
    RANDOM_MARK,
    RANK_HEADER,
    SEEN_MARK,
    SIGNIFICANT_MARK,
    show_mean,
    show_rank,
    titles,
)


def _comparison_notes(board: Leaderboard) -> list[str]:
    tests = board.all_comparisons
    tested = [c for c in tests if c.test]
    out = []
    if board.compare_with:
        out.append(f"Paired comparisons: every row against {board.compare_with} on the same test clips; Δ positive "
                   "means the row is better (row − baseline for ↑ metrics, baseline − row for ↓).")
    if tested:
        averaged = sorted({f"{name} · {c.task}" for c in tested if c.column
                           for name, how in zip((c.a, c.b), c.how, strict=True) if how == "mean over seeds"})
        scores = ("each row's first-seed per-clip scores (every seed predicted the same: deterministic heads)"
                  if not averaged else
                  "each row's first-seed per-clip scores where every seed predicted the same (deterministic heads), "
                  f"else the per-clip mean over seeds ({', '.join(averaged)}), whose Δ can differ from the "
                  "difference of the cells")
        out.append(f"Tests compare {scores}. 95 % CI of Δ: paired subject bootstrap (both rows resampled with the "
                   f"same subjects, {board.bootstrap.resamples} resamples). p: DeLong's test for binary AUROC (Sun & "
                   "Xu's algorithm; with several clips per subject its variance is taken over subjects, "
                   "Obuchowski 1997), a paired bootstrap for multiclass AUROC and MAE and for the mean AUROC. "
                   f"p (Holm): Holm-adjusted across the tasks of each compared pair. {SIGNIFICANT_MARK} marks "
                   f"p (Holm) < {ALPHA}.")
    out.extend(_grouped("Not tested", [(c.reason, f"{c.a} vs {c.b} · {c.task}") for c in tests
                                       if not c.test and c.reason]))
    return out


def _grouped(lead: str, items: list[tuple[str, str]]) -> list[str]:
    """One note per reason: ``"<lead> a, b, c and 2 more: <reason>."``."""
    by_reason: dict[str, list[str]] = {}
    for reason, where in items:
        by_reason.setdefault(reason, []).append(where)
    out = []
    for reason, where in by_reason.items():
        shown = ", ".join(where[:4]) + (f" and {len(where) - 4} more" if len(where) > 4 else "")
        out.append(f"{lead} {shown}: {reason}.")
    return out


def _interval_notes(board: Leaderboard) -> list[str]:
    cells = [(r, board.column(k), c) for r in board.rows for k, c in r.cells.items()]
    plan = board.bootstrap
    out = []
    if any(c.ci is not None for _, _, c in cells):
        out.append(f"[low, high]: {plan.level:.0%} percentile interval over {plan.resamples} bootstrap resamples "
                   f"(seed {plan.seed}) of the test subjects, all clips of a drawn subject together "
                   "(leave-one-subject-out: the held-out subjects; classification: drawn within groups of subjects "
                   "holding the same classes, so every resample keeps every class); for several seeds it is the "
                   "interval of their mean. The spread over seeds (or folds) is the std in the CSV/JSON.")
    if any(r.mean_auroc_ci is not None for r in board.rows):
        out.append(f"The {MEAN_HEADER} interval resamples each task on its own and averages the tasks' replicates.")
    if board.without_predictions:
        out.append(f"No per-clip predictions in {', '.join(board.without_predictions)} (run folders written before "
                   "acubench 0.2 have none): their cells show the interval their records carry, if any; re-run for "
                   "intervals and comparisons.")
    out.extend(_grouped("No interval for", [(cell.ci_reason, f"{row.label} · {col.title}")
                                            for row, col, cell in cells if cell.ci is None and cell.ci_reason]))
    return out


def notes(board: Leaderboard) -> list[str]:
    """The footnotes that explain a leaderboard's numbers and marks (one sentence each)."""
    out = []
    fixed = [c for c in board.columns if not c.loso]
    loso = [c for c in board.columns if c.loso]
    if fixed:
        out.append("Cells are the test score, the mean over probe seeds"
                   + (f"; for the leave-one-subject-out tasks {', '.join(c.title for c in loso)} the mean over "
                      "held-out subjects (each fold averaged over seeds)." if loso else "."))
    elif loso:
        out.append("All tasks are leave-one-subject-out: cells are the mean over held-out subjects (each fold "
                   "averaged over seeds).")
    out.extend(_interval_notes(board))
    if any(c.kind == "multiclass" for c in board.columns):
        out.append("Multiclass AUROC is the macro average of one-vs-rest AUROCs.")
    multi = len(board.groups) > 1
    for group in board.groups:
        prefix = f"probe {group.probe}: " if multi else ""
        if show_mean(group):
            if group.mean_columns:
                text = (f"{prefix}{MEAN_HEADER} averages the {len(group.mean_columns)} classification task(s) every "
                        f"row has ({titles(board, group.mean_columns)})")
            else:
                text = f"{prefix}{MEAN_HEADER} is not given: no classification task is present in every row"
            partial = group.partial_auroc_columns
            out.append(text + (f"; left out because some rows lack them: {titles(board, partial)}." if partial
                               else "."))
        if show_rank(group):
            out.append(f"{prefix}{RANK_HEADER} averages each row's rank over the {len(group.rank_columns)} task(s) "
                       "every row has (1 = best; tied rows share the better rank).")
    if any(r.delta is not None for r in board.rows):
        out.append(f"{DELTA_LABEL}: the aligned encoder minus its base for ↑ metrics and base minus aligned for ↓ "
                   "metrics, so positive means AcuLa post-training helped in every column"
                   + ("; with its paired test (see below)." if any(r.delta.comparisons for r in board.rows if r.delta)
                      else "."))
    out.extend(_comparison_notes(board))
    if any(r.random_init for r in board.rows):
        out.append(f"{RANDOM_MARK} random initialisation — not a pretrained model.")
    if any(c.seen_in_pretraining for r in board.rows for c in r.cells.values()):
        out.append(f"{SEEN_MARK} task data seen in pre-training (the encoder was pre-trained on this task's dataset).")
    bad = [f"{r.label} · {board.column(k).title}: {c.n_bad_audio}" for r in board.rows for k, c in r.cells.items()
           if c.n_bad_audio > 0]
    if bad:
        out.append("Unusable recordings skipped (--skip-bad-audio), clips per cell: " + "; ".join(bad) + ".")
    if board.reference:
        out.append(f"Published rows: {CITATION} ({SOURCE}). Means ± std as reported (AUROC over 5 seeds; MAE over "
                   "folds) with the reference splits and OPERA's linear probe — compare with runs under "
                   "`--protocol reference --probe reference-linear`; they are not part of our means or ranks, have "
                   "no interval and are never tested (no per-clip predictions exist for them)"
                   + (f"; their {MEAN_HEADER} averages the same tasks as ours "
                      f"({titles(board, board.reference_mean_columns)})." if board.reference_mean_columns else "."))
    elif board.reference_requested:
        out.append("No task in this table has a published OPERA number (none of its records names an OPERA task).")
    return out
