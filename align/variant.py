"""The aligned variant of an encoder in a benchmark run (``acubench run --aligned``).

:func:`aligned_variant` turns a base encoder and :class:`AlignOptions` into
the encoder to evaluate next to it, the row label that says how it was made
(``opera-gt+acula[demo]``, ``opera-gt+acula[corpus,paper,medgemma-4b-pt]``…),
and the ``alignment.json`` of its checkpoint, which the run copies into its
folder. Either it aligns (cached: the same settings reuse the same
checkpoint) or it loads a checkpoint from ``acubench align``.

Corpus choice
    With no corpus named, tasks that are all demo tasks align on the demo
    corpus; any other selection aligns on the corpus of the datasets present
    (:func:`acubench.align.corpus.build_corpus`, test clips excluded). The
    synthetic demo corpus is never used for real tasks unless named.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acubench.align.api import align, load_aligned_encoder, read_aligned
from acubench.align.checkpoints import SUMMARY_NAME
from acubench.align.corpus import DEMO_CORPUS, PRESENT_CORPUS
from acubench.align.model import AlignError
from acubench.align.options import AlignOptions
from acubench.align.teacher import DEFAULT_TEACHER_ID
from acubench.encoder import AudioEncoder
from acubench.loading import EncoderOptions

ALIGNED_SUFFIX = "+acula"
#: Overrides spelled out in a label; more are summarised by count and digest.
MAX_LISTED = 3


@dataclass
class AlignedVariant:
    """An aligned encoder ready to evaluate, with its provenance."""

    encoder: AudioEncoder
    label: str
    checkpoint: Path
    summary: dict[str, Any] | None
    trained: bool


def resolve_corpus(corpus: str | None, all_demo: bool) -> str:
    """The corpus to align on (see the module docstring)."""
    if corpus is None:
        return DEMO_CORPUS if all_demo else PRESENT_CORPUS
    return corpus


def _short(value: Any) -> str:
    text = str(value)
    return Path(text).stem if os.sep in text or text.endswith(".csv") else text.rsplit("/", 1)[-1]


def variant_tag(summary: dict[str, Any], keys: tuple[str, ...] = ()) -> str:
    """What sets an aligned row apart, for its label: corpus, then whatever is not the corpus' default.

    ``demo`` for the demo corpus, demo preset and default teacher; the
    preset, the teacher, the control, the overrides (``align_loss=cka``; more
    than :data:`MAX_LISTED` as ``N settings #digest``) and ``test-overlap``
    are added when they apply.
    """
    corpus = summary["corpus"]
    source = str(corpus.get("source", "?"))
    parts = [source if source in (DEMO_CORPUS, PRESENT_CORPUS) else _short(source)]
    if summary["preset"] != (DEMO_CORPUS if source == DEMO_CORPUS else "paper"):
        parts.append(summary["preset"])
    teacher = (summary.get("teacher") or {}).get("id")
    if teacher and teacher != DEFAULT_TEACHER_ID:
        parts.append(_short(teacher))
    settings = summary.get("settings", {})
    overrides = {k: v for k, v in sorted(summary.get("overrides", {}).items()) if k != "control" and k not in keys}
    parts += [f"{k}={settings.get(k)}" for k in keys if k != "control"]
    if len(overrides) + len(keys) <= MAX_LISTED:
        parts += [f"{k}={v}" for k, v in overrides.items()]
    elif overrides:  # the full settings are in alignment.json; the label stays readable and still tells runs apart
        digest = hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode()).hexdigest()[:6]
        parts.append(f"{len(overrides)} settings #{digest}")
    if summary.get("control", "none") != "none":
        parts.append(f"control={summary['control']}")
    if corpus.get("allow_test_overlap"):
        parts.append("test-overlap")
    if summary.get("seed", 0):
        parts.append(f"seed={summary['seed']}")
    return ",".join(parts)


def aligned_label(base_label: str, summary: dict[str, Any] | None, keys: tuple[str, ...] = ()) -> str:
    """``<base>+acula[<tag>]``; a checkpoint without acubench metadata (AcuLa's own) is ``<base>+acula[external]``."""
    return f"{base_label}{ALIGNED_SUFFIX}[{variant_tag(summary, keys) if summary else 'external'}]"


def read_summary(checkpoint: Path) -> dict[str, Any] | None:
    """The ``alignment.json`` beside a checkpoint from ``acubench align``; ``None`` for one without (AcuLa's)."""
    summary_file = checkpoint.parent / SUMMARY_NAME
    return json.loads(summary_file.read_text()) if summary_file.is_file() else None


def aligned_variant(base: AudioEncoder, base_label: str, options: AlignOptions, *, all_demo: bool, device: str,
                    cache_dir: Path, data_root: Path, task_options: dict[str, str],
                    trust_checkpoint: bool = False, console=None) -> AlignedVariant:
    """Align ``base`` (or load ``options.checkpoint``) and label it.

    Raises
    ------
    AlignError
        If the checkpoint aligns another encoder than ``base``.
    """
    if options.checkpoint:
        path, _, meta = read_aligned(options.checkpoint, trust_checkpoint=trust_checkpoint)
        if meta["encoder"] != base.spec.id:
            raise AlignError(f"{path} aligns encoder {meta['encoder']}, not {base.spec.id}; pass --encoder "
                             f"{meta['encoder']}")
        summary = read_summary(path)
        encoder = load_aligned_encoder(path, device=device, trust_checkpoint=trust_checkpoint)
        return AlignedVariant(encoder, aligned_label(base_label, summary), path, summary, False)
    corpus = resolve_corpus(options.corpus, all_demo)
    preset = options.preset or (DEMO_CORPUS if corpus == DEMO_CORPUS else "paper")
    ckpt = align(base, corpus=corpus, teacher=options.teacher, preset=preset, overrides=options.overrides,
                 encoder_options=EncoderOptions(device=device), seed=options.seed, cache_dir=cache_dir,
                 data_root=data_root, task_options=task_options, allow_test_overlap=options.allow_test_overlap,
                 console=console)
    encoder = load_aligned_encoder(ckpt.path, device=device)
    encoder.base_random_init = base.weights_info.is_random
    return AlignedVariant(encoder, aligned_label(base_label, ckpt.summary, options.label_keys), ckpt.path,
                          ckpt.summary, ckpt.trained)
