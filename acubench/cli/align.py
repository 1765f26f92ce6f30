"""``acubench align``, ``acubench corpus`` and ``acubench zeroshot``: AcuLa post-training from the shell."""

from __future__ import annotations

import argparse
from typing import Any

from acubench.cli import UsageError
from acubench.cli.common import console, csv_list

_ALIGN_EPILOG = """examples:
  acubench align --encoder opera-gt --random-init                       # demo corpus, demo preset
  acubench align --encoder opera-gt --corpus corpus.csv --preset paper --teacher google/medgemma-4b-pt --device cuda
  torchrun --nproc_per_node 4 -m acubench align --encoder opera-gt --corpus corpus.csv --preset paper --device cuda

Re-running the same command after an interruption resumes from the last checkpoint."""


def register(sub: argparse._SubParsersAction) -> None:
    _register_align(sub)
    _register_corpus(sub)
    _register_zeroshot(sub)


# --- align --------------------------------------------------------------------------------------


def _register_align(sub: argparse._SubParsersAction) -> None:
    from acubench.align.choices import ALIGN_LOSSES, POOLINGS, PRESET_NAMES

    p = sub.add_parser(
        "align", help="post-train an encoder with AcuLa (alignment to a frozen language model)",
        description="Align an audio encoder's clip embeddings to a frozen language model's embeddings of clinical "
                    "reports (CKA) while keeping masked acoustic modelling, then write an AcuLa-layout checkpoint. "
                    "Settings come from a preset; the flags below override single settings.",
        epilog=_ALIGN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", "-e", required=True, metavar="NAME", help="encoder id or alias (e.g. opera-gt)")
    p.add_argument("--corpus", default="demo", metavar="demo|FILE.csv",
                   help="'demo' (built-in synthetic corpus) or a corpus CSV from `acubench corpus` "
                        "(columns audio_path, report; AcuLa's Gen_Report accepted)")
    p.add_argument("--teacher", default=None, metavar="ID|PATH",
                   help="language model: Hugging Face id or folder (default: bundled all-MiniLM-L6-v2; the paper: "
                        "google/medgemma-4b-pt)")
    p.add_argument("--preset", default="demo", choices=PRESET_NAMES,
                   help="demo: a short CPU run; paper: AcuLa's settings (default demo)")
    p.add_argument("--out", "-o", default=None, metavar="DIR",
                   help="run folder (default: the cache's aligned/<encoder>-<key>, shared with `run --aligned`)")
    p.add_argument("--skip-bad", action="store_true", help="leave out bad corpus rows (counted) instead of stopping")
    p.add_argument("--seed", type=int, default=0, help="seed of the random init (if any) and of training (default 0)")
    g = p.add_argument_group("training settings (default: the preset's)")
    for flag, kind, text in (
        ("--epochs", int, "epochs"), ("--batch-size", int, "pairs per forward pass (per process)"),
        ("--grad-accum", int, "forward passes per optimiser step"), ("--lr", float, "AdamW learning rate"),
        ("--weight-decay", float, "AdamW weight decay"), ("--warmup-steps", int, "linear warm-up steps"),
        ("--lambda-align", float, "weight of the alignment loss"),
        ("--lambda-mam", float, "weight of the masked-modelling loss"),
        ("--teacher-layer", int, "teacher hidden state to align to (-1: last layer)"),
        ("--max-text-length", int, "teacher tokens per report"),
        ("--clip-seconds", float, "cap on the audio window length (s)"),
        ("--max-pairs", int, "use at most this many training pairs (seeded subset)"),
        ("--val-fraction", float, "fraction of subjects held out for validation"),
        ("--save-every", int, "epochs between resumable checkpoints"),
        ("--num-workers", int, "audio-loading worker processes"),
    ):
        g.add_argument(flag, type=kind, default=None, help=text)
    g.add_argument("--align-loss", default=None, choices=ALIGN_LOSSES,
                   help="cka (linear CKA, default), cka-rbf, acula-reference (the reference's formula), infonce")
    g.add_argument("--teacher-pooling", default=None, choices=POOLINGS,
                   help="mean over real tokens (default), last real token, or the reference's mean-with-padding")
    g.add_argument("--lowercase-reports", action="store_true", default=None, help="lowercase reports (as AcuLa)")
    g.add_argument("--no-augment", dest="augment", action="store_false", default=None,
                   help="train without waveform augmentations (AcuLa's effective behaviour)")
    g.add_argument("--no-teacher-cache", dest="teacher_cache", action="store_false", default=None,
                   help="run the teacher on every batch instead of once per report (slower; for timing)")
    g.add_argument("--precision", default=None, choices=("fp32", "bf16"), help="bf16 autocast (CUDA only)")
    e = p.add_argument_group("base encoder")
    e.add_argument("--weights", default=None, metavar="PATH|HF_ID", help="base checkpoint (default: the usual search)")
    e.add_argument("--config", default="default", metavar="NAME", help="named encoder config (default 'default')")
    e.add_argument("--random-init", action="store_true",
                   help="start from a seeded random initialisation when no weights are found")
    e.add_argument("--non-strict", action="store_true", help="load checkpoints even with missing/unexpected keys")
    e.add_argument("--trust-checkpoint", action="store_true", help="allow checkpoints that need full unpickling")
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1… (default cpu)")
    p.set_defaults(func=_align)


#: argparse destinations that are AlignConfig settings.
_SETTINGS = ("epochs", "batch_size", "grad_accum", "lr", "weight_decay", "warmup_steps", "lambda_align", "lambda_mam",
             "teacher_layer", "max_text_length", "clip_seconds", "max_pairs", "val_fraction", "save_every",
             "num_workers", "align_loss", "teacher_pooling", "lowercase_reports", "augment", "teacher_cache",
             "precision")


def _align(args: argparse.Namespace) -> int:
    from acubench.align.api import align

    overrides: dict[str, Any] = {k: getattr(args, k) for k in _SETTINGS if getattr(args, k) is not None}
    ckpt = align(args.encoder, corpus=args.corpus, teacher=args.teacher, preset=args.preset, overrides=overrides,
                 weights=args.weights, config=args.config, random_init="fallback" if args.random_init else "never",
                 strict=not args.non_strict, trust_checkpoint=args.trust_checkpoint, device=args.device,
                 seed=args.seed, out=args.out, skip_bad=args.skip_bad, console=console())
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
    from acubench.paths import cache_dir, data_root

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
                    "similarity between projected audio and projected teacher embeddings); report AUROC.")
    p.add_argument("--encoder", "-e", required=True, metavar="NAME", help="encoder id or alias")
    p.add_argument("--aligned", nargs="?", const=None, default=None, metavar="CKPT",
                   help="aligned checkpoint (file or folder); without one, the cached demo alignment "
                        "(aligned first if absent)")
    p.add_argument("--tasks", "-t", default="demo", metavar="all|demo|ID,ID", help="tasks (default demo)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="datasets folder (default $ACUBENCH_DATA)")
    p.add_argument("--protocol", default="default", choices=("default", "reference"), help="split protocol")
    p.add_argument("--weights", default=None, metavar="PATH|HF_ID", help="base weights when aligning first")
    p.add_argument("--random-init", action="store_true", help="allow a random-init base when aligning first")
    p.add_argument("--device", default="cpu", help="cpu, cuda… (default cpu)")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="model inputs per forward pass")
    p.add_argument("--temperature", type=float, default=0.07, help="softmax temperature for multi-class scores")
    p.add_argument("--skip-bad-audio", action="store_true", help="skip unusable recordings (counted)")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow checkpoints that need full unpickling")
    p.add_argument("--output", "-o", default=None, metavar="FILE.json", help="also write the results as JSON")
    p.set_defaults(func=_zeroshot)


