"""ZCHSound miniature in the publisher's layout (clean and noisy folders, details tables)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

#: subset -> diagnosis counts, in file-number order (the real subsets hold all five diagnoses)
COUNTS = {"clean": {"NORMAL": 14, "ASD": 6, "VSD": 5, "PFO": 4, "PDA": 4},
          "noisy": {"NORMAL": 8, "ASD": 6, "VSD": 4, "PDA": 4}}


AUDIO = {"clean": "clean Heartsound Data", "noisy": "Noise Heartsound Data Details"}


TABLE = {"clean": "Clean Heartsound Data Details.csv", "noisy": "Noise Heartsound Data Details.csv"}


def build_zchsound(root: Path) -> Path:
    folder = root / "ZCHSound"
    number = 0
    for subset, counts in COUNTS.items():
        (folder / AUDIO[subset]).mkdir(parents=True)
        lines = ["fileName;gender;age(days);diagnosis"]
        for diagnosis, n in counts.items():
            for _ in range(n):
                number += 1
                name = f"ZCH{number:04d}.wav"
                # the publisher's awkward cases: a trailing blank after a diagnosis, ages from days to years
                lines.append(f"{name};{'MF'[number % 2]};{number * 97};{diagnosis}{' ' if number == 3 else ''}")
                sf.write(str(folder / AUDIO[subset] / name),
                         np.random.default_rng(number).normal(0, 0.1, 300).astype("float32"), 2000)
        # a UTF-8 byte-order mark before the header, as spreadsheet exports write it
        (folder / TABLE[subset]).write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return folder
