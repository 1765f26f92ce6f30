"""CirCor DigiScope miniature in the publisher's layout (patient files, recordings, segmentations)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from acubench.tasks import _circor_reader as circor_reader
from acubench.tasks import circor

FOLDER = circor.DATASET.folder


SYSTOLIC = ("Holosystolic", "Diamond", "III/VI", "High", "Harsh")


#: pid -> (recording file stems' locations, murmur, outcome, age, sex, pregnant, murmur locations, most audible,
#:         systolic (timing, shape, grading, pitch, quality) or None, diastolic (...) or None)
PATIENTS = {
    "2530": (["AV", "PV", "TV", "MV"], "Absent", "Abnormal", "Child", "Female", False, None, None, None, None),
    "9979": (["AV", "PV", "TV", "MV"], "Present", "Abnormal", "Child", "Female", False, "AV+MV+PV+TV", "TV",
             SYSTOLIC, None),
    "9983": (["AV", "PV", "TV", "MV"], "Unknown", "Abnormal", "Child", "Male", False, None, None, None, None),
    "9985": (["AV", "PV"], "Unknown", "Abnormal", "Infant", "Female", False, None, None, None, None),
    "9986": (["MV", "TV"], "Unknown", "Normal", "Child", "Male", False, None, None, None, None),
    "13918": (["AV", "PV", "TV", "MV"], "Present", "Abnormal", "Child", "Male", False, "TV", "TV",
              ("Holosystolic", "Plateau", "I/VI", "Low", "Blowing"), None),
    "14241": (["AV", "PV", "TV", "MV"], "Present", "Abnormal", "Child", "Male", False, "AV+MV+PV+TV", "PV",
              ("Early-systolic", "Plateau", "II/VI", "Medium", "Harsh"),
              ("Early-diastolic", "Decrescendo", "I/IV", "Low", "Blowing")),
    "14998": (["AV", "PV"], "Absent", "Normal", "Infant", "Male", False, None, None, None, None),
    "29045": (["MV"], "Absent", "Normal", "Child", "Female", False, None, None, None, None),
    "40058": (["AV", "PV", "TV", "MV"], "Absent", "Normal", "Adolescent", "Male", False, None, None, None, None),
    "49595": (["AV", "PV", "TV", "MV"], "Present", "Abnormal", "Neonate", "Female", False, "MV", "MV",
              ("Mid-systolic", "Crescendo", "I/VI", "Low", "Musical"), None),
    "50115": (["AV", "PV", "TV", "MV"], "Absent", "Normal", None, "Female", True, None, None, None, None),
    "50782": (["AV", "PV", "TV", "MV_1", "MV_2"], "Absent", "Normal", "Child", "Male", False, None, None, None, None),
    "68315": (["AV", "Phc"], "Present", "Abnormal", "Child", "Female", False, "AV", "AV",
              ("Holosystolic", "Decrescendo", "II/VI", "High", "Blowing"), None),
    "84795": (["AV", "PV", "TV", "MV"], "Absent", "Normal", "Child", "Male", False, None, None, None, None),
    "85033": (["PV", "TV"], "Present", "Abnormal", "Young Adult", "Male", False, "PV", "PV",
              ("Early-systolic", "Diamond", "I/VI", "Medium", "Harsh"), None),
}


def nan(value: object) -> str:
    return "nan" if value is None else str(value)


def patient_text(pid: str, spec: tuple) -> str:
    locs, murmur, outcome, age, sex, pregnant, where, loudest, sys_, dia = spec
    lines = [f"{pid} {len(locs)} 4000"]
    for loc in locs:
        stem = f"{pid}_{loc}"
        lines.append(f"{loc.split('_')[0]} {stem}.hea {stem}.wav {stem}.tsv")
    meta = {"Age": age, "Sex": sex, "Height": 98.0, "Weight": 15.9, "Pregnancy status": pregnant,
            "Murmur": murmur, "Murmur locations": where, "Most audible location": loudest}
    for phase, values in (("Systolic", sys_), ("Diastolic", dia)):
        for attr, v in zip(circor_reader.MURMUR_ATTRIBUTES, values or (None,) * 5, strict=True):
            meta[f"{phase} murmur {attr}"] = v
    meta.update({"Outcome": outcome, "Campaign": "CC2015", "Additional ID": None})
    lines += [f"#{k}: {nan(v)}" for k, v in meta.items()]
    return "\n".join(lines) + "\n"


def write_part(folder: Path, audio: str, table: str, patients: dict) -> None:
    audio_dir = folder / audio
    audio_dir.mkdir(parents=True)
    rows = []
    for i, (pid, spec) in enumerate(patients.items()):
        (audio_dir / f"{pid}.txt").write_text(patient_text(pid, spec))
        for k, loc in enumerate(spec[0]):
            stem = f"{pid}_{loc}"
            sf.write(str(audio_dir / f"{stem}.wav"),
                     np.random.default_rng(i * 10 + k).normal(0, 0.1, 300).astype("float32"), 4000)
            (audio_dir / f"{stem}.tsv").write_text("0.0\t0.1\t1\n")
        rows.append({"Patient ID": pid, "Recording locations:": "+".join(loc.split("_")[0] for loc in spec[0]),
                     "Age": nan(spec[3]), "Sex": spec[4], "Murmur": spec[1]})
    pd.DataFrame(rows).to_csv(folder / table, index=False)


def build_circor(root: Path, patients: dict = PATIENTS) -> Path:
    folder = root / FOLDER
    write_part(folder, "training_data", "training_data.csv", patients)
    return folder

