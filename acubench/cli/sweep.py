"""``acubench sweep``: align and evaluate every combination of alignment settings into one leaderboard."""

from __future__ import annotations

import argparse
import itertools
from typing import Any

from acubench.cli import UsageError
from acubench.cli.align import add_aligned_args, setting_overrides
from acubench.cli.common import RegistryHelpFormatter
from acubench.cli.run import add_run_args, run_from_args

_EPILOG = """examples:
  acubench sweep --encoder opera --tasks demo --grid align_loss=cka,cka-debiased,acula-reference --grid lambda_mam=0,1
  acubench sweep --encoder opera --tasks demo --grid control=none,shuffled-reports

Every combination is aligned (cached by its settings, so an interrupted sweep resumes where it stopped: finished
alignments and embeddings come from the cache) and evaluated next to the base encoder, in one run folder whose
leaderboard gives each variant its delta against the base row."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="ablations: align and evaluate a grid of alignment settings in one leaderboard",
                       description="The cartesian product of the --grid settings, each one aligned variant of the "
                                   "encoder, all evaluated with the base encoder in one run.",
                       epilog=_EPILOG, formatter_class=RegistryHelpFormatter)  # --probe help lists the registry
    p.add_argument("--encoder", "-e", required=True, metavar="NAME", help="encoder id or alias")
    p.add_argument("--grid", action="append", required=True, metavar="SETTING=V1,V2",
                   help="an alignment setting and its values (repeatable), e.g. align_loss=cka,cka-debiased")
    add_run_args(p)
    add_aligned_args(p, sweep=True)
    p.set_defaults(func=_sweep)


def parse_grid(pairs: list[str]) -> dict[str, list[Any]]:
    """``["align_loss=cka,cka-debiased", "lambda_mam=0,1"]`` → typed values per AlignConfig setting.

    Raises
    ------
    UsageError
        For a malformed pair, an unknown setting, a value of the wrong type or a setting given twice.
    """
    from dataclasses import fields

    from acubench.align.presets import AlignConfig

    types = {f.name: f.type for f in fields(AlignConfig)}
    grid: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not values.strip():
            raise UsageError(f"--grid {pair!r}: expected SETTING=V1,V2 (e.g. lambda_mam=0,1)")
        if key not in types:
            raise UsageError(f"--grid {pair!r}: unknown alignment setting {key!r}; "
                             f"settings: {', '.join(sorted(types))}")
        if key in grid:
            raise UsageError(f"--grid {key} given twice; list all its values in one --grid")
        grid[key] = [_value(key, types[key], v.strip()) for v in values.split(",") if v.strip()]
    return grid


def _value(key: str, kind: str, text: str) -> Any:
    if kind.endswith("| None") and text.lower() == "none":
        return None
    base = kind.replace(" | None", "")
    try:
        if base == "bool":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        return {"int": int, "float": float, "str": str}[base](text)
    except ValueError:
        raise UsageError(f"--grid {key}: {text!r} is not a valid {base}") from None


def sweep_options(grid: dict[str, list[Any]], args: argparse.Namespace) -> list:
    """One ``AlignOptions`` per combination of the grid, over the shared alignment flags."""
    from acubench.align.presets import resolve_config
    from acubench.align.variant import AlignOptions

    common = setting_overrides(args)
    plans = []
    for combo in itertools.product(*grid.values()):
        overrides = {**common, **dict(zip(grid, combo, strict=True))}
        resolve_config(args.align_preset or "demo", overrides)  # every combination is valid before any work
        plans.append(AlignOptions(corpus=args.corpus, teacher=args.teacher, preset=args.align_preset,
                                  overrides=overrides, seed=args.align_seed,
                                  allow_test_overlap=args.allow_test_overlap, label_keys=tuple(grid)))
    return plans


def _sweep(args: argparse.Namespace) -> int:
    plans = sweep_options(parse_grid(args.grid), args)
    run_from_args(args, [args.encoder], plans)
    return 0