def _zeroshot(args: argparse.Namespace) -> int:
    from acubench.align.api import ensure_aligned, read_aligned
    from acubench.align.zeroshot import render, write_json, zeroshot
    from acubench.plugins import get_encoder

    out = console()
    wanted = get_encoder(args.encoder.partition(":")[0]).id
    if args.aligned is None:
        ckpt = ensure_aligned(args.encoder, weights=args.weights,
                              random_init="fallback" if args.random_init else "never", device=args.device,
                              console=out).path
    else:
        ckpt = args.aligned
        _, _, meta = read_aligned(ckpt, trust_checkpoint=args.trust_checkpoint)
        if meta["encoder"] != wanted:
            raise UsageError(f"{ckpt} aligns encoder {meta['encoder']}, not {wanted}")
    results, skipped = zeroshot(ckpt, tasks=args.tasks, data_root=args.data_root, protocol=args.protocol,
                                device=args.device, batch_size=args.batch_size, temperature=args.temperature,
                                skip_bad_audio=args.skip_bad_audio, trust_checkpoint=args.trust_checkpoint,
                                console=out)
    print(render(results, skipped))
    if args.output:
        write_json(args.output, results, skipped, {"checkpoint": str(ckpt), "encoder": wanted,
                                                   "temperature": args.temperature})
        out.print(f"wrote {args.output}")
    return 0
