"""Leaderboard: hand-built records → exact cells, marks, Δ rows, merges, published rows, files, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from acubench.cli import main
from acubench.leaderboard.aggregate import LeaderboardError, aggregate, board_from_runs, merge_runs
from acubench.leaderboard.reference import MODELS, published
from acubench.leaderboard.render import (
    long_records,
    read_long_table,
    rich_table,
    to_markdown,
    write_leaderboard,
)
from acubench.leaderboard.render import to_json as render_json
from acubench.records import stats
from acubench.records.predictions import clip_scores, concat, prediction_frame
from acubench.records.results import ResultRecord, RunResults, write_records, write_run_results

TASKS = {  # id → (name, kind, metric, OPERA task number)
    "T03": ("coughvid-covid", "binary", "auroc", 5),
    "T05": ("icbhi-copd", "binary", "auroc", 7),
    "T07": ("coswara-sex", "binary", "auroc", 9),
    "T10": ("mmlung-fvc-breath", "regression", "mae", 13),
}


def rec(encoder: str, task: str, seed: int, value: float, *, folds=(), run="run-a", **extra) -> dict:
    name, kind, metric, opera = TASKS[task]
    aligned = encoder.endswith("+acula")
    fields = dict(
        encoder=encoder, encoder_id=encoder.removesuffix("+acula"), encoder_fingerprint=f"fp-{encoder}",
        weights="aligned" if aligned else "pretrained", random_init=False, aligned=aligned, task=task,
        task_name=name, task_version="1", kind=kind, metric=metric, higher_is_better=metric == "auroc",
        protocol="default", probe="linear", seed=seed, value=value, fold_values=list(folds), run_id=run,
        split_scheme="loso" if folds else "fixed", published_as={"opera": opera},
    )
    fields.update(extra)
    return json.loads(ResultRecord(**fields).to_json())


def base_records(run: str = "run-a") -> list[dict]:
    """opera-gt (T03, T05 seen in pre-training, T07, LOSO T10) and a random-init logmel on T05, T07."""
    return [
        rec("opera-gt", "T03", 0, 0.60, run=run), rec("opera-gt", "T03", 1, 0.60, run=run),
        rec("opera-gt", "T05", 0, 0.802, seen_in_pretraining=True, run=run),
        rec("opera-gt", "T05", 1, 0.822, seen_in_pretraining=True, run=run),
        rec("opera-gt", "T07", 0, 0.70, run=run), rec("opera-gt", "T07", 1, 0.72, run=run),
        # value = mean over folds; the cell must use the spread across folds, not across seeds (0.100).
        rec("opera-gt", "T10", 0, 2.0, folds=(1.0, 2.0, 3.0), run=run),
        rec("opera-gt", "T10", 1, 2.2, folds=(1.2, 2.2, 3.2), run=run),
        rec("logmel", "T05", 0, 0.60, random_init=True, weights="random init (seed 0)", run=run),
        rec("logmel", "T05", 1, 0.62, random_init=True, weights="random init (seed 0)", run=run),
        rec("logmel", "T07", 0, 0.55, random_init=True, n_bad_audio=3, run=run),
        rec("logmel", "T07", 1, 0.55, random_init=True, n_bad_audio=3, run=run),
    ]


def aligned_records(run: str = "run-a") -> list[dict]:
    return [
        rec("opera-gt+acula", "T05", 0, 0.830, seen_in_pretraining=True, run=run),
        rec("opera-gt+acula", "T05", 1, 0.840, seen_in_pretraining=True, run=run),
        rec("opera-gt+acula", "T07", 0, 0.695, run=run), rec("opera-gt+acula", "T07", 1, 0.695, run=run),
        rec("opera-gt+acula", "T10", 0, 1.9, folds=(0.9, 1.9, 2.9), run=run),
        rec("opera-gt+acula", "T10", 1, 1.9, folds=(0.9, 1.9, 2.9), run=run),
    ]


def as_records(dicts: list[dict]) -> list[ResultRecord]:
    return [ResultRecord.from_dict(d) for d in dicts]


def md_tables(text: str) -> list[dict[str, list[str]]]:
    """Each pipe table of a Markdown document as {first cell: row cells}, with the header under "__header__"."""
    tables, current = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set("".join(cells)) <= set(":-"):
            continue
        if current is None:
            current = {"__header__": cells}
            tables.append(current)
        else:
            current[cells[0]] = cells[1:]
    return tables


HEADER = ["encoder", "T03 coughvid-covid AUROC ↑", "T05 icbhi-copd AUROC ↑", "T07 coswara-sex AUROC ↑",
          "T10 mmlung-fvc-breath MAE ↓", "mean AUROC ↑", "mean rank ↓"]


def test_cells_means_ranks_marks_and_delta_by_hand():
    text = to_markdown(aggregate(base_records() + aligned_records()))
    (table,) = md_tables(text)
    assert table["__header__"] == HEADER
    # fixed split: mean over seeds; LOSO: folds averaged over seeds. No predictions here, so no intervals.
    assert table["opera-gt"] == ["0.600", "0.812 ‡", "0.710", "2.100", "0.761", "1.50"]
    assert table["opera-gt+acula"] == ["—", "0.835 ‡", "0.695", "1.900", "0.765", "1.50"]
    # AUROC: aligned − base; MAE: base − aligned (2.100 − 1.900), so + is better everywhere
    assert table["Δ acula"] == ["—", "+0.023", "-0.015", "+0.200", "+0.004", ""]
    assert table["logmel †"] == ["—", "0.610", "0.550", "—", "0.580", "3.00"]
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    assert rows[1:] == ["opera-gt", "opera-gt+acula", "Δ acula", "logmel †"]  # Δ directly under its pair
    assert "mean AUROC ↑ averages the 2 classification task(s) every row has (T05 icbhi-copd, T07 coswara-sex)" in text
    assert "left out because some rows lack them: T03 coughvid-covid" in text
    assert "† random initialisation — not a pretrained model" in text
    assert "‡ task data seen in pre-training" in text
    assert "logmel · T07 coswara-sex: 3" in text
    assert "leave-one-subject-out tasks T10 mmlung-fvc-breath" in text
    assert "No per-clip predictions in run-a" in text and "No interval for" not in text
    cell = board_cell = aggregate(base_records()).rows[0].cells[("T05", "1", "default")]
    assert (board_cell.mean, cell.std, cell.ci) == (pytest.approx(0.812), pytest.approx(0.010), None)


def test_a_recorded_interval_shows_when_one_fit_serves_every_seed():
    records = [dict(r, ci95=[0.70, 0.90], bootstrap={"resamples": 1000, "seed": 0}) for r in base_records()[:2]]
    (table,) = md_tables(to_markdown(aggregate(records)))
    assert table["opera-gt"][0] == "0.600 [0.700, 0.900]"
    # two different fits: their intervals cannot be combined without predictions
    records[1] = dict(records[1], value=0.62, ci95=[0.71, 0.91])
    text = to_markdown(aggregate(records))
    assert md_tables(text)[0]["opera-gt"][0] == "0.610" and "predictions.parquet to combine" in text


def test_aligned_row_follows_its_base_whatever_the_record_order():
    board = aggregate(aligned_records() + base_records())
    assert [r.label for r in board.rows] == ["opera-gt", "opera-gt+acula", "logmel"]
    assert board.rows[1].delta.base == "opera-gt"


def test_reference_rows_are_separate_and_excluded_from_our_means():
    plain = aggregate(base_records() + aligned_records())
    board = aggregate(base_records() + aligned_records(), reference=True)
    assert [(r.mean_auroc, r.mean_rank) for r in board.rows] == [(r.mean_auroc, r.mean_rank) for r in plain.rows]
    ours, pub = md_tables(to_markdown(board))
    assert "OPERA-GT" not in ours and list(ours) == list(md_tables(to_markdown(plain))[0])
    assert pub["__header__"] == ["model", *HEADER[1:5], "mean AUROC ↑"]
    # OPERA tasks 5, 7, 9, 13 (TASKS.md), mean over the same two tasks as our rows: (0.741 + 0.825) / 2
    assert pub["OPERA-GT"] == ["0.552 ± 0.003", "0.741 ± 0.011", "0.825 ± 0.001", "0.892 ± 0.618", "0.783"]
    assert pub["CLAP"][1] == "0.933 ± 0.005"
    assert list(pub)[1:] == list(MODELS)
    text = to_markdown(board)
    assert "Published (OPERA paper)" in text and "arXiv:2406.16148" in text
    assert "averages the same tasks as ours (T05 icbhi-copd, T07 coswara-sex)" in text
    published_long = [r for r in long_records(board) if r["source"] == "published"]
    assert len(published_long) == 4 * len(MODELS) and all(r["citation"] for r in published_long)
    # OPERA's CLAP column is Microsoft's CLAP 2022, acubench's ms-clap (not LAION's clap).
    assert {r["encoder"]: r["encoder_id"] for r in published_long}["CLAP"] == "ms-clap"
    assert {r["encoder_id"] for r in published_long if r["encoder"] in ("Opensmile", "VGGish")} == {None}


def test_published_numbers_come_from_the_records_opera_task():
    assert published(19)["OPERA-GT"] == (2.416, 0.885)  # NoseMic respiratory rate, MAE
    assert published(19, metric="auroc") == {}  # a column with another metric gets no published number
    assert published(None) == {} and published(42) == {}
    assert published(3)["OPERA-CT"] == (0.603, 0.005)  # COVID-19 Sounds breath
    # An extra task (not in 0.1.0's own map) gets its published rows through its record.
    ssbpr = [dict(rec("opera-gt", "T05", 0, 0.6), task="X03", task_name="ssbpr", published_as={"opera": 12})]
    board = aggregate(ssbpr, reference=True)
    assert [r.cells[("X03", "1", "default")] for r in board.reference][4] == (0.781, 0.000)  # OPERA-CT


def test_schema1_records_of_acubench_0_1_are_read_with_their_opera_numbers(tmp_path):
    old = {k: v for k, v in rec("opera-gt", "T05", 0, 0.8).items()
           if k not in ("dataset", "split_scheme", "published_as", "classes", "ci95", "bootstrap")}
    old["schema"] = 1
    assert ResultRecord.from_dict(old).published_as == {"opera": 7}  # from the frozen map of 0.1.0's task ids
    (tmp_path / "results.jsonl").write_text(json.dumps(old) + "\n")
    assert main(["leaderboard", str(tmp_path), "--reference", "-o", str(tmp_path / "b.md")]) == 0
    text = (tmp_path / "b.md").read_text()
    assert md_tables(text)[1]["OPERA-GT"][0] == "0.741 ± 0.011" and "No per-clip predictions in" in text


def test_no_published_number_is_said_not_shown():
    board = aggregate([dict(rec("logmel", "T05", 0, 0.6), task="demo-wheeze", task_name="wheeze", published_as={})],
                      reference=True)
    assert board.reference == []
    text = to_markdown(board)
    assert len(md_tables(text)) == 1 and "No task in this table has a published OPERA number" in text


def test_merge_dedupes_identical_records_and_names_both_runs_on_conflict():
    a = base_records("run-a")
    b = aligned_records("run-b") + base_records("run-b")[:3]  # same fits, other run id
    merged = merge_runs([RunResults("runs/a", a), RunResults("runs/b", b)])
    assert len(merged.records) == len(a) + 6
    board = aggregate(merged)
    assert board.rows[0].cells[("T05", "1", "default")].n_seeds == 2
    clash = [dict(r) for r in base_records("run-c")[2:3]]
    clash[0]["value"] = 0.9
    with pytest.raises(LeaderboardError, match=r"runs/a and runs/c disagree .* T05 .* seed 0: value 0.802 vs 0.9"):
        merge_runs([RunResults("runs/a", a), RunResults("runs/c", clash)])


def test_versions_probes_and_builds_are_never_averaged_together():
    records = base_records()[2:4] + [dict(r, task_version="2", value=r["value"] - 0.1) for r in base_records()[2:4]]
    board = aggregate(records)
    assert [c.title for c in board.columns] == ["T05 icbhi-copd v1", "T05 icbhi-copd v2"]
    board = aggregate(base_records()[2:4] + [dict(r, protocol="reference") for r in base_records()[2:4]])
    assert [c.title for c in board.columns] == ["T05 icbhi-copd [default]", "T05 icbhi-copd [reference]"]
    console = Console(record=True, width=250)
    console.print(rich_table(board))
    assert "T05 icbhi-copd [reference]" in console.export_text()  # literal text, not rich markup
    two_probes = base_records() + [dict(r, probe="lightgbm") for r in base_records()[2:6]]
    board = aggregate(two_probes)
    assert board.probes == ["linear", "lightgbm"]
    lin, lgb = md_tables(to_markdown(board))
    assert "T10 mmlung-fvc-breath MAE ↓" in lin["__header__"] and "T10 mmlung-fvc-breath MAE ↓" not in lgb["__header__"]
    assert lgb["opera-gt"] == ["0.812 ‡", "0.710", "0.761"]
    other_build = [dict(r, encoder_fingerprint="0123456789abcdef", value=0.5, run_id="run-z")
                   for r in base_records()[2:4]]
    labels = [r.label for r in aggregate(base_records()[2:4] + other_build).rows]
    assert labels == ["opera-gt [fp-opera]", "opera-gt [01234567]"]


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("value"), "record 1: record lacks value"),
    (lambda r: r.update(value="0.8"), "'value' must be a number"),
    (lambda r: r.update(opera_task=7), r"unknown field\(s\) opera_task"),
    (lambda r: r.update(schema=9), "record schema 9 is not one this acubench reads"),
    (lambda r: r.update(published_as={"opera": "7"}), "'published_as' must be an object of table → number"),
    (lambda r: r.update(metric="mae", higher_is_better=False), "task T05 .* records disagree on metric"),
])
def test_bad_records_fail_with_one_clear_error(change, message):
    records = base_records()[2:4]
    change(records[0])
    with pytest.raises(LeaderboardError, match=message):
        aggregate(records)


def test_files_round_trip_and_plot(tmp_path):
    records = base_records() + aligned_records()
    paths = write_leaderboard(aggregate(records, reference=True), tmp_path, title="Table 2")
    assert sorted(paths) == ["csv", "json", "markdown", "plot"]
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["markdown"].read_text().startswith("# Table 2\n")
    assert not list(tmp_path.glob(".*.tmp"))
    csv, js = read_long_table(paths["csv"]), read_long_table(paths["json"])
    pd.testing.assert_frame_equal(csv, js)
    ours = csv[csv["source"] == "acubench"].set_index(["encoder", "task"])
    assert len(ours) == 4 + 3 + 2 and (csv["source"] == "published").sum() == 4 * len(MODELS)
    loso = ours.loc[("opera-gt", "T10")]
    assert (loso["split"], loso["n_seeds"], loso["n_folds"]) == ("loso", 2, 3)
    assert loso["mean"] == pytest.approx(2.1) and loso["std"] == pytest.approx((2 / 3) ** 0.5)
    assert ours.loc[("opera-gt+acula", "T10"), "delta_vs_base"] == pytest.approx(0.2)
    assert ours.loc[("opera-gt+acula", "T07"), "delta_vs_base"] == pytest.approx(-0.015)
    assert pd.isna(ours.loc[("opera-gt", "T05"), "delta_vs_base"])
    assert bool(ours.loc[("logmel", "T05"), "random_init"])
    assert bool(ours.loc[("opera-gt", "T05"), "seen_in_pretraining"])
    assert ours.loc[("logmel", "T07"), "n_bad_audio"] == 3
    single = tmp_path / "single"
    single.mkdir()
    assert "plot" not in write_leaderboard(aggregate(base_records()[:2]), single)  # one row: nothing to compare


def test_rich_table_shows_marks_deltas_and_published_block():
    console = Console(record=True, width=250)
    console.print(rich_table(aggregate(base_records() + aligned_records(), reference=True)))
    text = console.export_text()
    for needle in ("logmel †", "Δ acula", "+0.200", "0.812 ‡", "published (OPERA paper)", "OPERA-CE"):
        assert needle in text


def test_cli_merges_run_dirs_end_to_end(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    write_records(a / "results.jsonl", as_records(base_records("a")))
    write_records(b / "results.jsonl", as_records(aligned_records("b") + base_records("b")[2:4]))
    out = tmp_path / "board.md"
    assert main(["leaderboard", str(a), str(b), "-o", str(out)]) == 0
    (table,) = md_tables(out.read_text())
    assert table["Δ acula"] == ["—", "+0.023", "-0.015", "+0.200", "+0.004", ""]
    assert "Δ acula" in capsys.readouterr().err  # the rich table goes to stderr
    assert main(["leaderboard", str(a), str(b), "--reference"]) == 0
    printed = capsys.readouterr().out
    assert len(md_tables(printed)) == 2 and printed.startswith("# acubench leaderboard")
    csv_out = tmp_path / "board.csv"
    assert main(["leaderboard", str(a), "--probe", "linear", "-o", str(csv_out)]) == 0
    assert set(read_long_table(csv_out)["encoder"]) == {"opera-gt", "logmel"}


def test_cli_errors_are_one_line(tmp_path, capsys):
    a, c = tmp_path / "a", tmp_path / "c"
    a.mkdir(), c.mkdir()
    write_records(a / "results.jsonl", as_records(base_records("a")))
    write_records(c / "results.jsonl", as_records([dict(base_records("c")[2], value=0.5)]))
    assert main(["leaderboard", str(a), str(c)]) == 2
    err = capsys.readouterr().err
    assert f"{a} and {c} disagree" in err and "Traceback" not in err
    assert main(["leaderboard", str(a), "--probe", "mlp"]) == 2
    assert "no records for probe mlp; the runs hold linear" in capsys.readouterr().err
    assert main(["leaderboard", str(a), "-o", str(tmp_path / "board.xlsx")]) == 2
    assert "unknown format '.xlsx'" in capsys.readouterr().err
    assert main(["leaderboard", str(tmp_path / "missing")]) == 2
    assert "no results file" in capsys.readouterr().err


# -- per-clip evidence -----------------------------------------------------------------------------------------


def fit(encoder: str, seed: int, score: np.ndarray, *, y: np.ndarray, subject: np.ndarray, run: str = "run-p",
        task: str = "T05") -> tuple[dict, pd.DataFrame]:
    """A record and its predictions.parquet rows, the record's value and interval computed from the scores."""
    loso = TASKS[task][1] == "regression"
    rows = prediction_frame(encoder=encoder, task=task, probe="linear", seed=seed,
                            clip_id=[f"c{i:03d}" for i in range(len(y))], subject=list(subject), label=y,
                            score=score, fold=list(subject) if loso else None)
    cs = clip_scores(rows, kind=TASKS[task][1], classes=() if loso else ("neg", "pos"),
                     split_scheme="loso" if loso else "fixed")
    interval = stats.bootstrap(cs)
    folds = [float(np.mean(np.abs(score - y)[subject == s])) for s in np.unique(subject)] if loso else ()
    record = rec(encoder, task, seed, stats.point(cs), folds=folds, run=run, ci95=list(interval.ci),
                 bootstrap=interval.info, classes=[] if loso else ["neg", "pos"])
    return record, rows


