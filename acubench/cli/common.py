"""Arguments and helpers shared by several sub-commands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console

from acubench.cli import UsageError
from acubench.cli.reporting import RichReporter

if TYPE_CHECKING:
    from acubench.loading import EncoderOptions


class RegistryHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help whose ``{probes}`` placeholder lists the registered probe heads.

    The registry is read only when help is printed, so building the parser (every
    command) loads no plugin.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text and "{probes}" in text:
            from acubench.plugins import registries

            text = text.replace("{probes}", ", ".join(sorted(registries().probes.items)).replace("%", "%%"))
        return text


def csv_list(value: str) -> list[str]:
    """``"a,b"`` → ``["a", "b"]`` (argparse type)."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected one or more comma-separated names")
    return items


def console() -> Console:
    """Progress and messages go to stderr, so stdout stays clean for tables and pipes."""
    return Console(stderr=True)


def add_task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", "-t", default="demo", metavar="all|demo|ID,ID",
                   help="tasks to run: 'demo' (built-in synthetic suite, default), 'all' (every task whose data "
                        "is present), a suite name, or task ids/names")
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="datasets folder (default $ACUBENCH_DATA, else ~/acubench-data); see `acubench data status`")
    p.add_argument("--protocol", default="default", choices=("default", "reference"),
                   help="split protocol: the corrected default, or 'reference' to reproduce the OPERA/AcuLa code "
                        "exactly")
    add_task_option_arg(p)


def add_task_option_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="task loader option (repeatable), e.g. subset=full for the UK COVID-19 tasks or "
                        "reference_lists=DIR; `acubench data status` lists each dataset's options")


def task_options(pairs: list[str]) -> dict[str, str]:
    """``["key=value", …]`` from ``--task-arg`` → ``{"key": "value"}``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--task-arg {pair!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def add_encoder_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("encoder loading")
    g.add_argument("--weights", default=None, metavar="PATH|HF_ID",
                   help="checkpoint file/folder or Hugging Face id (default: $ACUBENCH_WEIGHTS, then the HF cache/Hub)")
    g.add_argument("--config", default="default", metavar="NAME", help="named encoder config (default 'default')")
    g.add_argument("--random-init", action="store_true",
                   help="allow a seeded random initialisation when no weights are found (always marked 'random init')")
    g.add_argument("--non-strict", action="store_true", help="load checkpoints even with missing/unexpected keys")
    g.add_argument("--trust-checkpoint", action="store_true",
                   help="allow checkpoints that need full unpickling (can execute code: trusted files only)")
    g.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]|mps",
                   help="where the encoder runs (default auto: CUDA if available, then MPS, else CPU)")
    g.add_argument("--batch-size", type=int, default=16, metavar="N", help="model inputs per forward pass (default 16)")
    g.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="auto (default): bf16 where the device computes it natively (recent GPUs, CPUs with "
                        "AVX-512 BF16/AMX), else fp32; bf16 runs the encoder's backbone under autocast (embeddings "
                        "within cosine 0.99999 of fp32, BENCHMARKS.md)")


def encoder_options(args: argparse.Namespace) -> EncoderOptions:
    """The :class:`~acubench.loading.EncoderOptions` of :func:`add_encoder_args`' flags."""
    from acubench.loading import EncoderOptions

    return EncoderOptions(weights=args.weights, config=args.config,
                          random_init="fallback" if args.random_init else None,
                          strict=not args.non_strict, trust_checkpoint=args.trust_checkpoint, device=args.device,
                          precision=args.precision, batch_size=args.batch_size)


def reporter() -> RichReporter:
    """Progress bars and messages on stderr."""
    return RichReporter(console())
