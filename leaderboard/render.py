"""Leaderboard → Markdown (tabulate), tidy CSV/JSON, a rich terminal table, and the files of a run.

Markdown is for papers and READMEs: one table per probe, the AcuLa effect
("Δ acula") under each aligned pair, published rows in a block of their own,
and notes that say what every number and mark means. CSV and JSON hold the
same tidy long table (one row per encoder × probe × task) for users' own
plotting; :func:`read_long_table` loads either back with the right types.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table
from rich.text import Text
from tabulate import tabulate

from acubench.errors import PathNotFound
from acubench.leaderboard.aggregate import Cell, Column, Leaderboard, ProbeGroup, PublishedRow, Row
from acubench.leaderboard.reference import CITATION, ENCODERS, LABEL, SOURCE
from acubench.paths import atomic_write

RANDOM_MARK = "†"
SEEN_MARK = "‡"
DELTA_LABEL = "Δ acula"
MEAN_HEADER = "mean AUROC ↑"
RANK_HEADER = "mean rank ↓"
MISSING = "—"
DEFAULT_TITLE = "acubench leaderboard"

#: The tidy long table: column → pandas dtype (nullable, so absent values survive CSV and JSON alike).
LONG_COLUMNS: dict[str, str] = {
    "source": "string", "encoder": "string", "encoder_id": "string", "encoder_fingerprint": "string",
    "probe": "string", "aligned": "boolean", "random_init": "boolean", "weights": "string",
    "task": "string", "task_name": "string", "task_version": "string", "protocol": "string", "kind": "string",
    "metric": "string", "higher_is_better": "boolean", "split": "string", "mean": "Float64", "std": "Float64",
    "ci_low": "Float64", "ci_high": "Float64", "n_seeds": "Int64", "n_folds": "Int64", "seen_in_pretraining": "boolean", "n_bad_audio": "Int64",
    "base_encoder": "string", "delta_vs_base": "Float64", "citation": "string",
}


# -- cell text --------------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def format_interval(value: float | None, ci: tuple[float, float] | None, digits: int = 3) -> str:
    """``"0.812 [0.771, 0.850]"``; the value alone without an interval."""
    if ci is None or value is None or not math.isfinite(value):
        return _num(value, digits)
    return f"{_num(value, digits)} [{_num(ci[0], digits)}, {_num(ci[1], digits)}]"


def format_cell(cell: Cell | None) -> str:
    """``"0.812 [0.771, 0.850]"`` (value and 95 % interval), ``" ‡"`` added when the task's data was seen in pre-training."""
    if cell is None:
        return MISSING
    text = format_interval(cell.mean, cell.ci)
    return f"{text} {SEEN_MARK}" if cell.seen_in_pretraining else text


def format_delta(value: float | None) -> str:
    """Signed, three decimals: ``"+0.012"``, ``"-0.030"``; a zero shows unsigned."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return "n/a"
    return "0.000" if round(value, 3) == 0 else f"{value:+.3f}"


def _label(row: Row) -> str:
    return f"{row.label} {RANDOM_MARK}" if row.random_init else row.label


def _show_mean(group: ProbeGroup) -> bool:
    return any(c.metric == "auroc" for c in group.columns)


def _show_rank(group: ProbeGroup) -> bool:
    return any(r.mean_rank is not None for r in group.rows)


def _group_lines(group: ProbeGroup) -> tuple[list[str], list[list[str]]]:
    """Header and body rows of one probe's table (our rows and their Δ rows)."""
    mean, rank = _show_mean(group), _show_rank(group)
    headers = ["encoder"] + [c.header for c in group.columns] + ([MEAN_HEADER] if mean else []) + ([RANK_HEADER] if rank else [])
    body = []
    for row in group.rows:
        line = [_label(row)] + [format_cell(row.cells.get(c.key)) for c in group.columns]
        line += [format_interval(row.mean_auroc, row.mean_auroc_ci)] if mean else []
        line += [_num(row.mean_rank, 2)] if rank else []
        body.append(line)
        if row.delta is not None:
            d = row.delta
            line = [DELTA_LABEL] + [format_delta(d.values.get(c.key)) for c in group.columns]
            line += [format_delta(d.mean_auroc)] if mean else []
            line += [""] if rank else []
            body.append(line)
    return headers, body


