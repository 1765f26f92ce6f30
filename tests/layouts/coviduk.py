"""UK COVID-19 Vocal Audio miniature in the publisher's layout (participant and audio metadata, splits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from acubench.tasks import _coviduk_reader as coviduk_reader
from acubench.tasks import coviduk

N = 36


RESULTS = ["Negative", "Positive", "Negative", "Unknown/Void", "Negative", "Positive", "", "Negative", "Positive"]


SPLITS = ["train", "train", "val", "test", "train", "long", "test", "", "train", "val", "test", "train"]


def participant(i: int) -> str:
    return f"{5000 + i}"


def file_name(i: int, modality: str) -> str:
    return f"{5000 + i}_{modality}_{'abcdefghij'[i % 10]}x.wav" if i % 4 else f"62-12-{i:04d}-{modality}.wav"


def build_coviduk(root: Path, audio_dir: str = "audio") -> Path:
    """The open-access edition's three metadata files and its audio folder (a few rows without a recording)."""
    folder = root / coviduk.DATASET.folder
    (folder / audio_dir).mkdir(parents=True)
    people, audio, splits = [], [], []
    for i in range(N):
        people.append({"participant_identifier": participant(i), "covid_test_result": RESULTS[i % len(RESULTS)],
                       "age": ["18-24", "45-54", "65-74"][i % 3], "gender": ["Female", "Male"][i % 2],
                       "smoker_status": "Never smoked", "symptom_cough_any": int(i % 3 == 0),
                       "symptom_shortness_of_breath": int(i % 5 == 0), "symptom_none": int(i % 3 and i % 5 > 0),
                       "respiratory_condition_asthma": int(i == 5), "respiratory_condition_other": 0})
        row = {"participant_identifier": participant(i)}
        for modality in coviduk_reader.MODALITIES:
            row[f"{modality}_file_name"] = file_name(i, modality)
            row[f"{modality}_size"] = 44 if (modality == "cough" and i == 8) else 9000
        if i == 12:
            row["exhalation_file_name"], row["exhalation_size"] = "", np.nan  # no exhalation recorded
        audio.append(row)
        splits.append({"participant_identifier": participant(i), "splits": SPLITS[i % len(SPLITS)],
                       "in_matched_rebalanced_train": i % 2 == 0})
        for modality in coviduk_reader.MODALITIES:
            if row[f"{modality}_file_name"] and row[f"{modality}_size"] > 44:
                sf.write(str(folder / audio_dir / row[f"{modality}_file_name"]),
                         np.random.default_rng(i).normal(0, 0.1, 300).astype("float32"), 48000)
    pd.DataFrame(people).to_csv(folder / coviduk.PARTICIPANTS, index=False)
    pd.DataFrame(audio).to_csv(folder / coviduk.AUDIO_METADATA, index=False)
    pd.DataFrame(splits).to_csv(folder / coviduk.SPLITS_FILE, index=False)
    return folder
