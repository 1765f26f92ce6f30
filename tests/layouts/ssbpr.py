"""SSBPR miniature in the publisher's layout (snore/breath files named by patient)."""

from __future__ import annotations

from pathlib import Path

from layouts import wav

SSBPR_PATIENTS = {"female": ["103-01", "103-02", "107-01", "111-04", "115-02"],
                  "male": ["201-01", "201-03", "204-02", "208-01", "212-05"]}


def build_ssbpr(root: Path) -> Path:
    folder = root / "SSBPR"
    k = 0
    for sex, patients in SSBPR_PATIENTS.items():
        for i, patient in enumerate(patients):
            for position in range(6):
                k += 1
                wav(folder / sex / f"{i + 1:02d}" / f"{patient}-{position}.wav", k, 16000)
    return folder