def _published_cell(prow: PublishedRow, col: Column) -> str:
    if col.key not in prow.cells:
        return MISSING
    mean, std = prow.cells[col.key]
    return f"{mean:.3f} ± {std:.3f}"


def _published_columns(board: Leaderboard) -> list[Column]:
    return [c for c in board.columns if any(c.key in r.cells for r in board.reference)]


def _published_lines(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    cols = _published_columns(board)
    mean = bool(board.reference_mean_columns)
    headers = ["model"] + [c.header for c in cols] + ([MEAN_HEADER] if mean else [])
    body = []
    for prow in board.reference:
        line = [prow.model] + [_published_cell(prow, c) for c in cols]
        body.append(line + ([_num(prow.mean_auroc)] if mean else []))
    return headers, body


def _titles(board: Leaderboard, keys: list) -> str:
    return ", ".join(board.column(k).title for k in keys)


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
    reasons: dict[str, list[str]] = {}
    for row, col, cell in cells:
        if cell.ci is None and cell.ci_reason:
            reasons.setdefault(cell.ci_reason, []).append(f"{row.label} · {col.title}")
    for reason, where in reasons.items():
        shown = ", ".join(where[:4]) + (f" and {len(where) - 4} more" if len(where) > 4 else "")
        out.append(f"No interval for {shown}: {reason}.")
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
        if _show_mean(group):
            if group.mean_columns:
                text = (f"{prefix}{MEAN_HEADER} averages the {len(group.mean_columns)} classification task(s) every "
                        f"row has ({_titles(board, group.mean_columns)})")
            else:
                text = f"{prefix}{MEAN_HEADER} is not given: no classification task is present in every row"
            partial = group.partial_auroc_columns
            out.append(text + (f"; left out because some rows lack them: {_titles(board, partial)}." if partial else "."))
        if _show_rank(group):
            out.append(f"{prefix}{RANK_HEADER} averages each row's rank over the {len(group.rank_columns)} task(s) every "
                       "row has (1 = best; tied rows share the better rank).")
    if any(r.delta is not None for r in board.rows):
        out.append(f"{DELTA_LABEL}: the aligned encoder minus its base for ↑ metrics and base minus aligned for ↓ "
                   "metrics, so positive means AcuLa post-training helped in every column.")
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
                   + (f"; their {MEAN_HEADER} averages the same tasks as ours ({_titles(board, board.reference_mean_columns)})."
                      if board.reference_mean_columns else "."))
    elif board.reference_requested:
        out.append("No task in this table has a published OPERA number (none of its records names an OPERA task).")
    return out


# -- Markdown ---------------------------------------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(headers: list[str], body: list[list[str]]) -> str:
    return tabulate([[_md(x) for x in line] for line in body], headers=[_md(h) for h in headers], tablefmt="pipe",
                    disable_numparse=True, colalign=("left",) + ("right",) * (len(headers) - 1))


def to_markdown(board: Leaderboard, *, title: str | None = None) -> str:
    """The leaderboard as Markdown: a table per probe, the published block, then the notes."""
    parts = [f"# {title or DEFAULT_TITLE}"]
    for group in board.groups:
        parts.append(f"Probe: **{group.probe}**")
        parts.append(_md_table(*_group_lines(group)))
    if board.reference:
        parts.append(f"**{LABEL[0].upper() + LABEL[1:]}** — reported numbers, not re-run here.")
        parts.append(_md_table(*_published_lines(board)))
    parts.append("\n".join(f"- {n}" for n in notes(board)))
    return "\n\n".join(parts) + "\n"


