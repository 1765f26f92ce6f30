"""Names the alignment options accept, importable without torch (for the command line's ``--help``)."""

from __future__ import annotations

from acubench.align.lossspec import BUILTIN_IDS

#: Built-in alignment losses (:data:`acubench.align.lossspec.BUILTIN_LOSSES`); plugins may add more.
ALIGN_LOSSES = BUILTIN_IDS
#: Teacher poolings (:func:`acubench.align.teacher.pool_hidden`).
POOLINGS = ("mean", "last", "mean-with-padding")
#: Alignment presets (:data:`acubench.align.presets.PRESETS`).
PRESET_NAMES = ("demo", "paper", "reference")
#: What the alignment loss compares (:class:`acubench.align.presets.AlignConfig`).
ALIGN_TARGETS = ("embedding", "heads")
#: Training controls (``--control``).
CONTROLS = ("none", "shuffled-reports")
#: How training audio is cut (:class:`acubench.align.presets.AlignConfig`).
WINDOWINGS = ("policy", "reference")
