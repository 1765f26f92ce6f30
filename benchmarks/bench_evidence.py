"""The cost and the calibration of acubench's evidence: intervals, paired tests, predictions.

Three measurements (each writes benchmarks/results/evidence-<name>.json):

``coverage`` — does the 95 % subject-bootstrap interval cover a known population value
in ~95 % of repetitions? Synthetic tasks with correlated clips: each subject has a
random effect shared by its clips, so the population AUROC of a random positive clip
against a random negative clip of another subject is Φ(Δμ / √(2(σ_u² + σ_e²))) and the
population MAE of predictions with error u + e is √(2/π)·√(σ_u² + σ_e²). The same
data are also resampled clip by clip (the naive bootstrap that treats clips as
independent), to show what resampling subjects buys.

    python benchmarks/bench_evidence.py coverage --repeats 1000

``compare`` — ``acubench leaderboard RUN --compare ROW -o board.json`` on a synthetic run
folder shaped like the 18 tasks (their test-set sizes, clips per subject, kinds), with
10 encoder rows, 5 seeds and 1000 resamples; timed in-process (reading the run folder,
intervals for every cell, every comparison, rendering), median of ``--runs``.

    python benchmarks/bench_evidence.py compare --rows 10 --runs 5

``demo`` — what the statistics add to a warm demo run: ``acubench run --encoder
logmel,opera --tasks demo`` with the default 1000 resamples against ``--bootstrap 0``,
alternated, whole process (the embedding cache must be warm: run the demo once first).

    python benchmarks/bench_evidence.py demo --runs 5
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_result

from acubench.records import stats

# -- coverage --------------------------------------------------------------------------------------------------


def _task(rng: np.random.Generator, n_subjects: int, clips: int, kind: str, sd_u: float, sd_e: float, shift: float):
    subject = np.repeat(np.arange(n_subjects), clips)
    u = rng.normal(scale=sd_u, size=n_subjects)[subject]
    e = rng.normal(scale=sd_e, size=len(subject))
    if kind == "binary":
        y = np.repeat(np.arange(n_subjects) % 2, clips)
        return y, shift * y + u + e, subject
    y = rng.normal(size=len(subject))
    return y, y + u + e, subject


def _coverage(kind: str, n_subjects: int, clips: int, repeats: int, resamples: int, seed: int) -> dict:
    sd_u, sd_e, shift = 1.0, 1.0, 1.2
    total_sd = math.sqrt(sd_u ** 2 + sd_e ** 2)
    if kind == "binary":
        truth = 0.5 * math.erfc(-shift / math.sqrt(2 * total_sd ** 2) / math.sqrt(2))  # Φ(Δμ / √(2σ²))
    else:
        truth = math.sqrt(2 / math.pi) * total_sd
    rng = np.random.default_rng(seed)
    hits = {"subject": 0, "clip": 0}
    widths = {"subject": [], "clip": []}
    t0 = time.perf_counter()
    for r in range(repeats):
        y, score, subject = _task(rng, n_subjects, clips, kind, sd_u, sd_e, shift)
        for unit, groups in (("subject", subject), ("clip", np.arange(len(y)))):
            cs = stats.ClipScores.from_groups(kind, y, score, groups, n_classes=2 if kind == "binary" else 0)
            low, high = stats.bootstrap(cs, resamples=resamples, seed=r).ci
            hits[unit] += low <= truth <= high
            widths[unit].append(high - low)
    out = {"kind": kind, "metric": "auroc" if kind == "binary" else "mae", "population_value": round(truth, 4),
           "subjects": n_subjects, "clips_per_subject": clips, "repeats": repeats, "resamples": resamples,
           "seconds": round(time.perf_counter() - t0, 1)}
    for unit in hits:
        p = hits[unit] / repeats
        out[f"coverage_{unit}_bootstrap"] = round(p, 3)
        out[f"coverage_{unit}_bootstrap_se"] = round(math.sqrt(p * (1 - p) / repeats), 3)
        out[f"mean_width_{unit}_bootstrap"] = round(float(np.mean(widths[unit])), 4)
    print(out, flush=True)
    return out


def coverage(args: argparse.Namespace) -> None:
    rows = [_coverage(kind, n, clips, args.repeats, args.resamples, seed=i)
            for i, (kind, n, clips) in enumerate([("binary", 20, 3), ("binary", 60, 3), ("binary", 60, 1),
                                                   ("binary", 200, 3), ("regression", 20, 3), ("regression", 60, 3),
                                                   ("regression", 200, 3)])]
    write_result("evidence-coverage", {"level": 0.95, "scenarios": rows})


# -- compare ---------------------------------------------------------------------------------------------------

#: (task id, kind, test clips, clips per subject, LOSO): the 18 tasks' test sets (TASKS.md; CirCor and
#: ZCHSound from their split recipes; MMLung and NoseMic pool every subject as a fold).
SHAPES = [
    ("T01", "binary", 1000, 1, False), ("T02", "binary", 1000, 1, False), ("T03", "binary", 2507, 1, False),
    ("T04", "binary", 2955, 1, False), ("T05", "binary", 366, 8, False), ("T06", "binary", 101, 1, False),
    ("T07", "binary", 652, 1, False), ("T08", "binary", 72, 2, False), ("T09", "multiclass", 108, 12, False),
    ("T10", "regression", 40, 1, True), ("T11", "regression", 40, 1, True), ("T12", "regression", 40, 1, True),
    ("T13", "regression", 40, 1, True), ("T14", "regression", 40, 1, True), ("T15", "regression", 40, 1, True),
    ("T16", "regression", 320, 20, True), ("T17", "binary", 630, 3, False), ("T18", "binary", 252, 1, False),
]


def _synthetic_run(folder: Path, rows: int, seeds: int, resamples: int) -> str:
    from acubench.records.predictions import clip_scores, concat, prediction_frame
    from acubench.records.results import ResultRecord, write_run_results

    rng = np.random.default_rng(0)
    records, frames = [], []
    for task, kind, n, per, loso in SHAPES:
        subject = np.repeat([f"{task}-s{i:04d}" for i in range(math.ceil(n / per))], per)[:n]
        classes = ["c0", "c1", "c2", "c3", "c4"] if kind == "multiclass" else ["neg", "pos"] if kind == "binary" else []
        y = (rng.integers(0, len(classes), n) if classes else rng.normal(3, 1, n)).astype(float)
        for r in range(rows):
            base = rng.normal(size=(n, 5) if kind == "multiclass" else n)
            for seed in range(seeds):
                # Even rows: a deterministic head (one fit for every seed); odd rows: a stochastic one.
                noise = 0.0 if r % 2 == 0 else rng.normal(scale=0.2, size=base.shape)
                if kind == "multiclass":
                    logits = base + noise + np.eye(5)[y.astype(int)]
                    score = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                elif kind == "binary":
                    score = 1 / (1 + np.exp(-(base + noise + y)))
                else:
                    score = y + base + noise
                frame = prediction_frame(encoder=f"enc{r}", task=task, probe="linear", seed=seed,
                                         clip_id=[f"c{i}" for i in range(n)], subject=subject.tolist(),
                                         label=y, score=score, fold=subject.tolist() if loso else None,
                                         classes=classes if kind == "multiclass" else ())
                cs = clip_scores(frame, kind=kind, classes=classes, split_scheme="loso" if loso else "fixed")
                interval = stats.bootstrap(cs, resamples=resamples)
                folds = (np.bincount(cs.unit, weights=np.abs(cs.score - cs.y)) / np.bincount(cs.unit)).tolist() \
                    if loso else []
                records.append(ResultRecord(
                    encoder=f"enc{r}", encoder_id=f"enc{r}", encoder_fingerprint=f"fp{r}", weights="pretrained",
                    random_init=False, aligned=False, task=task, task_name=task, task_version="1", kind=kind,
                    metric="mae" if kind == "regression" else "auroc", higher_is_better=kind != "regression",
                    protocol="default", probe="linear", seed=seed, value=stats.point(cs), fold_values=folds,
                    split_scheme="loso" if loso else "fixed", classes=classes,
                    ci95=list(interval.ci) if interval.ci else None, bootstrap=interval.info, run_id=folder.name))
                frames.append(frame)
    write_run_results(folder, records, concat(frames))
    return f"{len(SHAPES)} tasks × {rows} rows × {seeds} seeds, {len(records)} records"


def compare(args: argparse.Namespace) -> None:
    from acubench.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        shape = _synthetic_run(run, args.rows, args.seeds, args.resamples)
        print(shape, flush=True)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            code = cli(["leaderboard", str(run), "--compare", "enc0", "-o", str(Path(tmp) / "board.json")])
            times.append(time.perf_counter() - t0)
            assert code == 0
    write_result("evidence-compare", {"shape": shape, "resamples": args.resamples, "runs": args.runs,
                                      "seconds_median": round(float(np.median(times)), 2),
                                      "seconds_min": round(min(times), 2), "seconds_max": round(max(times), 2)})


# -- demo ------------------------------------------------------------------------------------------------------


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _statistics_share(runs: int) -> dict:
    """CPU seconds of a warm demo run in this process, and of the parts that exist for the evidence.

    Timed: every bootstrap interval of the run, building and stacking the prediction
    rows, the parquet file, and building the whole leaderboard (intervals, Δ tests:
    before the evidence existed it took milliseconds, so all of it is counted).
    """
    from acubench.cli import main as cli
    from acubench.engine import runner
    from acubench.leaderboard import aggregate
    from acubench.records import predictions, stats

    spent = {"bootstrap": 0.0, "prediction_rows": 0.0, "parquet": 0.0, "leaderboard": 0.0}

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0 = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.process_time() - t0
        return wrapper

    patches = [(stats, "bootstrap", "bootstrap"), (runner, "_prediction_frame", "prediction_rows"),
               (runner, "clip_scores", "prediction_rows"), (runner, "concat", "prediction_rows"),
               (predictions, "to_parquet", "parquet"), (aggregate, "board_from_runs", "leaderboard")]
    saved = [(mod, attr, getattr(mod, attr)) for mod, attr, _ in patches]
    totals = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for mod, attr, name in patches:
                setattr(mod, attr, timed(name, getattr(mod, attr)))
            for i in range(runs + 1):
                if i == 1:  # the first run loads modules and warms caches: not counted
                    spent.update(dict.fromkeys(spent, 0.0))
                t0 = time.process_time()
                assert cli(["run", "--encoder", "logmel,opera", "--tasks", "demo", "--out", f"{tmp}/r{i}"]) == 0
                if i:
                    totals.append(time.process_time() - t0)
        finally:
            for mod, attr, fn in saved:
                setattr(mod, attr, fn)
    total = float(np.sum(totals))
    return {"runs": runs, "cpu_seconds_per_run": round(total / runs, 2),
            "statistics_cpu_seconds_per_run": {k: round(v / runs, 3) for k, v in spent.items()},
            "statistics_share": round(sum(spent.values()) / total, 4)}


def demo(args: argparse.Namespace) -> None:
    acubench = str(Path(sys.executable).with_name("acubench"))
    wall: dict[str, list[float]] = {"default": [], "bootstrap-0": []}
    cpu: dict[str, list[float]] = {"default": [], "bootstrap-0": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs + 1):  # the first pair warms the page cache and is not counted
            for name, extra in (("default", []), ("bootstrap-0", ["--bootstrap", "0"])):
                cmd = [acubench, "run", "--encoder", "logmel,opera", "--tasks", "demo", "--out", f"{tmp}/{name}{i}",
                       *extra]
                t0, c0 = time.perf_counter(), _child_cpu()
                subprocess.run(cmd, check=True, capture_output=True)
                if i:
                    wall[name].append(time.perf_counter() - t0)
                    cpu[name].append(_child_cpu() - c0)
    # CPU seconds (user + system of the child) move less than wall time on a shared machine.
    out: dict = {"runs": args.runs, "in_process": _statistics_share(args.runs)}
    for label, series in (("wall", wall), ("cpu", cpu)):
        out[f"{label}_seconds_median"] = {k: round(float(np.median(v)), 2) for k, v in series.items()}
        ratios = [a / b for a, b in zip(series["default"], series["bootstrap-0"], strict=True)]
        out[f"{label}_ratio_median"] = round(float(np.median(ratios)), 3)
    write_result("evidence-demo", out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("coverage")
    p.add_argument("--repeats", type=int, default=1000)
    p.add_argument("--resamples", type=int, default=1000)
    p.set_defaults(func=coverage)
    p = sub.add_parser("compare")
    p.add_argument("--rows", type=int, default=10)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--runs", type=int, default=5)
    p.set_defaults(func=compare)
    p = sub.add_parser("demo")
    p.add_argument("--runs", type=int, default=5)
    p.set_defaults(func=demo)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
