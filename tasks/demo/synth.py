"""The demo suite's synthesis: every recording of the plan rendered from its own seeded stream.

Every recording passes a device model (frequency response, self-noise, mains
hum), random gain and ambient noise; annotations carry a small label noise
(an annotator misses or imagines a wheeze; a spirometer reads ±40 mL), so the
tasks are learnable but not trivial.

What is rendered for each cohort is described in :mod:`acubench.tasks.demo.plan`.
Only this module, the plan and the suite's declared facts shape the audio, so
they alone make the demo's synthesis fingerprint (:func:`acubench.tasks.demo.store.synthesis_fingerprint`).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import numpy as np
import scipy.fft as sfft

from acubench.tasks.demo import MODALITIES
from acubench.tasks.demo.plan import DEFAULT_SEED, breath_timing, exhalation_flow, recording_rng

SAMPLE_RATE = 16_000

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
    freq = np.linspace(f0, end, m, dtype=np.float32) * (
        1 + 0.01 * np.sin(np.float32(2 * np.pi * rng.uniform(4, 9)) * t))
    phase = np.float32(2 * np.pi / SAMPLE_RATE) * np.cumsum(freq, dtype=np.float64).astype(np.float32)
    tone = (np.sin(phase) + float(rng.uniform(0.2, 0.5)) * np.sin(2 * phase)
            + float(rng.uniform(0.05, 0.2)) * np.sin(3 * phase))
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
    timing = breath_timing(rng, p["rate"], 0.08, seconds)
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
        x += (_db(float(rng.uniform(-34, -24))) * syllables
              * _noise(rng, n, _band(n, 200, 3500) * _peak(n, 600, 8.0, 1.0)))
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
    rel = (exhalation_flow(t, p["fvc"], p["ratio"], p["rise"]) / 8.0).astype(np.float32)
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
    rng = recording_rng(seed, str(row["recording_id"]))
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