def evidence_run(source="runs/p", *, shift=0.0, seeds_differ=False, tasks=("T05",), n_subjects=16, seed=0):
    """opera-gt (deterministic unless ``seeds_differ``) and a noisier logmel, two seeds, on ``tasks``."""
    rng = np.random.default_rng(seed)
    subject = np.repeat([f"p{i:02d}" for i in range(n_subjects)], 3)
    records, frames = [], []
    for task in tasks:
        y = np.repeat(np.arange(n_subjects) % 2, 3).astype(float)
        if TASKS[task][1] == "regression":
            y = np.repeat(rng.normal(3, 1, n_subjects), 3)
        base = y + rng.normal(size=len(y))
        for seed_ in (0, 1):
            noise = rng.normal(scale=0.3, size=len(y)) if seeds_differ else 0.0
            for enc, score in (("opera-gt", base + noise),
                               ("logmel", base - shift * (2 * y - 1) + rng.normal(scale=0.8, size=len(y)))):
                r, f = fit(enc, seed_, score, y=y, subject=subject, run=source, task=task)
                records.append(r), frames.append(f)
    return RunResults(source, as_records(records), concat(frames)), subject


def test_cells_get_intervals_from_predictions():
    run, subject = evidence_run()
    board = board_from_runs([run])
    cell = board.rows[0].cells[("T05", "1", "default")]
    # one distinct fit (a deterministic head): the interval is that fit's own bootstrap interval
    assert cell.evidence.how == "first seed" and cell.ci == tuple(run.records[0].ci95)
    (table,) = md_tables(to_markdown(board))
    assert table["opera-gt"][0] == f"{cell.mean:.3f} [{cell.ci[0]:.3f}, {cell.ci[1]:.3f}]"
    assert "95% percentile interval over 1000 bootstrap resamples (seed 0) of the test subjects" in to_markdown(board)
    # two fits (a stochastic head): the interval of the seed mean, from the same subject resamples
    logmel = board.rows[1].cells[("T05", "1", "default")]
    rows = run.predictions[run.predictions["encoder"] == "logmel"]
    cs = [stats.ClipScores.from_groups("binary", g["label"].astype(int), g["score"], subject)
          for _, g in rows.groupby("seed")]
    counts = stats.draw(cs[0].strata(), 1000, 0)
    reps = (stats.replicates(cs[0], counts) + stats.replicates(cs[1], counts)) / 2
    assert logmel.evidence.how == "mean over seeds"
    assert logmel.ci == pytest.approx(stats.percentile_interval(reps))
    assert board.rows[0].mean_auroc_ci == pytest.approx(cell.ci)  # one AUROC task: its own interval
    assert board_from_runs([run], bootstrap=0).rows[0].cells[("T05", "1", "default")].ci is None


