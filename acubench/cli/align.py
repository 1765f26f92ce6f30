"""``acubench align``, ``acubench corpus`` and ``acubench zeroshot``: AcuLa post-training from the shell."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from acubench.align.choices import ALIGN_TARGETS, CONTROLS, POOLINGS, PRESET_NAMES, WINDOWINGS
from acubench.cli import UsageError
from acubench.cli.common import add_task_args, add_task_option_arg, console, csv_list, reporter, task_options

_ALIGN_EPILOG = """examples:
  acubench align --encoder opera-gt --random-init                       # demo corpus, demo preset
  acubench align --encoder opera-gt --corpus corpus.csv --preset paper --teacher google/medgemma-4b-pt --device cuda
  acubench align --encoder opera-gt --random-init --control shuffled-reports     # the control run
  torchrun --nproc_per_node 4 -m acubench align --encoder opera-gt --corpus corpus.csv --preset paper --device cuda
  # two machines (run on each, --node_rank 0 and 1; --batch-size stays the global batch):
  torchrun --nnodes 2 --node_rank 0 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \
      -m acubench align --encoder opera-gt --corpus corpus.csv --preset paper --device cuda

Re-running the same command after an interruption resumes from the last checkpoint."""


def register(sub: argparse._SubParsersAction) -> None:
    _register_align(sub)
    _register_corpus(sub)
    _register_zeroshot(sub)


# --- align --------------------------------------------------------------------------------------


#: One line of help per AlignConfig setting (the flags themselves are generated from the dataclass).
_HELP = {
    "epochs": "epochs",
    "batch_size": "pairs per optimiser forward pass: the global batch, split over torchrun processes",
    "grad_accum": "forward passes per optimiser step", "lr": "AdamW learning rate",
    "weight_decay": "AdamW weight decay",
    "warmup_steps": "linear warm-up steps", "lambda_align": "weight of the alignment loss",
    "lambda_mam": "weight of the masked-modelling loss",
    "align_loss": "alignment loss: cka-debiased (default), cka, cka-rbf, acula-reference (AcuLa's formula), infonce, "
                  "or a plugin's",
    "align_target": "embedding: the encoder's own embedding against the teacher vectors (default); heads: both "
                    "through trainable projection MLPs (AcuLa)",
    "control": "shuffled-reports: train with the reports permuted over the recordings (the control run)",
    "rbf_sigma": "cka-rbf bandwidth (x median distance)", "temperature": "infonce temperature",
    "proj_dim": "projection size (align_target heads)", "proj_hidden": "projection hidden width",
    "dropout": "projection dropout", "mask_ratio": "masked fraction of the generic masked-modelling head",
    "windowing": "policy: the encoder's windows; reference: AcuLa's first 8.1875 s",
    "clip_seconds": "cap on the audio window length (s)", "max_pairs": "use at most this many training pairs",
    "val_fraction": "fraction of subjects held out for validation", "max_val_pairs": "cap on held-out pairs",
    "augment": "waveform augmentations of training audio", "augment_p": "probability of each augmentation",
    "teacher_pooling": "mean over real tokens (default), last real token, or the reference's mean-with-padding",
    "teacher_layer": "teacher hidden state to align to (-1: last layer)",
    "max_text_length": "teacher tokens per report",
    "lowercase_reports": "lowercase reports (as AcuLa)",
    "teacher_cache": "teacher vectors computed once and cached (off: the teacher runs in every step, for timing)",
    "save_every": "epochs between resumable checkpoints", "clip_grad_norm": "gradient-norm clipping (0: off)",
    "precision": "bf16 autocast (CUDA only)", "num_workers": "audio-loading worker processes",
}
_CHOICES = {"align_target": ALIGN_TARGETS, "control": CONTROLS, "teacher_pooling": POOLINGS, "windowing": WINDOWINGS,
            "precision": ("fp32", "bf16")}
#: The settings ``acubench run`` takes as flags (the rest through --align-config FILE).
RUN_SETTINGS = ("align_loss", "align_target", "lambda_align", "lambda_mam", "teacher_layer", "teacher_pooling",
                "control")


def _type(annotation: str):
    return {"int": int, "float": float, "str": str}[annotation.replace(" | None", "")]


def add_setting_args(group: argparse._ArgumentGroup, names: tuple[str, ...] | None = None, prefix: str = "") -> None:
    """A flag per :class:`~acubench.align.presets.AlignConfig` setting (default: the preset's value)."""
    from dataclasses import fields

    from acubench.align.presets import AlignConfig

    for f in fields(AlignConfig):
        if names is not None and f.name not in names:
            continue
        flag = "--" + prefix + f.name.replace("_", "-")
        if f.type == "bool":
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                               help=_HELP[f.name])
        else:
            group.add_argument(flag, dest=f.name, type=_type(f.type), default=None, choices=_CHOICES.get(f.name),
                               help=_HELP[f.name])


