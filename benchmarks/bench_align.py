"""AcuLa alignment throughput (training pairs/s) with and without the teacher-embedding cache.

Runs ``acubench.align.api.align`` on the demo corpus from a seeded random
initialisation, once with teacher vectors pre-computed and cached (acubench's
default) and once running the teacher inside every training step (what AcuLa's
training loop does), and reports pairs/s of the training epochs and the wall
time of each whole call. Each variant trains ``--epochs`` (default 2) epochs and
the figure is the last epoch's, so start-up (CUDA context, kernel selection,
demo generation, teacher pre-computation) is excluded; the wall times include it.

    python benchmarks/bench_align.py --encoder opera-gt --preset demo
    python benchmarks/bench_align.py --encoder opera-gt --preset paper --epochs 1 --device cuda --precision bf16 \
        --teacher bert-base-shaped

``--teacher bert-base-shaped`` builds a randomly initialised BERT-base-sized model
offline (for machines without the bundled MiniLM or a Hub connection); its cost
per report is that of a 110 M-parameter encoder teacher.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import write_result

from acubench.align.api import align
from acubench.align.trainer import LOG_NAME
from acubench.loading import EncoderOptions


def bert_base_shaped(folder: Path) -> Path:
    """A random BERT-base (12 × 768); its tokenizer maps each word to one token, as long as real text."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]")
    torch.manual_seed(0)
    BertModel(BertConfig()).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="opera-gt")
    ap.add_argument("--preset", default="demo", choices=("demo", "paper"))
    ap.add_argument("--epochs", type=int, default=2, help="epochs per variant; the last one is timed")
    ap.add_argument("--max-pairs", type=int, default=None, help="override the preset's training-pair cap")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--num-workers", type=int, default=0, help="audio-loading worker processes")
    ap.add_argument("--teacher", default=None, help="teacher id/path (default: bundled MiniLM), or bert-base-shaped")
    args = ap.parse_args()

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        teacher = args.teacher
        if teacher == "bert-base-shaped":
            teacher = str(bert_base_shaped(Path(tmp) / "teacher"))
        for teacher_cache in (True, False):
            overrides = {"epochs": args.epochs, "max_pairs": args.max_pairs, "batch_size": args.batch_size,
                         "teacher_cache": teacher_cache, "precision": args.precision, "val_fraction": 0.0,
                         "num_workers": args.num_workers, "save_every": args.epochs}
            out = Path(tmp) / f"run-{teacher_cache}"
            t0 = time.perf_counter()
            align(args.encoder, corpus="demo", teacher=teacher, preset=args.preset, overrides=overrides,
                  encoder_options=EncoderOptions(random_init="always", device=args.device), out=out, cache_dir=cache)
            wall = time.perf_counter() - t0
            epochs = [r for r in map(json.loads, (out / LOG_NAME).read_text().splitlines()) if r["type"] == "epoch"]
            pairs_s = epochs[-1]["samples_per_second"]
            runs["teacher_cache" if teacher_cache else "teacher_in_loop"] = {
                "train_pairs_per_s": round(pairs_s, 2), "epochs": len(epochs),
                "train_seconds": round(sum(r["seconds"] for r in epochs), 2), "wall_seconds": round(wall, 2)}
            print(runs, flush=True)
    speedup = runs["teacher_cache"]["train_pairs_per_s"] / runs["teacher_in_loop"]["train_pairs_per_s"]
    write_result(f"align-{args.encoder}-{args.preset}-{args.device}-{args.precision}-w{args.num_workers}",
                 {"encoder": args.encoder, "num_workers": args.num_workers, "preset": args.preset,
                  "device": args.device, "precision": args.precision,
                  "teacher": args.teacher or "bundled all-MiniLM-L6-v2", "runs": runs,
                  "teacher_cache_speedup": round(speedup, 2)})


if __name__ == "__main__":
    main()
