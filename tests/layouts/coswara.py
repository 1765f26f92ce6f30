"""Coswara miniature in the publisher's layout (dated folders, combined metadata, quality ratings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from acubench.tasks import _coswara_reader as coswara_reader
from acubench.tasks import coswara

COLUMNS = ("id,a,covid_status,record_date,ep,g,l_c,l_l,l_s,rU,smoker,cold,ht,diabetes,cough,ctDate,ctScan,ctScore,"
           "diarrhoea,fever,loss_of_smell,mp,testType,test_date,test_status,um,vacc,bd,others_resp,ftg,st,ihd,asthma,"
           "others_preexist,cld,pneumonia").split(",")


BROKEN = ["C7Km0KttQRMMM6UoyocajfgZAOB3", "kgjTguvo3vZJTO7F1qO9GxEicbA3"]


NO_SHALLOW = "9hftEYixyhP1Neeq3fB7ZwITQC53"


SEXES = ["male", "female", "male", "male", "other", "female", "male"]


SMOKERS = ["", "n", "True", "y", "False", "n", "", "n", "y"]


N = 48


SMALL = {"smoker": coswara.GoogleSplit(3, 4), "sex": coswara.GoogleSplit(4, 6)}


def pid(i: int) -> str:
    return f"u{i:02d}" + "x" * 25


def participants() -> list[str]:
    return [pid(i) for i in range(N)] + BROKEN + [NO_SHALLOW]


def quality(i: int, sound: str) -> str:
    if sound == "cough-heavy":
        return "0" if i % 11 == 5 else "2"
    if sound == "cough-shallow":
        return "0" if i % 13 == 6 else "1"
    return "2"


def build_coswara(root: Path) -> Path:
    """``root/Coswara-Data`` after extract_data.py: metadata, quality annotations, Extracted_data/<date>/<id>/."""
    folder = root / "Coswara-Data"
    rows = []
    for i, p in enumerate(participants()):
        row = dict.fromkeys(COLUMNS, "")
        row.update(id=p, a=str(20 + i), covid_status="positive_mild" if i % 4 == 0 else "healthy",
                   record_date="2020-04-17", g=SEXES[i % len(SEXES)], smoker=SMOKERS[i % len(SMOKERS)],
                   cough="True" if i % 3 == 0 else "", asthma="True" if i == 1 else "", st="True" if i == 1 else "")
        rows.append(row)
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(folder / coswara.METADATA, index=False)
    for sound in coswara_reader.SOUNDS:
        lines = [f"{p}_{sound},{quality(i, sound)}" for i, p in enumerate(participants())
                 if (p, sound) not in coswara_reader.NOT_RECORDED]
        # The published annotation files mix LF and CRLF line endings.
        text = "FILENAME, QUALITY\n" + "".join(line + ("\r\n" if k % 2 else "\n") for k, line in enumerate(lines))
        path = folder / coswara.ANNOTATIONS / f"{sound}_labels.csv"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text.encode())
    for i, p in enumerate(participants()):
        date = "20200413" if i < N // 2 else "20210406"
        for sound in coswara_reader.SOUNDS:
            if (p, sound) in coswara_reader.NOT_RECORDED:
                continue
            path = folder / coswara.AUDIO_DIR / date / p / f"{sound}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), np.random.default_rng(i).normal(0, 0.1, 300).astype("float32"), 48000)
    return folder
