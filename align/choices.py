"""Names the alignment options accept, importable without torch (for the command line's ``--help``)."""

from __future__ import annotations

#: Alignment losses (:func:`acubench.align.losses.make_alignment_loss`).
ALIGN_LOSSES = ("cka", "cka-rbf", "acula-reference", "infonce")
#: Teacher poolings (:func:`acubench.align.teacher.pool_hidden`).
POOLINGS = ("mean", "last", "mean-with-padding")
#: Alignment presets (:data:`acubench.align.presets.PRESETS`).
PRESET_NAMES = ("demo", "paper")