# -- tidy long table --------------------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _task_fields(col: Column) -> dict[str, Any]:
    return {"task": col.task, "task_name": col.task_name, "task_version": col.task_version, "protocol": col.protocol,
            "kind": col.kind, "metric": col.metric, "higher_is_better": col.higher_is_better,
            "split": "loso" if col.loso else "fixed"}


def long_records(board: Leaderboard) -> list[dict[str, Any]]:
    """One dict per encoder × probe × task (then per published model × task), keys :data:`LONG_COLUMNS`.

    ``mean`` is the cell value, ``ci_low``/``ci_high`` its 95 % interval, ``std``
    the spread over seeds (or folds). ``delta_vs_base`` (aligned rows only) is positive when the aligned encoder
    is better, whatever the metric's direction. Absent values are ``None``.
    """
    out = []
    for row in board.rows:
        for col in board.columns:
            cell = row.cells.get(col.key)
            if cell is None:
                continue
            delta = row.delta.values.get(col.key) if row.delta else None
            out.append({
                "source": "acubench", "encoder": row.label, "encoder_id": row.encoder_id,
                "encoder_fingerprint": row.fingerprint or None, "probe": row.probe, "aligned": row.aligned,
                "random_init": row.random_init, "weights": row.weights or None, **_task_fields(col),
                "mean": _finite(cell.mean), "std": _finite(cell.std),
                "ci_low": _finite(cell.ci[0]) if cell.ci else None, "ci_high": _finite(cell.ci[1]) if cell.ci else None,
                "n_seeds": cell.n_seeds,
                "n_folds": cell.n_folds, "seen_in_pretraining": cell.seen_in_pretraining,
                "n_bad_audio": cell.n_bad_audio, "base_encoder": row.delta.base if row.delta else None,
                "delta_vs_base": _finite(delta), "citation": None,
            })
    for prow in board.reference:
        for col in board.columns:
            if col.key not in prow.cells:
                continue
            mean, std = prow.cells[col.key]
            out.append({
                "source": "published", "encoder": prow.model, "encoder_id": ENCODERS.get(prow.model),
                "encoder_fingerprint": None,
                "probe": None, "aligned": False, "random_init": False, "weights": None, **_task_fields(col),
                "mean": mean, "std": std, "ci_low": None, "ci_high": None, "n_seeds": None, "n_folds": None, "seen_in_pretraining": None,
                "n_bad_audio": None, "base_encoder": None, "delta_vs_base": None, "citation": CITATION,
            })
    return [{k: rec.get(k) for k in LONG_COLUMNS} for rec in out]


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=list(LONG_COLUMNS)).astype(LONG_COLUMNS)


def to_csv(board: Leaderboard) -> str:
    """The tidy long table as CSV (absent values are empty)."""
    return _frame(long_records(board)).to_csv(index=False)


def to_json(board: Leaderboard) -> str:
    """``{"table": [...], "comparisons": [...]}``: the tidy long table (absent values ``null``) and the paired tests."""
    return json.dumps({"table": long_records(board), "comparisons": []}, indent=1, ensure_ascii=False,
                      allow_nan=False) + "\n"


def read_long_table(path: str | os.PathLike) -> pd.DataFrame:
    """Load a ``leaderboard.csv`` or ``leaderboard.json`` with the dtypes of :data:`LONG_COLUMNS`."""
    path = Path(path)
    if path.suffix == ".csv":
        # Only empty fields are absent: a task named "NA" stays a name.
        return pd.read_csv(path, dtype=LONG_COLUMNS, keep_default_na=False, na_values=[""])
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return _frame(data["table"] if isinstance(data, dict) else data)  # a list: acubench 0.1's layout
    raise ValueError(f"{path}: expected a .csv or .json leaderboard")


# -- terminal ---------------------------------------------------------------------------------------------------


def _delta_text(value: float | None) -> Text:
    text = format_delta(value)
    styles = {"+": "green", "-": "red"}
    return Text(text, style=styles.get(text[:1], "dim"))


