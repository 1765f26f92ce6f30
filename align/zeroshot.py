"""Zero-shot classification with an aligned encoder: audio ↔ class-prompt similarity.

For each classification task, the test clips are embedded by the aligned
encoder (through the shared extraction code and embedding cache) and
projected by the checkpoint's audio head; every class prompt
(``TaskSpec.class_prompts``, else ``"<target>: <class>"``) is embedded by the
checkpoint's teacher and projected by its language head. CKA training
aligns the two projected spaces only up to translation and rotation, so
both go through the checkpoint's space map first (centring with the
alignment corpus' means, and the Procrustes rotation fitted on its pairs:
:func:`acubench.align.heads.fit_space_map`; no task label is used). Both
are then L2-normalised and compared by cosine similarity (N × C).

Scores: for binary tasks the difference of the two similarities (class 1
minus class 0), which ranks clips independently of any temperature; for
multi-class tasks the softmax of the similarities over ``temperature``
(default 0.07, CLIP's), scored by macro one-vs-rest AUROC. Nothing is
trained, so for leave-one-subject-out tasks every pooled clip is a test clip.
Regression tasks have no classes and are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from acubench.align.api import load_aligned_model
from acubench.align.heads import map_audio, map_text
from acubench.align.teacher import Teacher, TeacherCache
from acubench.align.trainer import AlignError
from acubench.datasets import load_manifest
from acubench.manifest import POOL, DatasetError
from acubench.paths import atomic_write
from acubench.paths import cache_dir as default_cache_dir
from acubench.paths import data_root as default_data_root
from acubench.plugins import select_tasks
from acubench.specs import TaskSpec


@dataclass
class ZeroShotResult:
    """One task's zero-shot score."""

    task: str
    name: str
    kind: str
    classes: list[str]
    prompts: list[str]
    auroc: float
    n_test: int
    n_bad_audio: int


def class_prompts(task: TaskSpec) -> list[str]:
    """The task's class sentences, or ``"<target>: <class>"`` for each class."""
    return list(task.class_prompts) if task.class_prompts else [f"{task.target}: {c}" for c in task.classes]


def _auroc(labels: np.ndarray, scores: np.ndarray, n_classes: int) -> float:
    """AUROC: binary on a score vector; macro one-vs-rest on a probability matrix."""
    from acubench.metrics import auroc

    return float(auroc(labels, scores, n_classes))


def zero_shot_scores(similarity: torch.Tensor, kind: str, temperature: float) -> np.ndarray:
    """Scores (N,) for binary tasks, probabilities (N, C) otherwise, from cosine similarities (N, C)."""
    if kind == "binary":
        return (similarity[:, 1] - similarity[:, 0]).numpy()
    return torch.softmax(similarity / temperature, dim=1).numpy()


def zeroshot(
    checkpoint: str | os.PathLike,
    *,
    tasks: str = "demo",
    data_root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    protocol: str = "default",
    device: str = "cpu",
    batch_size: int = 16,
    temperature: float = 0.07,
    skip_bad_audio: bool = False,
    trust_checkpoint: bool = False,
    console=None,
) -> tuple[list[ZeroShotResult], dict[str, str]]:
    """Zero-shot AUROC of an aligned checkpoint on the selected tasks.

    Returns
    -------
    results : list of ZeroShotResult
    skipped : dict of str to str
        Task id → why it was not scored (no data, regression…).
    """
    from rich.console import Console

    from acubench.cache import EmbeddingCache
    from acubench.extract import extract

    console = console or Console(stderr=True)
    cache = default_cache_dir(cache_dir)
    root = default_data_root(data_root)
    model = load_aligned_model(checkpoint, device=device, trust_checkpoint=trust_checkpoint)
    teacher = _teacher(model.metadata, device, console)
    encoder = model.encoder
    results: list[ZeroShotResult] = []
    skipped: dict[str, str] = {}
    for task in select_tasks(tasks):
        if task.kind == "regression":
            skipped[task.id] = "regression task (zero-shot needs classes)"
            continue
        try:
            manifest = load_manifest(task, data_root=root, cache=cache, protocol=protocol)
        except DatasetError as exc:
            skipped[task.id] = str(exc)
            continue
        test = manifest[manifest["split"].isin(["test", POOL])].reset_index(drop=True)
        ext = extract(encoder, test, task.clip_policy(encoder.spec), cache=EmbeddingCache(cache, encoder.fingerprint()),
                      batch_size=batch_size, skip_bad_audio=skip_bad_audio)
        prompts = class_prompts(task)
        with torch.no_grad():
            audio = model.audio_head(torch.from_numpy(ext.embeddings[ext.ok]).to(device)).cpu()
            text = model.text_head(TeacherCache(cache, teacher).embed(prompts).to(device)).cpu()
            audio = F.normalize(map_audio(audio, model.space_map), dim=1)
            text = F.normalize(map_text(text, model.space_map), dim=1)
        labels = test["label"].to_numpy()[ext.ok]
        if len(np.unique(labels)) < 2:
            skipped[task.id] = "test split holds a single class"
            continue
        scores = zero_shot_scores(audio @ text.T, task.kind, temperature)
        results.append(ZeroShotResult(task.id, task.name, task.kind, list(task.classes), prompts,
                                      _auroc(labels.astype(int), scores, len(task.classes)),
                                      int(ext.ok.sum()), len(ext.bad)))
    return results, skipped


def _teacher(meta: dict[str, Any], device: str, console) -> Teacher:
    info = meta.get("teacher")
    if not info:
        raise AlignError("this checkpoint records no teacher (an AcuLa release?): zero-shot needs the teacher it "
                           "was aligned to; re-align with `acubench align`")
    teacher = Teacher(info["source"], pooling=info["pooling"], layer=info["layer"], max_length=info["max_length"],
                      lowercase=info["lowercase"], device=device)
    if teacher.source.revision != info["revision"]:
        console.print(f"[yellow]warning[/]: teacher {teacher.id} differs from the one the checkpoint was aligned to "
                      f"(revision {teacher.source.revision[:12]} vs {str(info['revision'])[:12]})")
    return teacher


def render(results: Sequence[ZeroShotResult], skipped: dict[str, str]) -> str:
    """A Markdown table of the scores, then the skipped tasks."""
    from tabulate import tabulate

    rows = [[r.task, r.name, r.kind, len(r.classes), r.n_test, f"{r.auroc:.3f}"] for r in results]
    text = tabulate(rows, headers=["task", "name", "kind", "classes", "test clips", "AUROC ↑"], tablefmt="github")
    if skipped:
        text += "\n\n" + "\n".join(f"- skipped {k}: {v}" for k, v in skipped.items())
    return text


def write_json(path: str | os.PathLike, results: Sequence[ZeroShotResult], skipped: dict[str, str],
               info: dict[str, Any]) -> Path:
    """Write results atomically as JSON (``{"checkpoint": …, "results": […], "skipped": {…}}``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({**info, "results": [asdict(r) for r in results], "skipped": skipped},
                                  indent=2, sort_keys=True))
    return path