def test_predictions_that_do_not_reproduce_their_records_are_refused():
    run, _ = evidence_run()
    run.records[0].value += 0.01
    with pytest.raises(LeaderboardError, match=r"opera-gt · T05 icbhi-copd · probe linear · seed 0: predictions"
                                               r".parquet gives .* but results.jsonl says"):
        board_from_runs([run])


def test_run_folders_with_and_without_predictions_render_together(tmp_path, capsys):
    run, _ = evidence_run()
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir(), old.mkdir()
    write_run_results(new, run.records, run.predictions)
    write_records(old / "results.jsonl", as_records([dict(r, encoder="clap", encoder_id="clap",
                                                          encoder_fingerprint="fp-clap", ci95=None, bootstrap={})
                                                     for r in base_records("old")[2:4]]))
    out = tmp_path / "board.json"
    assert main(["leaderboard", str(new), str(old), "-o", str(out), "--compare", "opera-gt"]) == 0
    table = read_long_table(out).set_index("encoder")
    assert table.loc["opera-gt", "ci_low"] < table.loc["opera-gt", "mean"] < table.loc["opera-gt", "ci_high"]
    assert pd.isna(table.loc["clap", "ci_low"])
    (untested,) = [c for c in json.loads(out.read_text())["comparisons"] if c["a"] == "clap"]
    assert untested["test"] is None and "without predictions.parquet" in untested["reason"]
    assert main(["leaderboard", str(new), str(old)]) == 0
    assert f"No per-clip predictions in {old}" in capsys.readouterr().out


