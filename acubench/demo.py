"""The built-in synthetic demo suite: cardio-respiratory recordings generated from a seed.

``acubench run --tasks demo`` must work on a machine with no dataset, so the
demo audio is synthesised on first use into the cache
(``<cache>/demo/v<version>-seed<seed>/``) and reused afterwards. Everything is
a deterministic function of the seed: the cohort (:func:`demo_plan`) and each
recording (:func:`render_recording`, seeded by seed and recording id, so one
file can be regenerated alone).

Five cohorts, whose subject-level traits drive the sounds (so subject-
independent splits matter):

* **lung sounds** (52 subjects × 3 chest sites, 8 s, stethoscopes): breath
  cycles of band-limited noise at the subject's respiratory rate, with
  inspiratory/expiratory envelopes shaped by site and diagnosis (healthy,
  asthma, COPD, pneumonia); wheezes (sustained tones of 100–1000 Hz with
  harmonics and a glide, ≥ 100 ms, in expiration) and fine or coarse crackles
  (damped transients < 20 ms, late or early in inspiration) with
  diagnosis-dependent probabilities; heart-sound bleed and ambient noise;
* **heart sounds** (40 subjects × 3 of the 4 auscultation areas, 4 s): S1/S2
  as damped 30–150 Hz bursts (split components) at 50–120 bpm with sinus
  arrhythmia; systolic murmurs of a lesion (VSD, mitral regurgitation, aortic
  stenosis, mitral valve prolapse, innocent) whose grade sets the loudness,
  pitch the band, quality the texture, timing and shape the envelope within
  systole, loudest at the listed areas;
* **coughs** (48 subjects × 2 recordings, 4 s, phones): 2–4 coughs each with
  an explosive broadband burst, a formant-coloured intermediate phase and an
  optional voiced phase; wet coughs (likelier with a respiratory infection)
  carry bubbling transients and are duller, infected voices are hoarser;
* **nasal breathing** and **forced exhalations** (16 subjects × 3 each,
  8 s / 4 s): airflow noise modulated at the respiratory rate (8–30 per min,
  irregular; faster breathing has shorter pauses and stronger flow), and a
  spirometry-like blast whose flow follows an FVC/FEV1 model (Crapo reference
  equations × disease), so peak level, spectral tilt and decay time reflect
  FEV1.

Every recording passes a device model (frequency response, self-noise, mains
hum), random gain and ambient noise; annotations carry a small label noise
(an annotator misses or imagines a wheeze; a spirometer reads ±40 mL), so the
tasks are learnable but not trivial.

The folder holds ``generator.json`` (version, seed, plan fingerprint),
``audio/<modality>/<recording>.wav`` (16 kHz mono PCM-16, each written
atomically) and ``metadata.csv`` — written last, it marks the folder
complete. An interrupted generation resumes (valid files are kept, missing or
truncated ones are rendered again); a folder from another generator is
regenerated, never mixed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import scipy.fft as sfft
import soundfile as sf

from acubench.datasets import member_paths
from acubench.manifest import RECORDING_COLUMNS, DatasetError
from acubench.tasks.demo import DATASET, GENERATOR_VERSION, LUNG_DIAGNOSES, METADATA_FILE, MODALITIES

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
DEFAULT_SEED = 0
INFO_FILE = "generator.json"
AUDIO_DIR = "audio"

ADVENTITIOUS = ("none", "wheeze", "crackle", "both")
CHEST_SITES = ("trachea", "anterior left", "anterior right", "posterior left", "posterior right",
               "lateral left", "lateral right")
#: Auscultation areas in CirCor's order (AV, PV, TV, MV).
HEART_SITES = ("aortic area", "pulmonic area", "tricuspid area", "mitral area")
SPIRO_DIAGNOSES = ("healthy", "asthma", "COPD")
BREATHING_CONDITIONS = ("rest", "paced slow", "after exercise")

#: Task label columns of ``metadata.csv`` (NaN where a recording is not part of the task).
LABEL_COLUMNS = ("label_wheeze", "label_diagnosis", "label_murmur", "label_infection", "label_resp_rate",
                 "label_fev1")
#: Descriptive columns beyond :data:`RECORDING_COLUMNS` (not labels).
EXTRA_COLUMNS = ("heart_rate", "height_cm", "fvc_l", "crackle_type", "cough_type", "condition", "duration",
                 "sha256")
METADATA_COLUMNS = (*RECORDING_COLUMNS, *LABEL_COLUMNS, *EXTRA_COLUMNS)

N_LUNG_SUBJECTS = 52
N_HEART_SUBJECTS = 40
N_COUGH_SUBJECTS = 48
N_SPIRO_SUBJECTS = 16

#: Device → (high-pass Hz, low-pass Hz, resonance Hz, resonance dB, self-noise dBFS, mains hum dBFS or None).
DEVICES: dict[str, tuple[float, float, float, float, float, float | None]] = {
    "Littmann 3200 electronic stethoscope": (20.0, 2000.0, 180.0, 3.0, -62.0, None),
    "Littmann Classic II SE stethoscope": (30.0, 900.0, 120.0, 7.0, -56.0, None),
    "Meditron electronic stethoscope": (40.0, 2800.0, 800.0, 5.0, -58.0, -60.0),
    "AKG C417L microphone": (70.0, 6000.0, 2500.0, 2.0, -52.0, -54.0),
    "smartphone (Android)": (120.0, 7000.0, 2000.0, 4.0, -58.0, None),
    "smartphone (iPhone)": (90.0, 7500.0, 3000.0, 2.0, -62.0, None),
    "laptop microphone": (150.0, 6000.0, 1200.0, 5.0, -50.0, -56.0),
    "earbud microphone": (60.0, 5000.0, 900.0, 6.0, -58.0, None),
    "headset microphone": (100.0, 7000.0, 1800.0, 3.0, -60.0, -62.0),
}
STETHOSCOPES = ("Littmann 3200 electronic stethoscope", "Littmann Classic II SE stethoscope",
                "Meditron electronic stethoscope", "AKG C417L microphone")
PHONES = ("smartphone (Android)", "smartphone (iPhone)", "laptop microphone")


# --- the plan: cohorts, traits, recordings --------------------------------------------


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *stream]))


def _recording_rng(seed: int, recording_id: str) -> np.random.Generator:
    """The recording's own stream: independent of every other file, so one can be re-rendered alone."""
    return _rng(seed, 7, zlib.crc32(recording_id.encode()))


def _sex(rng: np.random.Generator, p_male: float = 0.5) -> str:
    return "male" if rng.random() < p_male else "female"


def _pick(rng: np.random.Generator, options, p=None):
    return options[int(rng.choice(len(options), p=p))]


def _row(**fields: Any) -> dict[str, Any]:
    """A plan row: every metadata column (NaN unless given) plus the hidden synthesis ``params``."""
    row: dict[str, Any] = {c: np.nan for c in METADATA_COLUMNS}
    row["start"] = row["end"] = np.nan
    params = fields.pop("params")
    row.update(fields)
    row["dataset"] = "demo"
    folder, seconds = MODALITIES[row["modality"]]
    row["audio_path"] = f"{AUDIO_DIR}/{folder}/{row['recording_id']}.wav"
    row["duration"] = seconds
    row["params"] = params
    return row