def rich_table(board: Leaderboard, *, title: str | None = None) -> Table:
    """The leaderboard as a :class:`rich.table.Table` (notes in the caption).

    Every string goes in as :class:`rich.text.Text`, so labels such as
    ``"T05 [reference]"`` are shown literally instead of being read as markup.
    """
    multi = len(board.groups) > 1
    mean = any(_show_mean(g) for g in board.groups) or bool(board.reference_mean_columns)
    rank = any(_show_rank(g) for g in board.groups)
    table = Table(title=Text(title or DEFAULT_TITLE), title_justify="left", caption=Text("\n".join(notes(board))),
                  caption_justify="left")
    table.add_column("encoder", no_wrap=True)
    if multi:
        table.add_column("probe")
    for col in board.columns:
        table.add_column(Text(f"{col.title}\n{col.metric_label}"), justify="right")
    if mean:
        table.add_column(MEAN_HEADER.replace(" ↑", "\n↑"), justify="right")
    if rank:
        table.add_column(RANK_HEADER.replace(" ↓", "\n↓"), justify="right")

    def add(label: Text, probe: str, values: list[Text | str], mean_text: str | Text, rank_text: str, **kw) -> None:
        cells = [label] + ([probe] if multi else []) + values + ([mean_text] if mean else []) + ([rank_text] if rank else [])
        table.add_row(*(c if isinstance(c, Text) else Text(c) for c in cells), **kw)

    for i, group in enumerate(board.groups):
        if i:
            table.add_section()
        for row in group.rows:
            add(Text(_label(row), style="bold"), group.probe, [format_cell(row.cells.get(c.key)) for c in board.columns],
                format_interval(row.mean_auroc, row.mean_auroc_ci), _num(row.mean_rank, 2))
            if row.delta is not None:
                d = row.delta
                add(Text(DELTA_LABEL, style="italic"), "", [_delta_text(d.values.get(c.key)) for c in board.columns],
                    _delta_text(d.mean_auroc), "")
    if board.reference:
        table.add_section()
        table.add_row(Text(LABEL, style="bold italic"))
        for prow in board.reference:
            add(Text(prow.model), "", [_published_cell(prow, c) for c in board.columns], _num(prow.mean_auroc), "",
                style="italic dim")
    return table


# -- files ------------------------------------------------------------------------------------------------------


def write_leaderboard(board: Leaderboard, out_dir: Path, *, title: str | None = None) -> dict[str, Path]:
    """Render a board into ``out_dir``: leaderboard.md, .csv, .json, and .png when there is something to compare.

    Parameters
    ----------
    board : Leaderboard
        From :func:`~acubench.leaderboard.aggregate.aggregate` or ``board_from_runs``.
    out_dir : Path
        Existing directory.
    title : str, optional
        Table and figure title (default "acubench leaderboard").

    Returns
    -------
    dict
        ``{"markdown", "csv", "json"[, "plot"]}`` → written path. The plot is
        drawn when the board has at least two rows or an aligned pair.

    Everything is rendered before the first file is written, so a failure
    leaves no partial set; each file is replaced atomically.
    """
    from acubench.leaderboard.plots import render_png

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise PathNotFound(f"{out_dir}: output folder does not exist (create it first)")
    outputs: dict[str, tuple[Path, str | bytes]] = {
        "markdown": (out_dir / "leaderboard.md", to_markdown(board, title=title)),
        "csv": (out_dir / "leaderboard.csv", to_csv(board)),
        "json": (out_dir / "leaderboard.json", to_json(board)),
    }
    if len(board.rows) >= 2 or any(r.delta is not None for r in board.rows):
        outputs["plot"] = (out_dir / "leaderboard.png", render_png(board, title=title))
    for path, data in outputs.values():
        atomic_write(path, data)
    return {name: path for name, (path, _) in outputs.items()}
