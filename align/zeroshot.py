"""Zero-shot classification with an aligned encoder: a scorer (probe id ``zeroshot``) like any other probe.

The runner embeds the test clips with the aligned encoder (shared extraction
and embedding cache, the same embeddings its trained probes read) and hands
the scorer the checkpoint's joint space through
:attr:`acubench.probe_base.ProbeContext.space` (:class:`AlignedSpace`). Each
clip embedding goes through the checkpoint's audio head, each class prompt
(``TaskSpec.class_prompts``, else ``"<target>: <class>"``) through the
checkpoint's teacher and language head. CKA training aligns the two projected
spaces only up to translation and rotation, so both go through the
checkpoint's space map first (centring with the alignment corpus' means, and
the Procrustes rotation fitted on its pairs:
:func:`acubench.align.heads.fit_space_map`; no task label is used). Both are
then L2-normalised and compared by cosine similarity (N × C).

Scores are the softmax of the similarities over the space's temperature
(default 0.07, CLIP's): class-probability rows, stored in
``predictions.parquet`` and scored by AUROC like every probe's (for binary
tasks P(class 1) ranks clips exactly as the similarity difference does, so
the temperature does not change a binary AUROC). Nothing is trained, so for
leave-one-subject-out tasks every pooled clip is a test clip. Regression tasks
have no classes: the scorer declares classification only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from acubench.align.heads import map_audio, map_text
from acubench.align.model import AlignError
from acubench.align.teacher import Teacher, TeacherCache
from acubench.errors import OptionError
from acubench.probe_base import Head
from acubench.specs import TaskSpec

if TYPE_CHECKING:
    from acubench.align.api import AlignedModel

#: CLIP's initial temperature; AcuLa checkpoints learn none.
DEFAULT_TEMPERATURE = 0.07


def class_prompts(task: TaskSpec) -> list[str]:
    """The task's class sentences, or ``"<target>: <class>"`` for each class."""
    return list(task.class_prompts) if task.class_prompts else [f"{task.target}: {c}" for c in task.classes]


def zero_shot_scores(similarity: np.ndarray, temperature: float) -> np.ndarray:
    """Class-probability rows (N, C), float64: the softmax of cosine similarities (N, C) over ``temperature``."""
    logits = np.asarray(similarity, dtype=np.float64) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def checkpoint_teacher(meta: dict[str, Any], device: str, console=None) -> Teacher:
    """The teacher an aligned checkpoint was aligned to, as its metadata records it.

    Raises
    ------
    AlignError
        A checkpoint that records no teacher (AcuLa's own release).
    TeacherNotFound
        The teacher is not available here.
    """
    info = meta.get("teacher")
    if not info:
        raise AlignError("this checkpoint records no teacher (an AcuLa release?): zero-shot needs the teacher it "
                         "was aligned to; re-align with `acubench align`")
    teacher = Teacher(info["source"], pooling=info["pooling"], layer=info["layer"], max_length=info["max_length"],
                      lowercase=info["lowercase"], device=device)
    if teacher.source.revision != info["revision"] and console is not None:
        console.print(f"[yellow]warning[/]: teacher {teacher.id} differs from the one the checkpoint was aligned to "
                      f"(revision {teacher.source.revision[:12]} vs {str(info['revision'])[:12]})")
    return teacher


class AlignedSpace:
    """The joint audio–text space of an AcuLa checkpoint (:class:`acubench.probe_base.JointSpace`).

    Parameters
    ----------
    model : AlignedModel
        The checkpoint's encoder, projection heads, space map and metadata
        (:func:`acubench.align.api.load_aligned_model`).
    cache_dir : path
        The acubench cache: the teacher's vectors of each sentence are computed once.
    device : str
    temperature : float
        Softmax temperature of the similarities (> 0).
    console : rich.console.Console, optional
        Where a teacher-revision mismatch is reported.

    Raises
    ------
    OptionError
        A temperature that is not positive.
    AlignError, TeacherNotFound
        See :func:`checkpoint_teacher`; both before any clip is scored.
    """

    def __init__(self, model: AlignedModel, *, cache_dir: str | os.PathLike, device: str = "cpu",
                 temperature: float = DEFAULT_TEMPERATURE, console=None) -> None:
        if not (isinstance(temperature, (int, float)) and np.isfinite(temperature) and temperature > 0):
            raise OptionError(f"zero-shot temperature must be a positive number, got {temperature!r}")
        self.model = model
        self.temperature = float(temperature)
        self.device = device
        self.teacher = checkpoint_teacher(model.metadata, device, console)
        self._teacher_cache = TeacherCache(Path(cache_dir), self.teacher)
        self._text: dict[tuple[str, ...], np.ndarray] = {}

    def audio(self, X: np.ndarray) -> np.ndarray:
        """Clip embeddings (n, D) → unit vectors (n, S), float64."""
        with torch.no_grad():
            # The embeddings are the encoder's float32 outputs: the cast back is exact.
            x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(self.device)
            audio = map_audio(self.model.audio_head(x).cpu(), self.model.space_map)
        return F.normalize(audio, dim=1).double().numpy()

    def text(self, sentences: Sequence[str]) -> np.ndarray:
        """Sentences → unit vectors (m, S), float64 (computed once per set of sentences)."""
        key = tuple(sentences)
        if key not in self._text:
            with torch.no_grad():
                vectors = self._teacher_cache.embed(list(key)).to(self.device)
                text = map_text(self.model.text_head(vectors).cpu(), self.model.space_map)
            self._text[key] = F.normalize(text, dim=1).double().numpy()
        return self._text[key]

    def describe(self) -> dict[str, Any]:
        """The checkpoint, its teacher and the temperature, for the result record."""
        heads = "projection heads" if not isinstance(self.model.audio_head, torch.nn.Identity) else "embedding"
        return {"checkpoint": str(self.model.path), "teacher": self.teacher.id,
                "teacher_revision": self.teacher.source.revision, "space": heads, "temperature": self.temperature}


class ZeroShotScorer(Head):
    """Zero-shot classification in an aligned encoder's joint space (probe ``zeroshot``; see the module docstring).

    Reads the task's class prompts from ``context.task`` and the joint space
    from ``context.space``; ``predict`` returns class-probability rows (n, C).
    """

    def _space(self):
        space = self.context.space
        if space is None:
            raise AlignError("the zeroshot probe needs an aligned encoder's audio–text space; "
                             "run it with --aligned or --aligned-checkpoint PATH")
        return space

    @property
    def prompts(self) -> list[str]:
        """One sentence per class, in label order."""
        if self.context.task is None:
            raise ValueError("the zeroshot probe needs the task (ProbeContext.task) for its class prompts")
        return class_prompts(self.context.task)

    def predict(self, X: np.ndarray) -> np.ndarray:
        space = self._space()
        return zero_shot_scores(space.audio(X) @ space.text(self.prompts).T, space.temperature)

    def fit_info_(self) -> dict[str, Any]:
        """The class prompts and the space (checkpoint, teacher, temperature): what the scores depend on."""
        return {"prompts": self.prompts, **self._space().describe()}
