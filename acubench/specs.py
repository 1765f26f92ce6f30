"""Declarative specs for the things plugins contribute: encoders, datasets, tasks.

Specs are frozen dataclasses that validate themselves on construction, so a
plugin with a typo fails when it is registered, not halfway through a run.
Heavy code (torch models, dataset parsers) is named by a lazy
``"module:attribute"`` reference and imported only when it is used, so that
listing encoders or tasks imports no model.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from acubench.errors import AcubenchError

TaskKind = Literal["binary", "multiclass", "regression"]
Protocol = Literal["fixed", "loso"]
PadMode = Literal["repeat", "zero", "none"]
LastWindow = Literal["pad", "keep", "drop"]

_TASK_KINDS = ("binary", "multiclass", "regression")

#: Headline metric per task kind, and whether higher is better
#: (the one source; :mod:`acubench.records.metrics` uses it).
HEADLINE: dict[str, tuple[str, bool]] = {
    "binary": ("auroc", True),
    "multiclass": ("auroc", True),
    "regression": ("mae", False),
}
_PROTOCOLS = ("fixed", "loso")
_PAD_MODES = ("repeat", "zero", "none")
_LAST_WINDOW = ("pad", "keep", "drop")
_TASK_CLIP_MODES = ("min_seconds", "fixed")


class SpecError(AcubenchError, ValueError):
    """A spec contributed by a plugin is malformed."""


def _check(cond: bool, owner: str, message: str) -> None:
    if not cond:
        raise SpecError(f"{owner}: {message}")


def resolve_ref(ref: str) -> Any:
    """Import a lazy ``"package.module:attribute"`` reference.

    Parameters
    ----------
    ref : str
        Dotted module path, a colon, and an attribute name (which may itself
        be dotted, e.g. ``"pkg.mod:Class.method"``).
    """
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise SpecError(f"lazy reference {ref!r} must look like 'package.module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SpecError(f"lazy reference {ref!r}: {module_name} has no attribute {attr!r}") from None
    return obj


@dataclass(frozen=True)
class ClipPolicy:
    """How one recording becomes the fixed-length inputs an encoder sees.

    Applied after decoding and resampling, in this order: silence trim, padding
    to ``min_seconds``, cropping to ``max_seconds``, then windowing.

    Parameters
    ----------
    trim_silence : bool
        Trim leading and trailing silence (librosa-style ``trim``: 60 dB below
        the peak, frame 0.1 s, hop 0.05 s), as every OPERA loader does.
    min_seconds : float or None
        Pad clips shorter than this (s) by ``pad``.
    pad : {"repeat", "zero", "none"}
        ``"repeat"`` fills the front with the clip's own tail, the clip sitting
        at the end (the OPERA reference's deterministic duplicate padding);
        ``"zero"`` appends zeros; ``"none"`` leaves short clips short.
    max_seconds : float or None
        Crop clips longer than this (s), keeping the start. Applied before
        windowing.
    window_seconds : float or None
        If set, cut the clip into windows of this length (s) whose embeddings
        are averaged into the clip embedding. ``None`` embeds the whole clip.
    hop_seconds : float or None
        Hop between windows (s); defaults to half a window (50 % overlap).
    last_window : {"pad", "keep", "drop"}
        What to do with the residual tail after the last full window: pad it
        to a full window with ``pad``, keep it shorter, or drop it.
    min_window_seconds : float
        Windows shorter than this (s) are discarded (never the only window).
    """

    trim_silence: bool = True
    min_seconds: float | None = None
    pad: PadMode = "repeat"
    max_seconds: float | None = None
    window_seconds: float | None = None
    hop_seconds: float | None = None
    last_window: LastWindow = "pad"
    min_window_seconds: float = 0.0

    def __post_init__(self) -> None:
        o = "ClipPolicy"
        _check(self.pad in _PAD_MODES, o, f"pad must be one of {_PAD_MODES}, got {self.pad!r}")
        _check(self.last_window in _LAST_WINDOW, o,
               f"last_window must be one of {_LAST_WINDOW}, got {self.last_window!r}")
        for name in ("min_seconds", "max_seconds", "window_seconds", "hop_seconds"):
            value = getattr(self, name)
            _check(value is None or (math.isfinite(value) and value > 0), o, f"{name} must be positive, got {value!r}")
        _check(self.min_window_seconds >= 0, o, "min_window_seconds must be >= 0")
        if self.hop_seconds is not None:
            _check(self.window_seconds is not None, o, "hop_seconds needs window_seconds")

    def describe(self) -> str:
        """One line for tables and config files, e.g. ``trim, repeat-pad>=8s``."""
        parts = ["trim" if self.trim_silence else "no-trim"]
        if self.min_seconds:
            parts.append(f"{self.pad}-pad>={self.min_seconds:g}s")
        if self.max_seconds:
            parts.append(f"crop<={self.max_seconds:g}s")
        if self.window_seconds:
            hop = self.hop_seconds or self.window_seconds / 2
            parts.append(f"windows {self.window_seconds:g}s/hop {hop:g}s ({self.last_window} last)")
        else:
            parts.append("whole clip")
        return ", ".join(parts)


@dataclass(frozen=True)
class WeightsRef:
    """Where an encoder's released weights live.

    Resolution order (see :func:`acubench.weights.resolve_weights`): an
    explicit path or Hub id from the user, then ``$ACUBENCH_WEIGHTS/<filename>``,
    then the Hugging Face cache / Hub (``hf_repo`` + ``filename``).

    Parameters
    ----------
    filename : str
        File name of the released checkpoint (``encoder-operaGT.ckpt``) or, for
        a whole Hugging Face repository, ``""``.
    hf_repo : str or None
        Hugging Face repository id, e.g. ``"evelyn0414/OPERA"``.
    url : str or None
        Human-facing download page, shown in messages.
    sha256 : str or None
        Expected digest of the released file, checked when given.
    """

    filename: str = ""
    hf_repo: str | None = None
    url: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class EncoderSpec:
    """An audio encoder as contributed by a plugin.

    Parameters
    ----------
    id : str
        Canonical id used on the command line and in results (``"opera-gt"``).
    factory : str
        Lazy reference to ``build(spec, *, config, weights, device, seed,
        strict, trust_checkpoint) -> AudioEncoder``.
    sample_rate : int
        Rate (Hz) of the waveforms the encoder expects; 0 for adapters whose
        rate is only known once the wrapped model is loaded (``hear:MODULE``).
    embed_dim : int
        Size of the clip embedding (default config); 0 for adapters whose size
        is only known once the wrapped model is loaded (``hear:MODULE``).
    clip : ClipPolicy
        The reference default input policy, used by ``acubench embed``.
    task_clip : str
        How the encoder adapts :attr:`clip` to a task, from what the task
        declares (see :meth:`TaskSpec.clip_policy`): ``"min_seconds"`` pads
        whole clips to at least the task's ``clip_seconds`` (OPERA-CE),
        ``"fixed"`` keeps :attr:`clip` on every task (the log-mel baseline),
        or a lazy ``"module:function"`` reference to
        ``rule(encoder: EncoderSpec, task: TaskSpec) -> ClipPolicy`` for
        anything else (OPERA-CT and OPERA-GT follow OPERA's per-task inputs).
        The rule's module should import only the standard library and specs.
    configs : tuple of str
        Named configs the factory accepts (``"default"`` first; ``"tiny"`` for tests).
    weights : WeightsRef or None
        Released weights; ``None`` for encoders without weights.
    pretrained_on : tuple of str
        Dataset ids seen during pre-training, so the leaderboard can flag them.
    supports_alignment : bool
        Whether the encoder exposes trainable token features for AcuLa.
    random_init : bool
        Whether the factory can build a seeded random initialisation
        (``--random-init``); False for adapters that load their own weights.
    """

    id: str
    factory: str
    sample_rate: int
    embed_dim: int
    clip: ClipPolicy = field(default_factory=ClipPolicy)
    task_clip: str = "min_seconds"
    aliases: tuple[str, ...] = ()
    family: str = ""
    description: str = ""
    configs: tuple[str, ...] = ("default",)
    weights: WeightsRef | None = None
    pretrained_on: tuple[str, ...] = ()
    supports_alignment: bool = True
    random_init: bool = True
    reference: str = ""
    license: str = ""

    def __post_init__(self) -> None:
        o = f"EncoderSpec {self.id!r}"
        _check(bool(self.id) and self.id == self.id.strip().lower() and " " not in self.id, o,
               "id must be a non-empty lower-case token")
        _check(":" in self.factory, o, f"factory must be a 'module:function' reference, got {self.factory!r}")
        _check(self.sample_rate >= 0, o,
               f"sample_rate must be >= 0 (0: set by the loaded model), got {self.sample_rate}")
        _check(self.embed_dim >= 0, o, f"embed_dim must be >= 0 (0: set by the loaded model), got {self.embed_dim}")
        _check(self.task_clip in _TASK_CLIP_MODES or ":" in self.task_clip, o,
               f"task_clip must be one of {_TASK_CLIP_MODES} or a 'module:function' rule, got {self.task_clip!r}")
        _check(len(self.configs) > 0, o, "configs must name at least one config")


@dataclass(frozen=True)
class DatasetSpec:
    """A public dataset as it lies on disk under ``<data-root>/<folder>/``.

    Parameters
    ----------
    id : str
        Short id (``"icbhi"``), used by ``acubench data`` and the corpus builder.
    folder : str
        Folder name under the data root; inside it the publisher's layout.
    check : str or None
        Lazy reference to ``check(folder: Path) -> DataCheck``: a cheap
        presence/completeness check for ``acubench data status``, called only
        when the folder exists (an absent folder is reported as absent without
        importing the plugin's code).
    recordings : str or None
        Lazy reference to ``recordings(folder: Path) -> pandas.DataFrame`` with
        one row per recording and the columns of
        :data:`acubench.manifest.RECORDING_COLUMNS`; used to build the
        alignment corpus (reports from metadata).
    prepare : str or None
        Lazy reference to ``prepare(folder: Path, reporter: Reporter) -> None``
        for datasets that need a conversion step (CoughVID webm/ogg → WAV).
    layout : str
        What the user must place under the folder, in words, for messages.
    options : mapping of str to str
        The loader options (``--task-arg KEY=VALUE``) the dataset's tasks take,
        each with a one-line description; any other key is refused.
    generated : bool
        Built in: the data is generated on first use into ``<cache>/<folder>``
        instead of being read from the data root (the demo suite); it is never
        missing, and the alignment corpus uses it only when asked for by name.
    """

    id: str
    name: str
    folder: str
    url: str
    license: str
    layout: str
    access: Literal["public", "on request"] = "public"
    citation: str = ""
    check: str | None = None
    recordings: str | None = None
    prepare: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    generated: bool = False

    def __post_init__(self) -> None:
        o = f"DatasetSpec {self.id!r}"
        _check(bool(self.id) and self.id == self.id.lower() and " " not in self.id, o, "id must be a lower-case token")
        for name in ("check", "recordings", "prepare"):
            ref = getattr(self, name)
            _check(ref is None or ":" in ref, o, f"{name} must be a 'module:function' reference")


@dataclass(frozen=True)
class TaskSpec:
    """One downstream task: which clips, which label, which split, which metric.

    Parameters
    ----------
    id : str
        Task id (``"T05"``, ``"demo-wheeze"``).
    name : str
        Readable slug (``"icbhi-copd"``), accepted on the command line too.
    dataset : str
        :class:`DatasetSpec` id the task reads from.
    loader : str
        Lazy reference to ``load(ctx: LoadContext) -> pandas.DataFrame`` that
        returns the task manifest (see :mod:`acubench.manifest`); ``ctx.task``
        is this spec, so one loader can serve several tasks.
    kind : {"binary", "multiclass", "regression"}
    classes : tuple of str
        Class names in label order (label ``i`` is ``classes[i]``); empty for regression.
    protocol : {"fixed", "loso"}
        ``"fixed"``: the manifest's train/val/test split. ``"loso"``:
        leave-one-subject-out over the manifest's ``subject`` column.
    clip_seconds : float or None
        Nominal input length (s) for whole-clip encoders: short clips are
        padded to it (OPERA's ``min_len_cnn``).
    recording_seconds : float or None
        Length (s) of every recording, where the dataset fixes it (the demo's
        synthetic recordings); ``None`` when lengths vary. Encoders that cut
        windows may size them by it (see :attr:`EncoderSpec.task_clip`).
    protocols : tuple of str
        Split protocols the loader offers; ``"default"`` is the corrected one,
        ``"reference"`` reproduces the reference implementation exactly.
    expected_counts : mapping or None
        Published manifest counts, e.g. ``{"train": 462, "test": 366}``.
    suites : tuple of str
        Named groups the task belongs to (``"demo"``, ``"acula18"``).
    opera_task : int or None
        Task number in the OPERA benchmark's tables, for reference rows.
    class_prompts : tuple of str
        One clinical sentence per class, in label order, for zero-shot
        classification with an aligned encoder (``acubench zeroshot``); empty
        means ``"<target>: <class name>"``.
    loader_args : mapping
        Settings the loader reads from ``ctx.task`` to tell this task from the
        others it serves (e.g. which metadata column holds the label).
    probe_options : mapping
        Settings the reference used for this task's evaluation: keys a probe
        declares (:attr:`ProbeSpec.options`; ``reference-linear`` reads ``epochs``,
        ``batch_size``, ``l2_strength``…) or the split scheme reads
        (:data:`SPLIT_OPTIONS`: ``val_split``, ``val_fraction`` for
        leave-one-subject-out); the registry rejects any other key.
    """

    id: str
    name: str
    dataset: str
    loader: str
    kind: TaskKind
    modality: str
    target: str
    classes: tuple[str, ...] = ()
    protocol: Protocol = "fixed"
    clip_seconds: float | None = None
    recording_seconds: float | None = None
    protocols: tuple[str, ...] = ("default",)
    protocol_notes: str = ""
    expected_counts: Mapping[str, int] | None = None
    suites: tuple[str, ...] = ()
    opera_task: int | None = None
    loader_args: Mapping[str, Any] = field(default_factory=dict)
    probe_options: Mapping[str, Any] = field(default_factory=dict)
    class_prompts: tuple[str, ...] = ()
    version: str = "1"
    description: str = ""

    def __post_init__(self) -> None:
        o = f"TaskSpec {self.id!r}"
        _check(bool(self.id) and " " not in self.id, o, "id must be a token without spaces")
        _check(":" in self.loader, o, f"loader must be a 'module:function' reference, got {self.loader!r}")
        _check(self.kind in _TASK_KINDS, o, f"kind must be one of {_TASK_KINDS}, got {self.kind!r}")
        _check(self.protocol in _PROTOCOLS, o, f"protocol must be one of {_PROTOCOLS}, got {self.protocol!r}")
        if self.kind == "regression":
            _check(not self.classes, o, "a regression task has no classes")
        elif self.kind == "binary":
            _check(len(self.classes) == 2, o, f"a binary task needs 2 classes, got {self.classes!r}")
        else:
            _check(len(self.classes) > 2, o, f"a multiclass task needs > 2 classes, got {self.classes!r}")
        _check("default" in self.protocols, o, "protocols must include 'default'")
        _check(self.clip_seconds is None or self.clip_seconds > 0, o, "clip_seconds must be positive")
        _check(self.recording_seconds is None or self.recording_seconds > 0, o, "recording_seconds must be positive")
        _check(not self.class_prompts or len(self.class_prompts) == len(self.classes), o,
               "class_prompts needs one sentence per class")

    @property
    def metric(self) -> str:
        """Headline metric: ``"auroc"`` for classification, ``"mae"`` for regression."""
        return HEADLINE[self.kind][0]

    @property
    def higher_is_better(self) -> bool:
        return HEADLINE[self.kind][1]

    @property
    def published_as(self) -> dict[str, int]:
        """The task's numbers in published tables (``{"opera": 7}``), carried by every result record."""
        return {"opera": self.opera_task} if self.opera_task is not None else {}

    def clip_policy(self, encoder: EncoderSpec) -> ClipPolicy:
        """The input policy ``encoder`` uses on this task, as its ``task_clip`` rule decides."""
        if encoder.task_clip == "fixed" or (encoder.task_clip == "min_seconds" and self.clip_seconds is None):
            return encoder.clip
        if encoder.task_clip == "min_seconds":
            return replace(encoder.clip, min_seconds=self.clip_seconds)
        policy = resolve_ref(encoder.task_clip)(encoder, self)
        if not isinstance(policy, ClipPolicy):
            raise SpecError(f"EncoderSpec {encoder.id!r}: task_clip rule {encoder.task_clip} returned "
                            f"{type(policy).__name__} for task {self.id}, not a ClipPolicy")
        return policy


#: Task probe options the harness itself reads, by split scheme: how leave-one-subject-out carves
#: validation inside each fold (see :mod:`acubench.engine.probe`). A fixed split reads none.
SPLIT_OPTIONS: Mapping[str, frozenset[str]] = {"fixed": frozenset(), "loso": frozenset({"val_split", "val_fraction"})}


@dataclass(frozen=True)
class ProbeSpec:
    """A probe head (or a scorer that does not train), as contributed by a plugin.

    The harness reads what a head is from here, never from its name.

    Parameters
    ----------
    id : str
        Id on the command line (``--probe``) and in results (``"linear"``).
    factory : str
        Lazy ``"module:Class"`` reference to a :class:`acubench.probe_base.Head`
        subclass; imported only when the probe is fitted.
    description : str
        One line for ``acubench probes``.
    standardise : bool
        Standardise features with the training split's mean and std first.
    deterministic : bool
        A fit is a function of the data alone: on a fixed split with a given
        validation split one fit serves every seed.
    trains : bool
        False for a scorer that turns embeddings into scores without fitting
        (the harness then calls only ``predict`` on the test clips, with the
        task and encoder in the head's ``context``).
    aligned_only : bool
        True for a scorer that needs an aligned encoder's joint audio–text
        space (:attr:`acubench.probe_base.ProbeContext.space`, e.g.
        ``zeroshot``): a run without an aligned encoder is refused before any
        compute, and in an aligned run the base rows go without it.
    options : frozenset of str
        The task ``probe_options`` keys the head reads; the registry rejects
        task options no probe (or the split scheme) reads.
    kinds : tuple of str
        Task kinds the head handles.
    aliases : tuple of str
    """

    id: str
    factory: str
    description: str = ""
    standardise: bool = True
    deterministic: bool = False
    trains: bool = True
    aligned_only: bool = False
    options: frozenset[str] = frozenset()
    kinds: tuple[TaskKind, ...] = ("binary", "multiclass", "regression")
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        o = f"ProbeSpec {self.id!r}"
        _check(bool(self.id) and self.id == self.id.strip().lower() and " " not in self.id, o,
               "id must be a non-empty lower-case token")
        _check(":" in self.factory, o, f"factory must be a 'module:Class' reference, got {self.factory!r}")
        _check(bool(self.kinds) and set(self.kinds) <= set(_TASK_KINDS), o,
               f"kinds must be a non-empty subset of {_TASK_KINDS}, got {self.kinds!r}")
        _check(not isinstance(self.options, str) and all(isinstance(k, str) for k in self.options), o,
               "options must be a collection of option names")
        object.__setattr__(self, "options", frozenset(self.options))
        object.__setattr__(self, "kinds", tuple(self.kinds))


@dataclass(frozen=True)
class DataCheck:
    """Result of a dataset presence check (``acubench data status``).

    ``found``/``expected`` count audio files (``expected`` is ``None`` when the
    publisher does not fix a count); ``problems`` are one-line, actionable.
    """

    present: bool
    found: int = 0
    expected: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.present and not self.problems and (self.expected is None or self.found >= self.expected)

