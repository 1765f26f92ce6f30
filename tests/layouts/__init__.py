"""Miniature datasets and checkpoints in their publishers' layouts, written by the tests themselves.

One module per dataset (``build_<dataset>(root)`` writes the tree under ``root`` and returns its
folder) and one for OPERA's released checkpoint layouts; the task tests and the cross-cutting
tests (``acubench data``, metadata paths) share them from here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def wav(path: Path, seed: int = 0, sr: int = 4000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.random.default_rng(seed).normal(0, 0.1, 300).astype("float32"), sr)