_LUNG_TRAITS = {
    # diagnosis: (age range, P(male), P(smoker), rate mean/sd, P(wheeze), P(crackle), wheeze f0 range Hz)
    "healthy": ((18, 75), 0.5, 0.2, (15.0, 2.0), 0.04, 0.05, (200, 600)),
    "asthma": ((8, 65), 0.45, 0.15, (19.0, 3.0), 0.72, 0.08, (350, 850)),
    "COPD": ((48, 86), 0.6, 0.75, (21.0, 3.0), 0.45, 0.5, (150, 480)),
    "pneumonia": ((20, 88), 0.5, 0.3, (24.0, 3.0), 0.12, 0.75, (200, 600)),
}
_LUNG_SYMPTOMS = {
    "healthy": (("none",), ("none",), ("occasional dry cough",)),
    "asthma": (("wheezing", "shortness of breath"), ("chest tightness", "nocturnal cough"), ("shortness of breath",)),
    "COPD": (("chronic cough", "dyspnoea on exertion"), ("sputum production", "dyspnoea"), ("chronic cough",)),
    "pneumonia": (("fever", "productive cough"), ("fever", "pleuritic chest pain", "dyspnoea"), ("cough", "fatigue")),
}
#: P(annotation differs from what the audio holds): a missed faint sound, or one imagined.
ANNOTATION_FLIP = 0.04


