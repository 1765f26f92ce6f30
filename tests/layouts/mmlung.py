"""MMLung miniature in the publisher's layout (trimmed phone recordings, spirometry table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from acubench.tasks import _mmlung_reader as mmlung_reader
from acubench.tasks import mmlung

IDS = [str(i) for i in range(1, 41)]


def fvc(i: int) -> float:
    return round(2.0 + 0.05 * i, 2)


def fev1(i: int) -> float:
    return round(1.5 + 0.04 * i, 2)


def table(ids=IDS) -> pd.DataFrame:
    """All_path as extract_mmlung.py writes it: an unnamed index column, './…' paths, sorted by Spirometry_file."""
    rows = [{
        "Spirometry_file": f"./spirometry_ground_truth/{i}_spirometry.xls",
        "O_Single_file": f"./Trimmed Data from phone/5_2_O_single/{i}_vowelo.wav",
        "Deep_Breath_file": f"./Trimmed Data from phone/9_3_deepbreath/{i}_deepbreaths.wav",
        "FVC": fvc(int(i)), "FEV1": fev1(int(i)), "FEV1/FVC": round(100 * fev1(int(i)) / fvc(int(i))),
    } for i in ids]
    return pd.DataFrame(rows).sort_values("Spirometry_file")


def build_mmlung(root: Path, *, audio_dir: str = "Trimmed Data from phone", ids=IDS) -> Path:
    folder = root / "mmlung"
    noise = np.random.default_rng(0).normal(0, 0.1, 200).astype("float32")
    for sub, suffix in mmlung_reader.MODALITIES.values():
        (folder / audio_dir / sub).mkdir(parents=True)
        for i in ids:
            sf.write(str(folder / audio_dir / sub / f"{i}_{suffix}.wav"), noise, 16000)
    (folder / audio_dir / "1_1_cough").mkdir()  # another modality of the download: not used
    sf.write(str(folder / audio_dir / "1_1_cough" / "1_cough.wav"), noise, 16000)
    (folder / mmlung.SPIROMETRY_DIR).mkdir()
    for i in ids:
        (folder / mmlung.SPIROMETRY_DIR / f"{i}_spirometry.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    df = table(ids).astype({"FEV1/FVC": object})
    df.loc[df["Spirometry_file"].str.contains("/7_"), "FEV1/FVC"] = "91*"  # a flagged cell, '*' kept
    # Saved from Excel: UTF-8 BOM, the index column with an empty header.
    df.to_csv(folder / mmlung.TABLE_CSV, encoding="utf-8-sig")
    return folder
