"""``acubench embed``: extract clip embeddings from your own recordings."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from acubench.cli.common import add_encoder_args, encoder_options, reporter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="extract one embedding per audio file (.npy or .parquet)",
        description="Extract one clip embedding per file with the benchmark's preprocessing and pooling "
                    "(batched and cached). Writes OUT.npy plus OUT.ids.json (row → file), or OUT.parquet.",
        epilog="example:\n  acubench embed --encoder opera-gt recordings/ -o emb.npy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="FILE|DIR", help="audio files or folders (searched recursively)")
    p.add_argument("--encoder", "-e", default="opera", help="encoder id or alias (default opera)")
    p.add_argument("--aligned", default=None, metavar="CKPT",
                   help="use an AcuLa-aligned checkpoint (from `acubench align`)")
    p.add_argument("--clip-policy", default="default", metavar="POLICY",
                   help="default (the encoder's reference policy) | whole[:MIN_S] | windows:SEC[:HOP_S] | crop:MAX_S")
    p.add_argument("-o", "--out", required=True, metavar="OUT.npy|OUT.parquet", help="output file")
    p.add_argument("--skip-bad-audio", action="store_true",
                   help="write NaN rows for unusable files instead of stopping")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    add_encoder_args(p)
    p.set_defaults(func=_embed)


def _embed(args: argparse.Namespace) -> int:
    from acubench.api import embed
    from acubench.engine.embedding import save_embeddings
    from acubench.errors import OptionError
    from acubench.paths import check_writable_file

    if Path(args.out).suffix not in (".npy", ".parquet"):
        raise OptionError(f"-o {args.out}: the output must end in .npy or .parquet")
    check_writable_file(args.out, what="embeddings file (-o)", fix="choose another -o")  # before any compute
    options = replace(encoder_options(args), random_init="fallback" if args.random_init else "never")
    report = reporter()
    result = embed(args.inputs, encoder=args.encoder, aligned=args.aligned, clip_policy=args.clip_policy,
                   encoder_options=options, skip_bad_audio=args.skip_bad_audio, use_cache=not args.no_cache,
                   reporter=report)
    if result is None:  # a torchrun rank other than 0: rank 0 writes the file
        return 0
    paths = save_embeddings(result, args.out)
    ext = result.extraction
    report.note(f"{result.encoder}: {len(result.ids)} files → {result.embeddings.shape} "
                f"({ext.cached} from cache, {ext.computed} computed, {len(ext.bad)} skipped) in {ext.seconds:.1f} s")
    for _clip_id, msg in ext.bad[:10]:
        report.note(f"  skipped {msg}", level="warning")
    report.note("wrote " + ", ".join(map(str, paths)))
    return 0
