"""The demo suite's plan: its cohorts, their traits and labels, one row per recording.

The built-in synthetic demo suite: cardio-respiratory recordings generated from a seed.

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

Annotations carry a small label noise (an annotator misses or imagines a
wheeze; a spirometer reads ±40 mL), so the tasks are learnable but not trivial.
:mod:`acubench.tasks.demo.synth` renders each row; :mod:`acubench.tasks.demo.store`
writes them into the cache.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import numpy as np
import pandas as pd

from acubench.manifest import RECORDING_COLUMNS
from acubench.tasks.demo import LUNG_DIAGNOSES, MODALITIES

DEFAULT_SEED = 0
#: Folder of the recordings inside a demo folder, ``audio/<modality>/<recording>.wav``.
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

#: Recording devices by cohort (their acoustics: :data:`acubench.tasks.demo.synth.DEVICES`).
STETHOSCOPES = ("Littmann 3200 electronic stethoscope", "Littmann Classic II SE stethoscope",
                "Meditron electronic stethoscope", "AKG C417L microphone")
PHONES = ("smartphone (Android)", "smartphone (iPhone)", "laptop microphone")


# --- the plan: cohorts, traits, recordings --------------------------------------------


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *stream]))


def recording_rng(seed: int, recording_id: str) -> np.random.Generator:
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


def breath_timing(rng: np.random.Generator, rate: float, irregularity: float, seconds: float) -> dict[str, Any]:
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


def exhalation_flow(t: np.ndarray, fvc: float, ratio: float, rise: float) -> np.ndarray:
    """Expiratory flow (L/s) at times ``t`` (s) from the start of the blast: a fast rise, then exponential emptying."""
    tau = -1.0 / np.log(1.0 - ratio)
    t = np.maximum(t, 0.0)
    return fvc / tau * np.exp(-t / tau) * (1.0 - np.exp(-t / rise))


def _fev1(fvc: float, ratio: float, rise: float) -> float:
    grid = np.linspace(0.0, 1.0, 4001)
    return float(np.trapezoid(exhalation_flow(grid, fvc, ratio, rise), grid))


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
            timing = breath_timing(rng, rate, nose["irregularity"], MODALITIES["nasal breathing"][1])
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
