"""KAUH miniature in the publisher's layout (Audio Files/ named by patient, diagnosis and location)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

#: patient -> (diagnosis as in the file names, sound type, location, age, sex)
PATIENTS = {
    1: ("N", "N", "P R M", 18, "F"), 2: ("N", "N", "A R U", 33, "M"), 3: ("N", "N", "P L L", 40, "M"),
    4: ("N", "N", "P R L ", 51, "F"), 5: ("asthma", "E W", "P L M", 60, "M"), 6: ("Asthma", "E W", "P R M", 43, "F"),
    7: ("COPD", "E W", "P R L ", 58, "F"), 8: ("copd", "I C", "P L L", 70, "M"),
    9: ("Heart Failure + COPD", "Crep", "P R L", 66, "M"), 10: ("Asthma and lung fibrosis", "E W", "P L U", 55, "F"),
    11: ("pneumonia", "Crep", "P R L", 49, "M"), 12: ("heart failure", "C", "P L L", 75, "M"),
    13: ("N", "N", "A L U", 25, "F"), 14: ("asthma", "I E W", "P R U", 38, "M"),
    15: ("Asthma", "E W", "P L M", 29, "F"),
    16: ("N", "N", "P R M", 21, "M"),
}


def name(filt: str, patient: int) -> str:
    diagnosis, sound, location, age, sex = PATIENTS[patient]
    return f"{filt}P{patient}_{diagnosis},{sound},{location},{age},{sex}.wav"


def build_kauh(root: Path, audio_dir: str = "Audio Files") -> Path:
    folder = root / "KAUH" / audio_dir
    folder.mkdir(parents=True)
    for patient in PATIENTS:
        for k, filt in enumerate("BDE"):
            sf.write(str(folder / name(filt, patient)),
                     np.random.default_rng(patient * 3 + k).normal(0, 0.1, 400).astype("float32"), 4000)
    return root / "KAUH"