def _lung_cohort(seed: int) -> list[dict[str, Any]]:
    rng = _rng(seed, 1)
    diagnoses = np.repeat(np.arange(len(LUNG_DIAGNOSES)), N_LUNG_SUBJECTS // len(LUNG_DIAGNOSES))
    rng.shuffle(diagnoses)
    rows = []
    for i, d in enumerate(diagnoses, start=1):
        diagnosis = LUNG_DIAGNOSES[d]
        ages, p_male, p_smoke, (rate_mu, rate_sd), p_wheeze, p_crackle, f0_range = _LUNG_TRAITS[diagnosis]
        subject = f"L{i:03d}"
        age = int(rng.integers(*ages))
        sex = _sex(rng, p_male)
        smoker = "yes" if age >= 16 and rng.random() < p_smoke else "no"
        symptoms = "; ".join(_pick(rng, _LUNG_SYMPTOMS[diagnosis]))
        device = _pick(rng, STETHOSCOPES)
        base_rate = float(np.clip(rng.normal(rate_mu, rate_sd), 10, 32))
        # Subject-level propensities vary around the diagnosis' prevalence.
        pw = float(np.clip(p_wheeze + rng.normal(0, 0.12), 0.0, 0.95))
        pc = float(np.clip(p_crackle + rng.normal(0, 0.12), 0.0, 0.95))
        if diagnosis == "COPD":
            crackle_type = "coarse"
        elif diagnosis == "pneumonia":
            crackle_type = "fine" if rng.random() < 0.7 else "coarse"
        else:
            crackle_type = _pick(rng, ("fine", "coarse"))
        subject_params = {
            "diagnosis": diagnosis,
            "wheeze_f0": float(rng.uniform(*f0_range)),
            "polyphonic": bool(diagnosis == "COPD" and rng.random() < 0.5),
            "heart_rate": float(rng.uniform(60, 100) + (12 if diagnosis == "pneumonia" else 0)),
            "chest_db": float(rng.uniform(-4, 4)),
            # Inspiratory share of the cycle: prolonged expiration in obstruction.
            "insp_fraction": float({"COPD": 0.3, "asthma": 0.35}.get(diagnosis, 0.42) + rng.uniform(-0.03, 0.03)),
            "gain_db": float(rng.uniform(-6, 4)),
        }
        for site in rng.choice(len(CHEST_SITES), size=3, replace=False):
            site_name = CHEST_SITES[int(site)]
            wheeze, crackle = bool(rng.random() < pw), bool(rng.random() < pc)
            heard_w = wheeze != (rng.random() < ANNOTATION_FLIP)
            heard_c = crackle != (rng.random() < ANNOTATION_FLIP)
            adventitious = ADVENTITIOUS[int(heard_w) + 2 * int(heard_c)]
            rate = round(base_rate * float(rng.uniform(0.92, 1.08)))
            code = "".join(w[0] for w in site_name.split()).upper()
            rows.append(_row(
                subject=subject, recording_id=f"{subject}-{code}", modality="lung sounds", age=age, sex=sex,
                device=device, site=site_name, diagnosis=diagnosis, symptoms=symptoms, smoker=smoker,
                adventitious=adventitious, respiratory_rate=rate, heart_rate=round(subject_params["heart_rate"]),
                crackle_type=crackle_type if heard_c else np.nan,
                label_wheeze=int(heard_w), label_diagnosis=int(d),
                params={**subject_params, "site": site_name, "rate": rate, "wheeze": wheeze, "crackle": crackle,
                        "crackle_type": crackle_type, "device": device},
            ))
    return rows


#: lesion → (age group, timing, shapes, qualities, pitches, grades, primary area, outcome, symptoms)
_LESIONS = {
    "ventricular septal defect": ("child", "Holosystolic", ("Plateau",), ("Harsh",), ("High", "Medium"),
                                  ("II/VI", "III/VI"), "tricuspid area", "Abnormal", ("poor feeding", "fatigue")),
    "innocent murmur": ("child", "Early-systolic", ("Decrescendo", "Diamond"), ("Musical", "Blowing"),
                        ("Low", "Medium"), ("I/VI", "II/VI"), "pulmonic area", "Normal", ("none",)),
    "mitral regurgitation": ("adult", "Holosystolic", ("Plateau",), ("Blowing",), ("High", "Medium"),
                             ("I/VI", "II/VI", "III/VI"), "mitral area", "Abnormal", ("fatigue", "dyspnoea")),
    "aortic stenosis": ("adult", "Mid-systolic", ("Diamond",), ("Harsh",), ("Medium", "Low"),
                        ("II/VI", "III/VI"), "aortic area", "Abnormal", ("exertional dyspnoea", "chest pain")),
    "mitral valve prolapse": ("adult", "Late-systolic", ("Crescendo",), ("Musical", "Blowing"), ("Medium", "High"),
                              ("I/VI", "II/VI"), "mitral area", "Abnormal", ("palpitations",)),
}


def _heart_cohort(seed: int) -> list[dict[str, Any]]:
    rng = _rng(seed, 2)
    murmurs = np.zeros(N_HEART_SUBJECTS, dtype=bool)
    murmurs[: N_HEART_SUBJECTS // 2] = True
    rng.shuffle(murmurs)
    rows = []
    for i, has_murmur in enumerate(murmurs, start=1):
        subject = f"H{i:03d}"
        child = rng.random() < 0.55
        age = int(rng.integers(1, 16)) if child else int(rng.integers(20, 82))
        sex = _sex(rng)
        smoker = np.nan if child else ("yes" if rng.random() < 0.25 else "no")
        device = _pick(rng, STETHOSCOPES[:3])
        hr = float(rng.uniform(75, 120) if child else rng.uniform(52, 95))
        fields: dict[str, Any] = {"murmur": "Absent", "diagnosis": "normal", "outcome": "Normal",
                                  "symptoms": "none" if rng.random() < 0.85 else "palpitations"}
        murmur: dict[str, Any] | None = None
        if has_murmur:
            group = "child" if child else "adult"
            lesions = [k for k, v in _LESIONS.items() if v[0] == group]
            if not child and age < 55:
                lesions = [k for k in lesions if k != "aortic stenosis"]
            lesion = _pick(rng, lesions)
            _, timing, shapes, qualities, pitches, grades, primary, outcome, symptoms = _LESIONS[lesion]
            if lesion == "innocent murmur" and rng.random() < 0.5:
                timing = "Mid-systolic"
            others = [s for s in HEART_SITES if s != primary and rng.random() < 0.4]
            locations = [s for s in HEART_SITES if s == primary or s in others]
            murmur = {"timing": timing, "shape": _pick(rng, shapes), "quality": _pick(rng, qualities),
                      "pitch": _pick(rng, pitches), "grade": _pick(rng, grades), "primary": primary,
                      "locations": locations}
            fields.update({
                "murmur": "Present", "diagnosis": lesion, "outcome": outcome, "symptoms": "; ".join(symptoms),
                "murmur_timing": timing, "murmur_shape": murmur["shape"], "murmur_quality": murmur["quality"],
                "murmur_pitch": murmur["pitch"], "murmur_grade": murmur["grade"],
                "murmur_locations": "+".join(locations),
            })
        # The murmur's primary area is always recorded; two more areas at random.
        first = murmur["primary"] if murmur else HEART_SITES[int(rng.integers(4))]
        rest = [s for s in HEART_SITES if s != first]
        sites = [first, *(rest[int(j)] for j in rng.choice(3, size=2, replace=False))]
        subject_params = {"heart_rate": hr, "murmur": murmur, "s1_freq": float(rng.uniform(35, 60)),
                          "s2_freq": float(rng.uniform(60, 110)), "gain_db": float(rng.uniform(-6, 4)),
                          "device": device}
        for site in sites:
            audible = bool(murmur) and site in murmur["locations"]
            code = {"aortic area": "AV", "pulmonic area": "PV", "tricuspid area": "TV", "mitral area": "MV"}[site]
            rows.append(_row(
                subject=subject, recording_id=f"{subject}-{code}", modality="heart sounds", age=age, sex=sex,
                device=device, site=site, smoker=smoker, heart_rate=round(hr), label_murmur=int(audible),
                params={**subject_params, "site": site, "audible": audible}, **fields,
            ))
    return rows


def _cough_cohort(seed: int) -> list[dict[str, Any]]:
    rng = _rng(seed, 3)
    infected = np.zeros(N_COUGH_SUBJECTS, dtype=bool)
    infected[: N_COUGH_SUBJECTS // 2] = True
    rng.shuffle(infected)
    rows = []
    for i, infection in enumerate(infected, start=1):
        subject = f"C{i:03d}"
        age = int(rng.integers(18, 76))
        sex = _sex(rng)
        smoker = "yes" if rng.random() < 0.25 else "no"
        p_wet = (0.8 if infection else 0.15) + (0.1 if smoker == "yes" else 0.0)
        wet = bool(rng.random() < p_wet)
        if infection:
            pool = ["fever", "sore throat", "fatigue", "headache"]
            chosen = [s for s in pool if rng.random() < 0.5] or ["fever"]
            symptoms = "; ".join(["productive cough" if wet else "dry cough", *chosen])
        else:
            symptoms = "none" if not wet else "occasional productive cough"
        male = sex == "male"
        subject_params = {
            "wet": wet, "infection": bool(infection),
            "f0": float(rng.uniform(95, 140) if male else rng.uniform(165, 240)) * (0.9 if infection else 1.0),
            "formants": [float(rng.uniform(450, 800)), float(rng.uniform(1100, 1900)), float(rng.uniform(2300, 3000))],
            "hoarse": float(rng.uniform(0.5, 1.0) if infection else rng.uniform(0.0, 0.4)),
            "coughs_p": [0.25, 0.4, 0.35] if infection else [0.45, 0.4, 0.15],
            "gain_db": float(rng.uniform(-8, 4)),
            "device": _pick(rng, PHONES),
        }
        for k in (1, 2):
            rows.append(_row(
                subject=subject, recording_id=f"{subject}-{k}", modality="cough", age=age, sex=sex,
                device=subject_params["device"], smoker=smoker, symptoms=symptoms,
                diagnosis="acute respiratory infection" if infection else "healthy",
                cough_type="wet" if wet else "dry", label_infection=int(infection), params=dict(subject_params),
            ))
    return rows


def _crapo(sex: str, age: float, height_cm: float) -> tuple[float, float]:
    """Predicted (FVC, FEV1) in litres, Crapo et al. 1981 reference equations."""
    if sex == "male":
        return 0.0600 * height_cm - 0.0214 * age - 4.650, 0.0414 * height_cm - 0.0244 * age - 2.190
    return 0.0491 * height_cm - 0.0216 * age - 3.590, 0.0342 * height_cm - 0.0255 * age - 1.578


def _breath_timing(rng: np.random.Generator, rate: float, irregularity: float, seconds: float) -> dict[str, Any]:
    """Cycle periods (s) covering ``seconds`` from a random phase, and the rate they realise (breaths/min)."""
    mean = 60.0 / rate
    offset = -float(rng.uniform(0, mean))
    periods: list[float] = []
    while offset + sum(periods) < seconds:
        periods.append(float(mean * np.clip(1 + irregularity * rng.standard_normal(), 0.6, 1.5)))
    starts = offset + np.concatenate([[0.0], np.cumsum(periods[:-1])])
    # Cycles that overlap the recording, each weighted by the share of it inside.
    inside = np.clip(np.minimum(starts + periods, seconds) - np.maximum(starts, 0), 0, None) / np.array(periods)
    realised = 60.0 * float(inside.sum()) / float(np.dot(inside, periods))
    return {"offset": offset, "periods": periods, "realised": realised}


def _exhalation_flow(t: np.ndarray, fvc: float, ratio: float, rise: float) -> np.ndarray:
    """Expiratory flow (L/s) at times ``t`` (s) from the start of the blast: a fast rise, then exponential emptying."""
    tau = -1.0 / np.log(1.0 - ratio)
    t = np.maximum(t, 0.0)
    return fvc / tau * np.exp(-t / tau) * (1.0 - np.exp(-t / rise))


def _fev1(fvc: float, ratio: float, rise: float) -> float:
    grid = np.linspace(0.0, 1.0, 4001)
    return float(np.trapezoid(_exhalation_flow(grid, fvc, ratio, rise), grid))


def _spiro_cohort(seed: int) -> list[dict[str, Any]]:
    rng = _rng(seed, 4)
    diagnoses = ["healthy"] * 8 + ["asthma"] * 4 + ["COPD"] * 4
    rng.shuffle(diagnoses)
    rows = []
    for i, diagnosis in enumerate(diagnoses, start=1):
        subject = f"R{i:03d}"
        sex = _sex(rng, 0.6 if diagnosis == "COPD" else 0.5)
        age = int(rng.integers(50, 82) if diagnosis == "COPD" else rng.integers(20, 75))
        height = float(rng.normal(177, 7) if sex == "male" else rng.normal(164, 6))
        smoker = "yes" if rng.random() < (0.7 if diagnosis == "COPD" else 0.2) else "no"
        symptoms = {"healthy": "none", "asthma": "wheezing; chest tightness",
                    "COPD": "chronic cough; dyspnoea on exertion"}[diagnosis]
        pred_fvc, _ = _crapo(sex, age, height)
        pct = {"healthy": (1.0, 0.08), "asthma": (0.92, 0.08), "COPD": (0.78, 0.1)}[diagnosis]
        ratio_range = {"healthy": (0.74, 0.86), "asthma": (0.62, 0.76), "COPD": (0.42, 0.66)}[diagnosis]
        fvc_subject = max(1.2, pred_fvc * float(rng.normal(*pct)))
        ratio_subject = float(rng.uniform(*ratio_range))
        base_rate = float(rng.uniform(10, 18))
        common = dict(subject=subject, age=age, sex=sex, smoker=smoker, symptoms=symptoms, diagnosis=diagnosis,
                      height_cm=round(height))
        nose = {"nasal_peak": float(rng.uniform(500, 1100)), "flow_db": float(rng.uniform(-3, 3)),
                "gain_db": float(rng.uniform(-4, 4)), "device": _pick(rng, ("earbud microphone", "headset microphone")),
                "irregularity": float(rng.uniform(0.05, 0.2))}
        for condition in BREATHING_CONDITIONS:
            shift = {"rest": 0.0, "paced slow": -float(rng.uniform(2, 5)), "after exercise": float(rng.uniform(6, 13))}
            rate = float(np.clip(base_rate + shift[condition], 9, 28))
            timing = _breath_timing(rng, rate, nose["irregularity"], MODALITIES["nasal breathing"][1])
            realised = round(timing["realised"], 1)
            rows.append(_row(
                recording_id=f"{subject}-{condition.replace(' ', '-')}", modality="nasal breathing",
                device=nose["device"], respiratory_rate=realised, label_resp_rate=realised, condition=condition,
                params={**nose, **timing}, **common,
            ))
        mouth = {"mouth_peak": float(rng.uniform(700, 1600)), "gain_db": float(rng.uniform(-2, 2)),
                 "device": _pick(rng, ("smartphone (Android)", "smartphone (iPhone)"))}
        for k in (1, 2, 3):
            effort = float(rng.uniform(0.93, 1.02))
            fvc = fvc_subject * effort
            ratio = float(np.clip(ratio_subject + rng.normal(0, 0.02), 0.35, 0.92))
            rise = float(rng.uniform(0.04, 0.1))
            fev1 = _fev1(fvc, ratio, rise)
            measured = round(fev1 + float(rng.normal(0, 0.04)), 2)
            rows.append(_row(
                recording_id=f"{subject}-blow{k}", modality="forced exhalation", device=mouth["device"],
                fvc_l=round(fvc, 2), label_fev1=measured,
                params={**mouth, "fvc": fvc, "ratio": ratio, "rise": rise, "onset": float(rng.uniform(0.2, 0.4))},
                **common,
            ))
    return rows


def demo_plan(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The demo cohort: one row per recording, with metadata, labels and synthesis parameters.

    Cheap (no audio); identical for identical seeds.

    Returns
    -------
    DataFrame
        Columns :data:`METADATA_COLUMNS` (``audio_path`` relative to the demo
        folder, ``sha256`` empty) plus ``params``, the hidden synthesis
        parameters of each recording (a dict).
    """
    rows = _lung_cohort(seed) + _heart_cohort(seed) + _cough_cohort(seed) + _spiro_cohort(seed)
    plan = pd.DataFrame(rows, columns=[*METADATA_COLUMNS, "params"])
    if plan["recording_id"].duplicated().any():
        raise RuntimeError("demo plan has duplicate recording ids")  # a generator bug, never user input
    return plan


def plan_fingerprint(plan: pd.DataFrame) -> str:
    """SHA-256 (16 hex) of a plan's metadata and parameters: two folders agree iff this agrees."""
    blob = plan.drop(columns=["sha256"]).to_json(orient="records", double_precision=10, default_handler=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --- signal primitives ---------------------------------------------------------------
#
# Synthesis runs in float32 with scipy's FFT: a few hundred recordings must render in
# seconds on a small CPU. Noise is shaped in the frequency domain (one inverse FFT per
# source); magnitude responses are cached by (length, parameters).


def _freqs(n: int) -> np.ndarray:
    return np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE).astype(np.float32)


@functools.lru_cache(maxsize=256)
def _band(n: int, lo: float | None, hi: float | None, order: float = 2.0) -> np.ndarray:
    """Butterworth-like band-pass magnitude over the rfft bins of ``n`` samples (either edge may be ``None``)."""
    f = np.maximum(_freqs(n), 1e-3)
    h = np.ones_like(f)
    if lo:
        h /= np.sqrt(1.0 + (lo / f) ** (2 * order))
    if hi:
        h /= np.sqrt(1.0 + (f / hi) ** (2 * order))
    h.flags.writeable = False
    return h


@functools.lru_cache(maxsize=256)
def _peak(n: int, centre: float, gain_db: float, octaves: float = 0.5) -> np.ndarray:
    """Magnitude of a resonance over the rfft bins of ``n`` samples: ``gain_db`` at ``centre`` Hz."""
    f = np.maximum(_freqs(n), 1.0)
    h = 1.0 + (10 ** (gain_db / 20.0) - 1.0) * np.exp(-0.5 * (np.log2(f / centre) / octaves) ** 2)
    h = h.astype(np.float32)
    h.flags.writeable = False
    return h


@functools.lru_cache(maxsize=16)
def _pink(n: int) -> np.ndarray:
    h = (1.0 / np.sqrt(np.maximum(_freqs(n), 20.0))).astype(np.float32)
    h.flags.writeable = False
    return h


def _noise(rng: np.random.Generator, n: int, magnitude: np.ndarray) -> np.ndarray:
    """Gaussian noise of ``n`` samples with spectral magnitude ``magnitude`` (rfft bins), unit expected RMS."""
    spec = rng.standard_normal(2 * len(magnitude), dtype=np.float32).view(np.complex64)
    spec *= magnitude * np.float32(n / np.sqrt(4.0 * float(np.dot(magnitude, magnitude)) + 1e-20))
    return sfft.irfft(spec, n)


def _filter(x: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Zero-phase filtering of ``x`` by a magnitude response over its rfft bins."""
    return sfft.irfft(sfft.rfft(x) * magnitude, len(x))


def _db(value: float) -> float:
    return 10 ** (value / 20.0)


def _time(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) / np.float32(SAMPLE_RATE)


def _add(x: np.ndarray, start: int, burst: np.ndarray) -> None:
    """Add ``burst`` into ``x`` at sample ``start``, clipped to ``x``'s bounds."""
    lo, hi = max(start, 0), min(start + len(burst), len(x))
    if hi > lo:
        x[lo:hi] += burst[lo - start: hi - start]


def _damped(f0: float, tau: float, seconds: float, *, glide: float = 0.0, phase: float = 0.0) -> np.ndarray:
    """A gamma-enveloped sinusoid (peak 1 at ``tau`` s) whose frequency falls by ``glide``: heart sounds, crackles."""
    t = _time(int(seconds * SAMPLE_RATE))
    # Phase of a linear glide from f0 to f0 (1 - glide) over ``seconds``.
    arg = 2 * np.pi * f0 * (t - glide * t * t / (2 * seconds)) + phase
    return (t / tau) * np.exp(1.0 - t / tau) * np.sin(arg)


def _fade(m: int, ramp: int) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of ``ramp`` samples over ``m`` samples."""
    env = np.ones(m, dtype=np.float32)
    ramp = min(ramp, m // 2)
    if ramp:
        r = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        env[:ramp] *= r
        env[m - ramp:] *= r[::-1]
    return env


def _cycles(n: int, offset: float, periods: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: its cycle index and seconds since that cycle began; and the cycle starts (s)."""
    starts = offset + np.concatenate([[0.0], np.cumsum(periods[:-1])])
    t = _time(n)
    k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
    return k, t - starts[k].astype(np.float32), starts


def _breath_envelopes(k: np.ndarray, since: np.ndarray, ti: np.ndarray, te: np.ndarray,
                      skew: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Inspiratory and expiratory flow shapes (0..1) per sample from cycle timing.

    Inspiration is a half sine over ``ti`` s; expiration peaks early (a
    skewed half sine) over ``te`` s; the rest of the cycle is a pause.
    """
    ti_k, te_k = ti.astype(np.float32)[k], te.astype(np.float32)[k]
    # Clipping the phase to [0, 1] makes both shapes zero outside their phase (sin 0 = sin π = 0);
    # the maximum removes float32 round-off below zero.
    insp = np.maximum(np.sin(np.float32(np.pi) * np.clip(since / ti_k, 0, 1)), 0)
    u_e = np.clip((since - ti_k) / te_k, 0, 1)
    expi = np.maximum(np.sin(np.float32(np.pi) * u_e ** np.float32(skew)), 0)
    return insp, expi


# --- the heart -----------------------------------------------------------------------


def _beats(rng: np.random.Generator, hr: float, seconds: float) -> np.ndarray:
    """Beat onsets (s) with respiratory sinus arrhythmia and beat-to-beat jitter."""
    rr = 60.0 / hr
    t = -float(rng.uniform(0, rr))
    resp_period, resp_phase = float(rng.uniform(3.0, 5.0)), float(rng.uniform(0, 2 * np.pi))
    onsets = []
    while t < seconds + rr:
        onsets.append(t)
        t += rr * (1 + 0.04 * np.sin(2 * np.pi * t / resp_period + resp_phase) + 0.02 * rng.standard_normal())
    return np.array(onsets)


def _systole(rr: float) -> float:
    """S1–S2 interval (s) for an RR interval (s): about 0.32 s at 60 bpm, shorter when faster."""
    return 0.2 + 0.12 * rr


def _heart_sounds(rng: np.random.Generator, n: int, onsets: np.ndarray, s1_freq: float, s2_freq: float,
                  s1_gain: float, s2_gain: float) -> np.ndarray:
    """S1 (mitral + tricuspid) and S2 (aortic + pulmonic) as damped low-frequency bursts."""
    x = np.zeros(n, dtype=np.float32)
    rr = float(np.median(np.diff(onsets))) if len(onsets) > 1 else 1.0
    for t in onsets:
        s2 = t + _systole(rr)
        split = float(rng.uniform(0.02, 0.05))
        for when, f0, tau, amp in (
            (t, s1_freq, 0.022, s1_gain), (t + float(rng.uniform(0.01, 0.03)), s1_freq * 1.3, 0.018, 0.6 * s1_gain),
            (s2, s2_freq, 0.014, s2_gain), (s2 + split, s2_freq * 0.85, 0.012, 0.55 * s2_gain),
        ):
            a = amp * float(rng.uniform(0.85, 1.15))
            burst = _damped(f0 * float(rng.uniform(0.9, 1.1)), tau, 0.12, glide=0.2, phase=float(rng.uniform(0, 6.28)))
            _add(x, int(round(when * SAMPLE_RATE)), a * burst)
    return x


_MURMUR_BANDS = {"Low": (60.0, 200.0), "Medium": (120.0, 400.0), "High": (250.0, 700.0)}
#: Murmur RMS relative to an S1 peak of 1: grade I barely heard, grade III as loud as the heart sounds.
_MURMUR_GRADES = {"I/VI": 0.06, "II/VI": 0.12, "III/VI": 0.24}
_MURMUR_SPAN = {"Early-systolic": (0.0, 0.55), "Mid-systolic": (0.2, 0.8), "Late-systolic": (0.45, 1.0),
                "Holosystolic": (0.0, 1.0)}


def _murmur_shape(u: np.ndarray, shape: str) -> np.ndarray:
    if shape == "Crescendo":
        return 0.2 + 0.8 * u
    if shape == "Decrescendo":
        return 1.0 - 0.8 * u
    if shape == "Diamond":
        return 1.0 - np.abs(2 * u - 1) * 0.85
    return np.ones_like(u)


def _murmur(rng: np.random.Generator, n: int, onsets: np.ndarray, m: Mapping[str, Any], level: float) -> np.ndarray:
    """A systolic murmur: band noise of its pitch, textured by its quality, enveloped within each systole."""
    lo, hi = _MURMUR_BANDS[m["pitch"]]
    if m["quality"] == "Musical":
        centre = round(float(np.sqrt(lo * hi)) * float(rng.uniform(0.85, 1.15)))
        src = _noise(rng, n, _peak(n, centre, 30.0, 0.06) + 0.5 * _peak(n, 2 * centre, 20.0, 0.05) - 1.0)
    else:
        src = _noise(rng, n, _band(n, lo, hi, 3.0 if m["quality"] == "Blowing" else 1.5))
        if m["quality"] == "Harsh":
            src *= 1.0 + 0.6 * np.sin(np.float32(2 * np.pi * rng.uniform(30, 60)) * _time(n))
    env = np.zeros(n, dtype=np.float32)
    rr = float(np.median(np.diff(onsets))) if len(onsets) > 1 else 1.0
    a, b = _MURMUR_SPAN[m["timing"]]
    for t in onsets:
        sys_start, sys_len = t + 0.05, _systole(rr) - 0.06
        i0, i1 = int((sys_start + a * sys_len) * SAMPLE_RATE), int((sys_start + b * sys_len) * SAMPLE_RATE)
        if i1 <= i0:
            continue
        u = np.linspace(0.0, 1.0, i1 - i0, dtype=np.float32)
        _add(env, i0, _murmur_shape(u, m["shape"]) * _fade(i1 - i0, int(0.012 * SAMPLE_RATE)))
    return np.float32(level * _MURMUR_GRADES[m["grade"]]) * env * src


def _render_heart(rng: np.random.Generator, p: Mapping[str, Any], n: int) -> np.ndarray:
    seconds = n / SAMPLE_RATE
    onsets = _beats(rng, p["heart_rate"], seconds)
    site = p["site"]
    # S1 dominates at the apex (mitral/tricuspid areas), S2 at the base.
    s1_gain, s2_gain = (1.0, 0.6) if site in ("mitral area", "tricuspid area") else (0.65, 1.0)
    x = _heart_sounds(rng, n, onsets, p["s1_freq"], p["s2_freq"], s1_gain, s2_gain)
    m = p["murmur"]
    if m is not None:
        # Loudest at its primary area, a little softer at the other listed areas, faint elsewhere.
        level = 1.0 if site == m["primary"] else (0.6 if p["audible"] else 0.1)
        x += _murmur(rng, n, onsets, m, level)
    # Breath sounds heard through the chest, at a slow respiratory rhythm.
    rhythm = 0.5 + 0.5 * np.sin(np.float32(2 * np.pi / rng.uniform(3, 5)) * _time(n) + np.float32(rng.uniform(0, 6.28)))
    x += 0.03 * rhythm * _noise(rng, n, _band(n, 100, 500))
    x += _db(float(rng.uniform(-52, -40))) * _noise(rng, n, _pink(n))
    return x


# --- the lungs -----------------------------------------------------------------------

#: Chest-wall low-pass (Hz) per site: bronchial sounds at the trachea, vesicular elsewhere.
_SITE_LOWPASS = {"trachea": 1200.0, "anterior left": 500.0, "anterior right": 520.0, "posterior left": 380.0,
                 "posterior right": 400.0, "lateral left": 450.0, "lateral right": 460.0}


def _wheeze(rng: np.random.Generator, m: int, f0: float, polyphonic: bool) -> np.ndarray:
    """One wheeze of ``m`` samples: a gliding tone with harmonics and slight vibrato, faded in and out."""
    t = _time(m)
    end = f0 * float(rng.uniform(0.8, 1.08))
    freq = np.linspace(f0, end, m, dtype=np.float32) * (1 + 0.01 * np.sin(np.float32(2 * np.pi * rng.uniform(4, 9)) * t))
    phase = np.float32(2 * np.pi / SAMPLE_RATE) * np.cumsum(freq, dtype=np.float64).astype(np.float32)
    tone = np.sin(phase) + float(rng.uniform(0.2, 0.5)) * np.sin(2 * phase) + float(rng.uniform(0.05, 0.2)) * np.sin(3 * phase)
    if polyphonic:
        tone += 0.7 * np.sin(phase * np.float32(rng.uniform(1.25, 1.6)))
    # Its loudness follows the expiratory flow that drives it: a smooth swell, not a gated tone.
    swell = np.sqrt(np.maximum(np.sin(np.linspace(0.0, np.pi, m, dtype=np.float32)), 0))
    return tone * swell * _fade(m, int(0.02 * SAMPLE_RATE))


def _crackle(rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "fine":
        return _damped(float(rng.uniform(500, 950)), 0.0012, 0.007, glide=0.3, phase=float(rng.uniform(0, 6.28)))
    return _damped(float(rng.uniform(150, 350)), 0.0035, 0.018, glide=0.3, phase=float(rng.uniform(0, 6.28)))


def _render_lung(rng: np.random.Generator, p: Mapping[str, Any], n: int) -> np.ndarray:
    seconds = n / SAMPLE_RATE
    timing = _breath_timing(rng, p["rate"], 0.08, seconds)
    periods = np.array(timing["periods"])
    k, since, starts = _cycles(n, timing["offset"], periods)
    ti = periods * p["insp_fraction"]
    te = periods * min(0.55, 0.92 - p["insp_fraction"])
    insp, expi = _breath_envelopes(k, since, ti, te)
    strength = rng.uniform(0.85, 1.15, size=len(periods)).astype(np.float32)[k]
    site = p["site"]
    lowpass = _SITE_LOWPASS[site]
    bronchial = site == "trachea"
    if p["diagnosis"] == "pneumonia" and not bronchial:
        lowpass *= 1.7  # consolidation carries bronchial breath sounds to the chest wall
        bronchial = True
    exp_level = 0.85 if bronchial else 0.35
    loud = _db(p["chest_db"]) * (0.6 if p["diagnosis"] == "COPD" else 1.0)  # diminished breath sounds in COPD
    # The chest wall filters steeply (about -18 dB/octave above the site's corner).
    x = insp * np.sqrt(insp) * _noise(rng, n, _band(n, 100, lowpass, 3.0))
    x += exp_level * expi * np.sqrt(expi) * _noise(rng, n, _band(n, 100, lowpass * (1.0 if bronchial else 0.75), 3.0))
    x *= np.float32(loud) * strength
    if p["wheeze"]:
        # Musical sounds stand out above the breath noise, also where breath sounds are diminished.
        level = _db(float(rng.uniform(-4, 8)) + p["chest_db"])
        for start, t_i, t_e in zip(starts, ti, te):
            if rng.random() > 0.9:
                continue
            dur = float(np.clip(rng.uniform(0.5, 0.95) * t_e, 0.12, t_e))
            begin = start + t_i + float(rng.uniform(0, max(t_e - dur, 0)))
            f0 = float(np.clip(p["wheeze_f0"] * rng.uniform(0.88, 1.12), 100, 1000))
            _add(x, int(begin * SAMPLE_RATE), level * _wheeze(rng, int(dur * SAMPLE_RATE), f0, p["polyphonic"]))
    if p["crackle"]:
        level = _db(float(rng.uniform(-8, 4))) * loud
        kind = p["crackle_type"]
        window = (0.45, 0.95) if kind == "fine" else (0.05, 0.5)
        for start, t_i in zip(starts, ti):
            if rng.random() > 0.85:
                continue
            for _ in range(int(rng.integers(3, 10) if kind == "fine" else rng.integers(2, 6))):
                when = start + t_i * float(rng.uniform(*window))
                _add(x, int(when * SAMPLE_RATE), level * float(rng.uniform(0.4, 1.4)) * _crackle(rng, kind))
    bleed = {"anterior left": 0.25, "anterior right": 0.12}.get(site, 0.06)
    onsets = _beats(rng, p["heart_rate"], seconds)
    x += bleed * _heart_sounds(rng, n, onsets, float(rng.uniform(35, 60)), float(rng.uniform(60, 110)), 1.0, 0.7)
    if rng.random() < 0.3:
        # Stethoscope friction: a broadband rub.
        m = int(rng.uniform(0.05, 0.2) * SAMPLE_RATE)
        rub = _noise(rng, m, _band(m, 50, 1500)) * _fade(m, m // 4)
        _add(x, int(rng.uniform(0, seconds - 0.2) * SAMPLE_RATE), float(rng.uniform(0.2, 0.8)) * rub)
    x += _db(float(rng.uniform(-50, -38))) * _noise(rng, n, _pink(n))
    return x


# --- coughs ---------------------------------------------------------------------------


def _formants(m: int, formants: list[float]) -> np.ndarray:
    mag = _peak(m, round(formants[0]), 14.0, 0.18) * _peak(m, round(formants[1]), 10.0, 0.18)
    return mag * _peak(m, round(formants[2]), 7.0, 0.18)


def _cough(rng: np.random.Generator, p: Mapping[str, Any]) -> np.ndarray:
    """One cough: explosive burst, intermediate turbulent phase, optional voiced phase."""
    wet = p["wet"]
    explosive = float(rng.uniform(0.025, 0.05))
    intermediate = float(rng.uniform(0.15, 0.35) if wet else rng.uniform(0.08, 0.2))
    voiced = float(rng.uniform(0.06, 0.15)) if rng.random() < 0.65 else 0.0
    # Lengths on a 10 ms grid, so the cached filter responses are reused across coughs.
    m = 160 * int(np.ceil((explosive + intermediate + voiced + 0.05) * 100))
    t = _time(m)
    tract = _formants(m, p["formants"])
    x = _noise(rng, m, _band(m, 150, 6000, 1.0) * _peak(m, 1500, 6.0, 1.0))
    x *= np.exp(-t / np.float32(explosive / 2.5)) * (1 - np.exp(-t / np.float32(0.002)))
    texture = _band(m, 200, 2200, 2.0) if wet else _band(m, 200, 5000, 1.0)
    inter = ((t >= explosive * 0.6) & (t < explosive + intermediate)).astype(np.float32)
    decay = np.exp(-np.clip(t - explosive, 0, None) / np.float32(intermediate / 1.5))
    x += 0.45 * _noise(rng, m, tract * texture) * inter * decay
    if wet:
        # Secretions: bubbling transients and a slow gurgle through the intermediate phase.
        x *= 1 + 0.35 * np.sin(np.float32(2 * np.pi * rng.uniform(15, 30)) * t) * inter
        for _ in range(int(rng.poisson(90 * intermediate))):
            when = explosive + float(rng.uniform(0, intermediate))
            bub = _damped(float(rng.uniform(300, 1500)), float(rng.uniform(0.0008, 0.0025)), 0.01)
            _add(x, int(when * SAMPLE_RATE), float(rng.uniform(0.15, 0.5)) * bub)
    if voiced:
        start = explosive + intermediate * 0.7
        jitter = 0.01 + 0.05 * p["hoarse"]
        f0 = p["f0"] * np.clip(1 + jitter * rng.standard_normal(m, dtype=np.float32), 0.5, 1.5) * (1 - 0.15 * t / t[-1])
        pulses = np.diff(np.floor(np.cumsum(f0, dtype=np.float64) / SAMPLE_RATE), prepend=0.0).astype(np.float32)
        gate = ((t >= start) & (t < start + voiced)).astype(np.float32)
        f = _freqs(m)
        source = _filter(pulses * gate, tract / (1 + (f / 400.0) ** 1.2))
        breathy = p["hoarse"] * _noise(rng, m, tract * _band(m, 500, 5000)) * gate
        voice = source / (np.abs(source).max() + 1e-9) + 0.35 * breathy
        x += float(rng.uniform(0.25, 0.45)) * voice * np.exp(-np.clip(t - start, 0, None) / np.float32(voiced))
    return x


def _render_cough(rng: np.random.Generator, p: Mapping[str, Any], n: int) -> np.ndarray:
    seconds = n / SAMPLE_RATE
    x = np.zeros(n, dtype=np.float32)
    count = 2 + int(rng.choice(3, p=p["coughs_p"]))
    t = float(rng.uniform(0.15, 0.45))
    for _ in range(count):
        if t > seconds - 0.45:
            break
        inhale = 160 * int(rng.integers(15, 30))
        breath = _noise(rng, inhale, _band(inhale, 300, 3000)) * _fade(inhale, inhale // 3)
        _add(x, int(t * SAMPLE_RATE) - inhale, 0.04 * breath)
        burst = _cough(rng, p)
        _add(x, int(t * SAMPLE_RATE), float(rng.uniform(0.7, 1.0)) * burst)
        t += len(burst) / SAMPLE_RATE + float(rng.uniform(0.25, 0.9))
    # Room tone: pink noise, sometimes distant speech-like babble (syllable-rate modulated speech-band noise).
    x += _db(float(rng.uniform(-46, -32))) * _noise(rng, n, _pink(n))
    if rng.random() < 0.3:
        syllables = 0.6 + 0.4 * np.sin(np.float32(2 * np.pi * 4.0) * _time(n) + np.float32(rng.uniform(0, 6.28)))
        x += _db(float(rng.uniform(-34, -24))) * syllables * _noise(rng, n, _band(n, 200, 3500) * _peak(n, 600, 8.0, 1.0))
    return x


# --- breathing and spirometry ---------------------------------------------------------------


def _render_breathing(rng: np.random.Generator, p: Mapping[str, Any], n: int) -> np.ndarray:
    periods = np.array(p["periods"])
    k, since, _ = _cycles(n, p["offset"], periods)
    # Faster breathing shortens each phase less than the cycle, so pauses vanish and flow strengthens.
    ti = np.minimum(0.3 * periods + 0.4, 0.45 * periods)
    te = np.minimum(0.35 * periods + 0.6, 0.55 * periods)
    insp, expi = _breath_envelopes(k, since, ti, te, skew=0.8)
    depth = rng.uniform(0.8, 1.2, size=len(periods)).astype(np.float32)[k]
    flow = _db(p["flow_db"]) * (60.0 / periods.mean() / 15.0) ** 0.6
    nasal = _band(n, 250, 2800, 1.5) * _peak(n, round(p["nasal_peak"]), 8.0, 0.4)
    x = insp * np.sqrt(insp) * _noise(rng, n, nasal)
    x += 0.6 * expi * np.sqrt(expi) * _noise(rng, n, nasal * _band(n, None, 1800))
    x *= np.float32(flow) * depth
    x += _db(float(rng.uniform(-44, -30))) * _noise(rng, n, _pink(n))
    return x


def _render_exhalation(rng: np.random.Generator, p: Mapping[str, Any], n: int) -> np.ndarray:
    t = _time(n) - np.float32(p["onset"])
    rel = (_exhalation_flow(t, p["fvc"], p["ratio"], p["rise"]) / 8.0).astype(np.float32)
    mouth = _peak(n, round(p["mouth_peak"]), 6.0, 0.5)
    # Turbulent sound grows faster than flow, and its spectrum brightens with flow.
    x = rel * np.sqrt(rel) * _noise(rng, n, _band(n, 100, 1200) * mouth)
    x += 1.3 * rel * rel * _noise(rng, n, _band(n, 1000, 6500, 1.5) * mouth)
    # A deep breath in just before the blast, and the room.
    breath_in = ((t > -0.2) & (t < -0.02)).astype(np.float32)
    x += 0.03 * breath_in * _noise(rng, n, _band(n, 300, 3000))
    x += _db(float(rng.uniform(-50, -36))) * _noise(rng, n, _pink(n))
    return x


_RENDERERS: dict[str, Callable[[np.random.Generator, Mapping[str, Any], int], np.ndarray]] = {
    "lung sounds": _render_lung,
    "heart sounds": _render_heart,
    "cough": _render_cough,
    "nasal breathing": _render_breathing,
    "forced exhalation": _render_exhalation,
}
#: Output level (linear) of one synthesis unit per modality, before device gain.
_LEVEL = {"lung sounds": 0.12, "heart sounds": 0.3, "cough": 0.3, "nasal breathing": 0.09,
          "forced exhalation": 0.25}


def _device(rng: np.random.Generator, x: np.ndarray, device: str) -> np.ndarray:
    """The device: its frequency response, self-noise and mains hum."""
    hp, lp, res, res_db, noise_db, hum_db = DEVICES[device]
    n = len(x)
    y = _filter(x, _band(n, hp, lp) * _peak(n, res, res_db, 0.7))
    y += _db(noise_db) * _noise(rng, n, _band(n, hp, lp, 1.0))
    if hum_db is not None:
        mains = np.float32(2 * np.pi * rng.choice([50.0, 60.0])) * _time(n)
        y += _db(hum_db) * (np.sin(mains) + 0.4 * np.sin(3 * mains))
    return y


def render_recording(row: Mapping[str, Any], seed: int = DEFAULT_SEED) -> np.ndarray:
    """Synthesise one recording of the plan.

    Parameters
    ----------
    row : mapping
        A row of :func:`demo_plan` (``modality``, ``recording_id``, ``params``).
    seed : int
        The demo seed (the recording's stream is derived from it and the recording id).

    Returns
    -------
    ndarray of int16, shape (duration × 16000,)
        The PCM samples, exactly as written to the WAV file.
    """
    modality = row["modality"]
    rng = _recording_rng(seed, str(row["recording_id"]))
    n = int(round(MODALITIES[modality][1] * SAMPLE_RATE))
    p = row["params"]
    x = _RENDERERS[modality](rng, p, n) * np.float32(_LEVEL[modality])
    x = _device(rng, x, p["device"]) * np.float32(_db(p["gain_db"] + float(rng.uniform(-1.5, 1.5))))
    peak = float(np.abs(x).max())
    if not np.isfinite(peak):
        raise RuntimeError(f"demo generator produced non-finite audio for {row['recording_id']}")  # a bug, not input
    if peak > 0.98:  # the recorder's automatic gain control, not clipping
        x *= np.float32(0.98 / peak)
    return np.round(x * 32767.0).astype(np.int16)


# --- the folder ------------------------------------------------------------------------


def demo_folder(cache_dir: str | os.PathLike, seed: int = DEFAULT_SEED) -> Path:
    """``<cache_dir>/demo/v<GENERATOR_VERSION>-seed<seed>``: where :func:`ensure_demo` puts the suite."""
    return Path(cache_dir) / "demo" / f"v{GENERATOR_VERSION}-seed{int(seed)}"


@functools.lru_cache(maxsize=1)
def synthesis_fingerprint() -> str:
    """SHA-256 (16 hex) of this module's source: an edited generator never reuses old audio,
    even when the edit forgot to bump :data:`GENERATOR_VERSION`."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


#: Keys of ``generator.json`` that must all agree for a folder to be reused.
_IDENTITY = ("version", "seed", "plan_fingerprint", "synthesis")


def _info(seed: int, fingerprint: str) -> dict[str, Any]:
    return {"generator": "acubench.demo", "version": GENERATOR_VERSION, "seed": int(seed),
            "sample_rate": SAMPLE_RATE, "plan_fingerprint": fingerprint, "synthesis": synthesis_fingerprint(),
            "numpy": np.__version__}


def _atomic_bytes(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def _write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.wav")
    sf.write(str(tmp), samples, SAMPLE_RATE, subtype="PCM_16")
    os.replace(tmp, path)


def _wav_ok(path: Path, n_samples: int) -> bool:
    """A complete file of the expected length (a truncated WAV reports fewer frames)."""
    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - any unreadable file is simply rendered again
        return False
    return info.frames == n_samples and info.samplerate == SAMPLE_RATE and info.channels == 1


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _complete(folder: Path, seed: int, fingerprint: str) -> bool:
    info_path, meta_path = folder / INFO_FILE, folder / METADATA_FILE
    if not (info_path.is_file() and meta_path.is_file()):
        return False
    try:
        info = json.loads(info_path.read_text())
        meta = pd.read_csv(meta_path, usecols=["audio_path", "duration"])
    except (ValueError, OSError, pd.errors.ParserError):
        return False
    expected = _info(seed, fingerprint)
    if any(info.get(k) != expected[k] for k in _IDENTITY):
        return False
    return all(_wav_ok(folder / p, int(round(d * SAMPLE_RATE))) for p, d in zip(meta["audio_path"], meta["duration"]))


def generate_demo(folder: str | os.PathLike, seed: int = DEFAULT_SEED) -> Path:
    """(Re)generate the demo suite into ``folder``, keeping files that are already complete.

    Files are written atomically, ``metadata.csv`` last; a folder left by
    another generator version, seed or plan is cleared first.

    Returns
    -------
    Path
        ``folder``.
    """
    folder = Path(folder)
    plan = demo_plan(seed)
    fingerprint = plan_fingerprint(plan)
    info = _info(seed, fingerprint)
    info_path = folder / INFO_FILE
    if info_path.is_file():
        try:
            old = json.loads(info_path.read_text())
        except ValueError:
            old = {}
        if any(old.get(k) != info[k] for k in _IDENTITY):
            # Never mix two generators' files: clear what a generator writes, and nothing else.
            log.info("demo: %s holds another generator's output (%s); regenerating", folder, old)
            shutil.rmtree(folder / AUDIO_DIR, ignore_errors=True)
    elif folder.is_dir() and any(folder.iterdir()):
        raise DatasetError(f"{folder}: not empty and not a demo folder (no {INFO_FILE}); the demo suite is generated "
                           f"only into an empty or demo folder. Choose another folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METADATA_FILE).unlink(missing_ok=True)
    _atomic_bytes(info_path, json.dumps(info, indent=2, sort_keys=True).encode())
    rendered = 0
    hashes = []
    for row in plan.to_dict("records"):
        path = folder / row["audio_path"]
        if not _wav_ok(path, int(round(row["duration"] * SAMPLE_RATE))):
            _write_wav(path, render_recording(row, seed))
            rendered += 1
        hashes.append(_sha256(path))
    meta = plan.drop(columns=["params"])
    meta["sha256"] = hashes
    buf = meta.to_csv(index=False, float_format="%.6g")
    _atomic_bytes(folder / METADATA_FILE, buf.encode())
    log.info("demo: rendered %d of %d recordings into %s", rendered, len(plan), folder)
    return folder


def ensure_demo(cache_dir: str | os.PathLike, seed: int = DEFAULT_SEED) -> Path:
    """The demo suite's folder under ``cache_dir``, generated (or repaired) first if needed.

    Parameters
    ----------
    cache_dir : path-like
        acubench's cache root (:func:`acubench.paths.cache_dir`).
    seed : int
        Demo seed; each seed has its own folder.

    Returns
    -------
    Path
        :func:`demo_folder` ``(cache_dir, seed)``, complete.
    """
    folder = demo_folder(cache_dir, seed)
    plan = demo_plan(seed)
    if _complete(folder, seed, plan_fingerprint(plan)):
        return folder
    log.info("demo: generating the synthetic demo suite into %s (first use; about 10 s)", folder)
    return generate_demo(folder, seed)


def read_metadata(folder: str | os.PathLike) -> pd.DataFrame:
    """The ``metadata.csv`` of a complete demo folder, ``audio_path`` made absolute.

    Raises
    ------
    DatasetError
        If the folder is not a complete demo suite.
    """
    folder = Path(folder)
    path = folder / METADATA_FILE
    if not path.is_file():
        raise DatasetError(f"{path}: no demo metadata; the folder is not a complete demo suite. Generate it with "
                           f"acubench.demo.ensure_demo(<cache dir>) or any `acubench run --tasks demo`")
    # Only empty cells are missing: "none" and "None" are values (no adventitious sounds, no symptoms).
    meta = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = [c for c in METADATA_COLUMNS if c not in meta.columns]
    if missing:
        raise DatasetError(f"{path}: lacks column(s) {missing}; delete {folder} and it is generated again")
    paths = member_paths(folder, meta["audio_path"], metadata=path, spec=DATASET, column="audio_path")
    meta["audio_path"] = [str(p.resolve()) for p in paths]
    return meta