def setting_overrides(args: argparse.Namespace, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The settings given on the command line (``--align-config FILE`` first, flags over it)."""
    from dataclasses import fields

    from acubench.align.presets import AlignConfig

    overrides: dict[str, Any] = {}
    if getattr(args, "align_config", None):
        try:
            loaded = json.loads(Path(args.align_config).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"--align-config {args.align_config}: not a readable JSON file ({exc})") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--align-config {args.align_config}: expected a JSON object of settings, e.g. "
                             f'{{"align_loss": "cka", "lambda_mam": 0}}')
        overrides.update(loaded)
    for f in fields(AlignConfig):
        value = getattr(args, f.name, None)
        if f.name == "precision" and value == "auto":
            continue  # the encoder's --precision default (run, sweep): the alignment preset decides
        if (names is None or f.name in names) and value is not None:
            overrides[f.name] = value
    return overrides


def add_aligned_args(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    """``acubench run``'s AcuLa flags (``sweep``: without --aligned and --aligned-checkpoint)."""
    g = p.add_argument_group("AcuLa post-training" if sweep
                             else "AcuLa post-training (--aligned, --aligned-checkpoint)")
    if not sweep:
        g.add_argument("--aligned", action="store_true",
                       help="also evaluate each encoder after AcuLa alignment (aligns first unless a cached "
                            "checkpoint exists); the row is labelled with the corpus, preset and settings, e.g. "
                            "opera-gt+acula[demo]")
        g.add_argument("--aligned-checkpoint", default=None, metavar="PATH",
                       help="evaluate this checkpoint from `acubench align` (file or folder) as the aligned row")
    g.add_argument("--corpus", default=None, metavar="demo|datasets|FILE.csv",
                   help="alignment corpus (default: demo for demo tasks, else 'datasets', the corpus of the datasets "
                        "present with test clips excluded; the demo corpus is used for real tasks only when named)")
    g.add_argument("--teacher", default=None,
                   help="teacher language model id or path (default: offline all-MiniLM-L6-v2)")
    g.add_argument("--align-preset", default=None, choices=PRESET_NAMES,
                   help="demo (CPU-sized), paper (AcuLa corrected) or reference (AcuLa's code exactly); default demo "
                        "on the demo corpus, paper otherwise")
    g.add_argument("--align-seed", type=int, default=0, help="seed of the alignment run (default 0)")
    g.add_argument("--align-config", default=None, metavar="FILE.json", help="alignment settings as a JSON object")
    g.add_argument("--allow-test-overlap", action="store_true",
                   help="align even on a corpus holding test clips of a task present (recorded, marked in the label)")
    add_setting_args(g, RUN_SETTINGS)


def align_options(args: argparse.Namespace):
    """``AlignOptions`` from ``acubench run``'s flags; ``None`` without --aligned/--aligned-checkpoint."""
    from acubench.align.variant import AlignOptions

    if not (args.aligned or args.aligned_checkpoint):
        return None
    return AlignOptions(corpus=args.corpus, teacher=args.teacher, preset=args.align_preset,
                        overrides=setting_overrides(args, RUN_SETTINGS), seed=args.align_seed,
                        checkpoint=args.aligned_checkpoint, allow_test_overlap=args.allow_test_overlap)


def _register_align(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "align", help="post-train an encoder with AcuLa (alignment to a frozen language model)",
        description="Align an audio encoder's clip embeddings to a frozen language model's embeddings of clinical "
                    "reports while keeping masked acoustic modelling, then write an AcuLa-layout checkpoint and "
                    "alignment.json (held-out debiased CKA before/after/shuffled, retrieval). Settings come from a "
                    "preset; the flags below override single settings.",
        epilog=_ALIGN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", "-e", required=True, metavar="NAME", help="encoder id or alias (e.g. opera-gt)")
    p.add_argument("--corpus", default="demo", metavar="demo|datasets|FILE.csv",
                   help="'demo' (built-in synthetic corpus), 'datasets' (the datasets present under --data-root) or "
                        "a corpus CSV from `acubench corpus` (columns audio_path, report; AcuLa's Gen_Report accepted)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="datasets folder (default $ACUBENCH_DATA)")
    add_task_option_arg(p)
    p.add_argument("--allow-test-overlap", action="store_true",
                   help="align even on a corpus holding test clips of a task present (recorded in alignment.json)")
    p.add_argument("--control", default=None, choices=CONTROLS, help=_HELP["control"])
    p.add_argument("--teacher", default=None, metavar="ID|PATH",
                   help="language model: Hugging Face id or folder (default: bundled all-MiniLM-L6-v2; the paper: "
                        "google/medgemma-4b-pt)")
    p.add_argument("--preset", default="demo", choices=PRESET_NAMES,
                   help="demo: a short CPU run; paper: AcuLa's settings, corrected; reference: AcuLa's code exactly "
                        "(default demo)")
    p.add_argument("--out", "-o", default=None, metavar="DIR",
                   help="run folder (default: the cache's aligned/<encoder>-<key>, shared with `run --aligned`)")
    p.add_argument("--skip-bad", action="store_true", help="leave out bad corpus rows (counted) instead of stopping")
    p.add_argument("--seed", type=int, default=0, help="seed of the random init (if any) and of training (default 0)")
    p.add_argument("--align-config", default=None, metavar="FILE.json", help="settings as a JSON object (flags win)")
    g = p.add_argument_group("training settings (default: the preset's)")
    add_setting_args(g, tuple(k for k in _HELP if k != "control"))
    e = p.add_argument_group("base encoder")
    e.add_argument("--weights", default=None, metavar="PATH|HF_ID", help="base checkpoint (default: the usual search)")
    e.add_argument("--config", default="default", metavar="NAME", help="named encoder config (default 'default')")
    e.add_argument("--random-init", action="store_true",
                   help="start from a seeded random initialisation when no weights are found")
    e.add_argument("--non-strict", action="store_true", help="load checkpoints even with missing/unexpected keys")
    e.add_argument("--trust-checkpoint", action="store_true", help="allow checkpoints that need full unpickling")
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1… (default cpu)")
    p.set_defaults(func=_align)


def _align(args: argparse.Namespace) -> int:
    from acubench.align.api import align
    from acubench.loading import EncoderOptions
    from acubench.paths import cache_dir, check_writable_dir

    # Outputs checked before the corpus, the teacher and the training (harden, #12).
    if args.out:
        check_writable_dir(args.out, what="alignment run folder (--out)", fix="choose another --out")
    check_writable_dir(cache_dir(), what="cache (teacher embeddings, default alignment folder)",
                       fix="point $ACUBENCH_CACHE at a writable folder")
    options = EncoderOptions(weights=args.weights, config=args.config,
                             random_init="fallback" if args.random_init else "never", strict=not args.non_strict,
                             trust_checkpoint=args.trust_checkpoint, device=args.device)
    ckpt = align(args.encoder, corpus=args.corpus, teacher=args.teacher, preset=args.preset,
                 overrides=setting_overrides(args), encoder_options=options, seed=args.seed, out=args.out,
                 skip_bad=args.skip_bad, data_root=args.data_root, task_options=task_options(args.task_arg),
                 allow_test_overlap=args.allow_test_overlap, console=console())
    print(ckpt.path)
    return 0


# --- corpus ---------------------------------------------------------------------------------------


def _register_corpus(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "corpus", help="build the alignment corpus (recordings + reports) from the datasets present",
        description="Write one report per recording of every dataset present that has recording metadata. "
                    "Recordings in any registered task's test split, and all recordings of test subjects, are "
                    "excluded (counts are printed per dataset).")
    p.add_argument("--data-root", default=None, metavar="DIR", help="datasets folder (default $ACUBENCH_DATA)")
    p.add_argument("--datasets", type=csv_list, default=None, metavar="ID[,ID]",
                   help="dataset ids (default: every dataset present; 'demo' only when named)")
    p.add_argument("--include-test", action="store_true",
                   help="keep test recordings and test subjects (only to reproduce AcuLa's corpus: this leaks)")
    p.add_argument("--generator", default="template", choices=("template", "llm"),
                   help="template: offline, deterministic (default); llm: a local text-generation model")
    p.add_argument("--llm-model", default=None, metavar="ID|PATH", help="model for --generator llm")
    p.add_argument("--device", default="cpu", help="device of the --generator llm model")
    p.add_argument("--seed", type=int, default=0, help="seed of the template phrasing (default 0)")
    p.add_argument("--skip-bad", action="store_true", help="leave out bad rows (counted) instead of stopping")
    p.add_argument("--output", "-o", required=True, metavar="FILE.csv", help="corpus CSV to write")
    p.set_defaults(func=_corpus)


def _corpus(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from acubench.align.corpus import build_corpus, check_corpus, write_corpus
    from acubench.align.reports import LLMReports, TemplateReports
    from acubench.paths import cache_dir, check_writable_file, data_root

    check_writable_file(args.output, what="corpus file (-o)", fix="choose another -o")  # before any work (#12)
    out = console()
    if args.generator == "llm":
        if not args.llm_model:
            raise UsageError("--generator llm needs --llm-model ID|PATH (a local text-generation model)")
        generator = LLMReports(args.llm_model, cache_dir=cache_dir(), device=args.device)
    else:
        generator = TemplateReports(seed=args.seed)
    build = build_corpus(data_root(args.data_root), datasets=args.datasets, include_test=args.include_test,
                         generator=generator)
    checked = check_corpus(build.corpus, source=args.output, skip_bad=args.skip_bad)
    write_corpus(checked.frame, args.output)
    kept = checked.frame["dataset"].value_counts().to_dict()
    rows = [[ds, e.recordings, e.test_recordings, e.test_subject_recordings, kept.get(ds, 0)]
            for ds, e in build.exclusions.items()]
    print(tabulate(rows, headers=["dataset", "recordings", "excluded: test files", "excluded: test subjects",
                                  "in corpus"], tablefmt="github"))
    for ds, why in build.skipped.items():
        out.print(f"skipped {ds}: {why}")
    if checked.bad:
        out.print("[yellow]bad rows left out[/]: " + ", ".join(f"{n} {r}" for r, n in checked.bad.items()))
    if args.include_test:
        out.print("[yellow]--include-test: test recordings are in the corpus; do not evaluate on these tasks[/]")
    out.print(f"wrote {len(checked.frame)} pairs to {args.output}")
    return 0


# --- zeroshot -------------------------------------------------------------------------------------


def _register_zeroshot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "zeroshot", help="zero-shot classification with an aligned encoder (audio ↔ class-prompt similarity)",
        description="Score each test clip against the tasks' class prompts in the aligned space (cosine "
                    "similarity between projected audio and projected teacher embeddings); report AUROC with its "
                    "95 % subject-bootstrap interval. The same scorer as `acubench run --aligned --probe "
                    "linear,zeroshot`, which puts these rows in a leaderboard.",
        epilog="examples:\n  acubench zeroshot --encoder opera-gt --aligned runs/align/acula_final.pt --tasks demo\n"
               "  acubench run --encoder opera --aligned --probe linear,zeroshot --tasks demo   # as leaderboard rows",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", "-e", required=True, metavar="NAME", help="encoder id or alias")
    p.add_argument("--aligned", nargs="?", const=None, default=None, metavar="CKPT",
                   help="aligned checkpoint (file or folder); without one, the cached demo alignment "
                        "(aligned first if absent)")
    add_task_args(p)
    p.add_argument("--weights", default=None, metavar="PATH|HF_ID", help="base weights when aligning first")
    p.add_argument("--random-init", action="store_true", help="allow a random-init base when aligning first")
    p.add_argument("--device", default="cpu", metavar="auto|cpu|cuda[:N]|mps", help="where the encoder runs "
                   "(default cpu)")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="model inputs per forward pass")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="as for `acubench run` (auto: bf16 where the device computes it natively)")
    p.add_argument("--temperature", type=float, default=None,
                   help="softmax temperature of the similarities (default 0.07, CLIP's; no effect on a binary AUROC)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                   help="subject-bootstrap resamples behind each 95 %% interval (default 1000; 0: none)")
    p.add_argument("--skip-bad-audio", action="store_true", help="skip unusable recordings (counted)")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow checkpoints that need full unpickling")
    p.add_argument("--output", "-o", default=None, metavar="FILE.json",
                   help="also write the result records as JSON")
    p.set_defaults(func=_zeroshot)


def _zeroshot(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from acubench.align.api import ensure_aligned, read_aligned
    from acubench.api import zeroshot
    from acubench.loading import EncoderOptions
    from acubench.paths import atomic_write, check_writable_file
    from acubench.plugins import get_encoder

    if args.output:
        check_writable_file(args.output, what="results file (-o)", fix="choose another -o")  # before any work (#12)
    out = console()
    wanted = get_encoder(args.encoder.partition(":")[0]).id
    options = EncoderOptions(trust_checkpoint=args.trust_checkpoint, device=args.device, precision=args.precision,
                             batch_size=args.batch_size)
    if args.aligned is None:
        base = replace(options, weights=args.weights, random_init="fallback" if args.random_init else "never")
        ckpt = ensure_aligned(args.encoder, encoder_options=base, console=out).path
    else:
        ckpt = args.aligned
        _, _, meta = read_aligned(ckpt, trust_checkpoint=args.trust_checkpoint)
        if meta["encoder"] != wanted:
            raise UsageError(f"{ckpt} aligns encoder {meta['encoder']}, not {wanted}")
    result = zeroshot(ckpt, tasks=args.tasks, data_root=args.data_root, protocol=args.protocol,
                      task_options=task_options(args.task_arg), encoder_options=options,
                      temperature=args.temperature, skip_bad_audio=args.skip_bad_audio, bootstrap=args.bootstrap,
                      reporter=reporter())
    print(_zeroshot_table(result))
    if args.output:
        payload = {"checkpoint": str(result.checkpoint), "encoder": wanted, "label": result.label,
                   "records": [r.to_dict() for r in result.records], "skipped": result.skipped}
        atomic_write(Path(args.output), json.dumps(payload, indent=2, sort_keys=True, default=str))
        out.print(f"wrote {args.output}")
    return 0


def _zeroshot_table(result: Any) -> str:
    """A Markdown table of the zero-shot records (one per task), then the skipped tasks."""
    from tabulate import tabulate

    def interval(ci: list[float] | None) -> str:
        return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "–"

    rows = [[r.task, r.task_name, r.kind, len(r.classes), r.n_test, f"{r.value:.3f}", interval(r.ci95)]
            for r in result.records]
    text = f"{result.label}\n\n" + tabulate(rows, headers=["task", "name", "kind", "classes", "test clips",
                                                            "AUROC ↑", "95 % CI"], tablefmt="github",
                                               disable_numparse=True)
    if result.skipped:
        text += "\n\n" + "\n".join(f"- skipped {k}: {v}" for k, v in result.skipped.items())
    return text
