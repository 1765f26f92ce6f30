"""ICBHI 2017 miniature in the publisher's layout (audio, cycle annotations, the three challenge files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from acubench.tasks import icbhi

LOCS = ["Tc", "Al", "Ar", "Pl", "Pr", "Ll", "Lr"]


DEVICES = ["AKGC417L", "LittC2SE", "Litt3200", "Meditron"]


#: patient -> (diagnosis, recordings in official train, recordings in official test)
PATIENTS = {
    "110": ("COPD", 2, 0), "111": ("COPD", 1, 0), "112": ("COPD", 3, 0), "113": ("COPD", 1, 0),
    "114": ("COPD", 2, 0), "115": ("COPD", 1, 0),
    "120": ("Healthy", 1, 0), "121": ("Healthy", 2, 0), "122": ("Healthy", 1, 0), "123": ("Healthy", 1, 0),
    "130": ("URTI", 1, 0),
    "140": ("COPD", 0, 2), "141": ("COPD", 0, 1), "150": ("Healthy", 0, 1), "151": ("Healthy", 0, 1),
    "156": ("COPD", 2, 1),  # like the real 156 and 218: recordings in both official splits
}


def tiny_wav(path: Path, seed: int = 0, sr: int = 4000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.random.default_rng(seed).normal(0, 0.1, 400).astype("float32"), sr)


def build_icbhi(root: Path) -> Path:
    """``root/icbhi`` with audio, cycle annotations and the three challenge files (CRLF, as published)."""
    folder = root / "icbhi"
    db = folder / icbhi.AUDIO_DIR
    split_lines, k = [], 0
    for pid, (_, n_train, n_test) in PATIENTS.items():
        for j, split in enumerate(["train"] * n_train + ["test"] * n_test):
            device = DEVICES[k % 4]
            rec = f"{pid}_{j + 1}b1_{LOCS[k % 7]}_{'mc' if device == 'AKGC417L' else 'sc'}_{device}"
            k += 1
            split_lines.append(f"{rec}\t{split}")
            tiny_wav(db / f"{rec}.wav", seed=k)
            (db / f"{rec}.txt").write_text("0.036\t0.579\t0\t0\n0.579\t2.450\t1\t0\n2.450\t3.893\t1\t1\n")
    # The publisher's list names this recording with the wrong device; the database holds ..._LittC2SE.
    split_lines.insert(5, "226_1b1_Pl_sc_Meditron\ttrain")
    tiny_wav(db / "226_1b1_Pl_sc_LittC2SE.wav", seed=99)
    (db / "226_1b1_Pl_sc_LittC2SE.txt").write_text("0.100\t1.100\t1\t0\n")
    (folder / icbhi.SPLIT_FILE).write_bytes(("\r\n".join(split_lines) + "\r\n").encode())
    (folder / icbhi.DIAGNOSIS_FILE).write_text("".join(f"{p}\t{d}\n" for p, (d, _, _) in PATIENTS.items())
                                               + "226\tPneumonia\n")
    (folder / icbhi.DEMOGRAPHIC_FILE).write_bytes("".join(
        f"{p}\t{60 + i}\t{'MF'[i % 2]}\t{'NA' if i % 3 else '24.1'}\tNA\tNA\r\n"
        for i, p in enumerate(PATIENTS)).encode())
    return folder
