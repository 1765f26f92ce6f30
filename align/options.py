"""What ``acubench run --aligned`` and ``acubench sweep`` ask of an aligned variant (importable without torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AlignOptions:
    """How ``--aligned`` post-trains (or which checkpoint ``--aligned-checkpoint`` evaluates).

    Attributes
    ----------
    corpus : str or None
        ``"demo"``, ``"datasets"`` (the datasets present) or a corpus CSV;
        ``None``: the demo corpus for demo tasks, the datasets present otherwise.
    teacher : str or None
        Teacher model folder or Hub id; ``None``: the bundled all-MiniLM-L6-v2.
    preset : str or None
        ``None``: ``demo`` on the demo corpus, ``paper`` otherwise.
    overrides : dict
        :class:`~acubench.align.presets.AlignConfig` settings replacing the preset's.
    seed : int
    checkpoint : str or None
        Evaluate this checkpoint from ``acubench align`` instead of aligning.
    allow_test_overlap : bool
        Align on a corpus holding test clips of a task present (recorded and marked).
    label_keys : tuple of str
        Settings always spelled out in the row label (a sweep's grid), whatever else is overridden.
    """

    corpus: str | None = None
    teacher: str | None = None
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    checkpoint: str | None = None
    allow_test_overlap: bool = False
    label_keys: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"corpus": self.corpus, "teacher": self.teacher, "preset": self.preset,
                "overrides": dict(self.overrides), "seed": self.seed, "checkpoint": self.checkpoint,
                "allow_test_overlap": self.allow_test_overlap, "label_keys": list(self.label_keys)}