def test_compare_gives_delong_and_bootstrap_tests_holm_adjusted(tmp_path):
    run, subject = evidence_run(shift=0.8, tasks=("T03", "T05", "T07", "T10"), n_subjects=24)
    board = board_from_runs([run], compare="opera-gt")
    tests = {c.task: c for c in board.comparisons}
    assert sorted(tests) == ["T03", "T05", "T07", "T10", "mean AUROC"]
    assert {t: c.test for t, c in tests.items()} == {"T03": "delong", "T05": "delong", "T07": "delong",
                                                     "T10": "paired-bootstrap", "mean AUROC": "paired-bootstrap"}
    # DeLong on the compared per-clip scores: opera-gt's first seed (deterministic), logmel's mean over seeds
    rows = run.predictions[run.predictions["task"] == "T05"]
    a = rows[(rows["encoder"] == "logmel")].groupby("clip_id")["score"].mean().to_numpy()
    b = rows[(rows["encoder"] == "opera-gt") & (rows["seed"] == 0)].sort_values("clip_id")["score"].to_numpy()
    y = rows[(rows["encoder"] == "opera-gt") & (rows["seed"] == 0)].sort_values("clip_id")["label"].to_numpy()
    expected = stats.delong(y, a, b, np.unique(subject, return_inverse=True)[1])
    assert tests["T05"].delta == pytest.approx(expected.delta) and tests["T05"].p_value == pytest.approx(expected.p)
    assert tests["T05"].how == ("mean over seeds", "first seed") and tests["T05"].n_subjects == 24
    assert [tests[t].p_holm for t in ("T03", "T05", "T07", "T10")] == pytest.approx(
        stats.holm([tests[t].p_value for t in ("T03", "T05", "T07", "T10")]))
    assert tests["T10"].delta < 0 and tests["T10"].ci95[1] < tests["T10"].ci95[0] + 10  # MAE: + means better
    assert all(c.ci95[0] <= c.delta <= c.ci95[1] for c in tests.values())
    text = to_markdown(board)
    marked = {cells[2].strip(): cells[3].strip() for cells in (line.split("|") for line in text.splitlines())
              if len(cells) > 3 and cells[1].strip() == "logmel" and cells[3].strip()[:1] in "+-"}
    assert len(marked) == 5 and any(c.significant for c in tests.values())
    for c in tests.values():
        header = "mean AUROC" if c.column is None else board.column(c.column).header
        assert marked[header] == f"{c.delta:+.3f}" + ("*" if c.significant else "")
    assert "* marks p (Holm) < 0.05" in text and "DeLong's test for binary AUROC" in text
    out = tmp_path / "board.json"
    out.write_text(render_json(board))
    entries = json.loads(out.read_text())["comparisons"]
    assert {tuple(sorted(e)) for e in entries} == {tuple(sorted(["task", "task_version", "protocol", "probe", "a",
                                                                 "b", "delta", "ci95", "p_value", "p_holm", "test",
                                                                 "scores", "n_clips", "n_subjects", "reason"]))}
    assert {(e["a"], e["b"]) for e in entries} == {("logmel", "opera-gt")}


