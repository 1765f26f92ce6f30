"""COUGHVID miniature in the publisher's layout (public_dataset/ with metadata_compiled.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from acubench.tasks import coughvid

COLUMNS = ("uuid,datetime,cough_detected,latitude,longitude,age,gender,respiratory_condition,fever_muscle_pain,status,"
           "quality_1,cough_type_1,dyspnea_1,wheezing_1,stridor_1,choking_1,congestion_1,nothing_1,diagnosis_1,"
           "severity_1,quality_2,cough_type_2,dyspnea_2,wheezing_2,stridor_2,choking_2,congestion_2,nothing_2,"
           "diagnosis_2,severity_2,quality_3,dyspnea_3,wheezing_3,stridor_3,choking_3,congestion_3,nothing_3,"
           "cough_type_3,diagnosis_3,severity_3").split(",")


GENDERS = ["female", "male", "male", "other", "female", "male", "pnts", "", "male", "female", "male"]


STATUSES = ["healthy", "COVID-19", "healthy", "symptomatic", "healthy", "", "Other", "healthy", "COVID-19"]


N = 44


def uuid(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-{i:012x}"


def build_coughvid(root: Path, *, in_public_dataset: bool = True, wav: bool = True) -> Path:
    """``root/coughvid`` with metadata_compiled.csv and (optionally) the converted ``wav/`` folder.

    Every 7th recording carries OPERA's ``.ogg`` naming quirk (``<uuid[:-1]>.wav``).
    """
    folder = root / "coughvid"
    rows = []
    for i in range(N):
        row = dict.fromkeys(COLUMNS, "")
        row.update(uuid=uuid(i), datetime="2020-04-13T21:30:59.801831+00:00",
                   cough_detected="0.4123" if i % 9 == 0 else f"0.{95 - i % 10}",
                   age=str(20 + i), gender=GENDERS[i % len(GENDERS)], status=STATUSES[i % len(STATUSES)],
                   respiratory_condition="False", fever_muscle_pain="True" if i % 5 == 0 else "False")
        if i == 2:
            row.update(quality_1="good", cough_type_1="wet", wheezing_1="True", dyspnea_1="False",
                       diagnosis_1="lower_infection", cough_type_2="dry", diagnosis_2="obstructive_disease")
        rows.append(row)
    meta_dir = folder / coughvid.SOURCE_DIR if in_public_dataset else folder
    meta_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(meta_dir / coughvid.METADATA, index=False)
    if wav:
        for i in range(N):
            name = uuid(i)[:-1] if i % 7 == 3 else uuid(i)
            path = folder / coughvid.WAV_DIR / f"{name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), np.random.default_rng(i).normal(0, 0.1, 300).astype("float32"), 16000)
    return folder