def test_identical_rows_compare_with_delta_zero_and_p_one():
    run, _ = evidence_run(tasks=("T05", "T10"))
    twin = [dict(r.to_dict(), encoder="twin", encoder_id="twin", encoder_fingerprint="fp-twin")
            for r in run.records if r.encoder == "opera-gt"]
    rows = run.predictions[run.predictions["encoder"] == "opera-gt"].assign(encoder="twin")
    both = RunResults("runs/p", run.records + as_records(twin), concat([run.predictions, rows]))
    tests = [c for c in board_from_runs([both], compare="opera-gt").comparisons if c.a == "twin"]
    assert [(c.delta, c.p_value, c.ci95) for c in tests] == [(0.0, 1.0, (0.0, 0.0))] * 3


def test_rows_without_shared_test_clips_cannot_be_compared():
    a, _ = evidence_run("runs/a")
    b, _ = evidence_run("runs/b", seed=1)
    b.predictions["clip_id"] = "x" + b.predictions["clip_id"]
    moved = [dict(r.to_dict(), encoder=f"{r.encoder}-b", encoder_fingerprint="fp-b") for r in b.records]
    b = RunResults("runs/b", as_records(moved), b.predictions.assign(encoder=b.predictions["encoder"] + "-b"))
    with pytest.raises(LeaderboardError, match=r"cannot compare opera-gt-b \(run runs/b\) with opera-gt \(run "
                                               r"runs/a\) on T05 icbhi-copd: they do not share test clips \(0 in "
                                               r"common of 48 and 48\)"):
        board_from_runs([a, b], compare="opera-gt")
    with pytest.raises(LeaderboardError, match="--compare clap: no such row; the rows are opera-gt, logmel"):
        board_from_runs([a], compare="clap")


def test_aligned_rows_are_tested_against_their_base_and_published_rows_never():
    run, _ = evidence_run(shift=-0.8, tasks=("T05", "T07"))
    aligned = [dict(r.to_dict(), encoder="opera-gt+acula", encoder_id="opera-gt", aligned=True,
                    encoder_fingerprint="fp-aligned")
               for r in run.records if r.encoder == "logmel"]
    rows = run.predictions[run.predictions["encoder"] == "logmel"].assign(encoder="opera-gt+acula")
    keep = [r for r in run.records if r.encoder == "opera-gt"]
    run = RunResults("runs/p", keep + as_records(aligned), concat([run.predictions[run.predictions["encoder"]
                                                                                   == "opera-gt"], rows]))
    board = board_from_runs([run], reference=True)
    delta = board.rows[1].delta
    assert set(delta.comparisons) == {("T05", "1", "default"), ("T07", "1", "default")} and delta.mean is not None
    (table, _) = md_tables(to_markdown(board))
    d05 = delta.comparisons[("T05", "1", "default")]
    assert table["Δ acula"][0].startswith(f"{d05.delta:+.3f} [{d05.ci95[0]:+.3f}, {d05.ci95[1]:+.3f}] p=")
    assert table["Δ acula"][2].startswith(f"{delta.mean.delta:+.3f} [")
    entries = json.loads(render_json(board))["comparisons"]
    assert {(e["a"], e["b"]) for e in entries} == {("opera-gt+acula", "opera-gt")}  # no published model
    assert "never tested" in to_markdown(board)


def test_the_terminal_table_fits_80_columns_and_never_cuts_a_number():
    run, _ = evidence_run(tasks=("T03", "T05", "T07", "T10"))
    board = board_from_runs([run], compare="logmel", reference=True)
    markdown = to_markdown(board)
    numbers = {cell for table in md_tables(markdown) for key, cells in table.items() if key != "__header__"
               for cell in cells if cell[:1].isdigit() or cell[:1] in "+-"}
    for width in (80, 100, 250):
        console = Console(record=True, width=width)
        console.print(rich_table(board))
        text = console.export_text()
        assert max(map(len, text.splitlines())) <= width and "…" not in text
        flat = " ".join(text.split())
        missing = [n.rstrip("*‡ ") for n in numbers if n.rstrip("*‡ ") not in flat]
        assert not missing, (width, missing[:5])
