"""Spectrogram front-ends in torch, batched: the OPERA log-mel and its parts.

The OPERA models (CE, CT, GT) were trained on ``src/util.py::pre_process_audio_mel_t``:
``librosa.feature.melspectrogram`` (16 kHz, ``n_fft`` 1024, hop 512, 64 Slaney
mel bands from 50 to 8000 Hz, Hann window, ``center=True`` with zero padding,
power 2), then ``librosa.power_to_db(ref=np.max)`` — whose default
``top_db=80`` clips everything below the clip's maximum minus 80 dB — then a
per-clip min–max scaling to [0, 1]. :func:`opera_logmel` reproduces that
without librosa, one STFT call for a batch of equal-length clips; the tests
pin values computed once with librosa 0.11.

All functions here put time on dim 1: spectrograms are (B, T, F).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor


@dataclass(frozen=True)
class MelConfig:
    """STFT and mel-filterbank settings.

    Parameters
    ----------
    sample_rate : int
        Hz of the waveforms.
    n_fft : int
        FFT size and Hann window length (samples).
    hop_length : int
        Samples between frames.
    n_mels : int
        Number of mel bands.
    f_min, f_max : float
        Band edges (Hz) of the filterbank.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 64
    f_min: float = 50.0
    f_max: float = 8000.0

    def n_frames(self, n_samples: int) -> int:
        """Frames of a centred STFT of ``n_samples`` samples: ``1 + n // hop``."""
        return 1 + n_samples // self.hop_length


#: The OPERA benchmark's log-mel (``pre_process_audio_mel_t`` with the callers' f_max=8000).
OPERA_MEL = MelConfig()


def _hz_to_mel(freq: Tensor) -> Tensor:
    """Slaney's mel scale (librosa ``htk=False``): linear below 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    linear = freq / f_sp
    log = min_log_mel + torch.log(torch.clamp(freq, min=min_log_hz) / min_log_hz) / logstep
    return torch.where(freq >= min_log_hz, log, linear)


def _mel_to_hz(mel: Tensor) -> Tensor:
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    linear = mel * f_sp
    log = min_log_hz * torch.exp(logstep * (mel - min_log_mel))
    return torch.where(mel >= min_log_mel, log, linear)


@functools.lru_cache(maxsize=8)
def _filterbank_f64(cfg: MelConfig) -> Tensor:
    n_freqs = cfg.n_fft // 2 + 1
    fft_freqs = torch.linspace(0.0, cfg.sample_rate / 2, n_freqs, dtype=torch.float64)
    edges = _mel_to_hz(torch.linspace(float(_hz_to_mel(torch.tensor(cfg.f_min, dtype=torch.float64))),
                                      float(_hz_to_mel(torch.tensor(cfg.f_max, dtype=torch.float64))),
                                      cfg.n_mels + 2, dtype=torch.float64))
    widths = edges[1:] - edges[:-1]
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    # Slaney normalisation: each triangle has unit area in Hz.
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def mel_filterbank(cfg: MelConfig = OPERA_MEL, *, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """Slaney-scale, Slaney-normalised triangular filters, as ``librosa.filters.mel``.

    Returns
    -------
    Tensor, shape (n_mels, n_fft // 2 + 1)
        Weights mapping a power spectrum to mel bands.
    """
    return _filterbank_f64(cfg).to(device=device, dtype=dtype)


def mel_power(waves: Tensor, cfg: MelConfig = OPERA_MEL, *, filterbank: Tensor | None = None) -> Tensor:
    """Mel power spectrogram of a batch of equal-length waveforms, one STFT call.

    Parameters
    ----------
    waves : Tensor, shape (B, n_samples) or (n_samples,)
        Audio at ``cfg.sample_rate`` Hz.
    cfg : MelConfig
    filterbank : Tensor, shape (n_mels, n_fft // 2 + 1), optional
        :func:`mel_filterbank` of ``cfg``, e.g. a module buffer already on the
        right device; default: built (and cached) here.

    Returns
    -------
    Tensor, shape (B, T, n_mels) (or (T, n_mels) for 1-D input)
        Power (squared magnitude) per mel band, T = ``1 + n_samples // hop``;
        same device as ``waves``, float32 (float64 for float64 input).
    """
    squeeze = waves.dim() == 1
    x = waves.unsqueeze(0) if squeeze else waves
    if x.dim() != 2 or x.shape[-1] == 0:
        raise ValueError(f"mel_power expects waveforms shaped (B, n_samples) with n_samples > 0, "
                         f"got {tuple(waves.shape)}")
    if not x.is_floating_point():
        x = x.float()
    window = torch.hann_window(cfg.n_fft, periodic=True, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, cfg.n_fft, hop_length=cfg.hop_length, window=window, center=True,
                      pad_mode="constant", return_complex=True)
    power = spec.real.square() + spec.imag.square()  # (B, F, T)
    fb = mel_filterbank(cfg, device=x.device, dtype=x.dtype) if filterbank is None else filterbank.to(x)
    mel = torch.matmul(power.transpose(1, 2), fb.T)  # (B, T, n_mels)
    return mel[0] if squeeze else mel


def power_to_db(power: Tensor, *, ref: float | Literal["max"] = 1.0, amin: float = 1e-10,
                top_db: float | None = 80.0) -> Tensor:
    """``10 log10(power / ref)`` per clip, as ``librosa.power_to_db``.

    Parameters
    ----------
    power : Tensor, shape (B, ...)
        Non-negative power; every clip (index of dim 0) is scaled on its own.
    ref : float or "max"
        Reference power; ``"max"`` uses each clip's maximum (librosa ``ref=np.max``),
        so the loudest bin reads 0 dB.
    amin : float
        Floor on power and reference before the logarithm.
    top_db : float or None
        Clip values below each clip's maximum minus ``top_db`` dB (librosa's
        default is 80); ``None`` disables it.

    Returns
    -------
    Tensor, same shape as ``power``, in dB.
    """
    dims = tuple(range(1, power.dim()))
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    if ref == "max":
        peak = power.amax(dim=dims, keepdim=True) if dims else power
        db = db - 10.0 * torch.log10(torch.clamp(peak, min=amin))
    else:
        db = db - 10.0 * math.log10(max(amin, float(ref)))
    if top_db is not None:
        if top_db < 0:
            raise ValueError(f"top_db must be non-negative, got {top_db}")
        floor = (db.amax(dim=dims, keepdim=True) if dims else db) - top_db
        db = torch.maximum(db, floor)
    return db


def minmax_per_clip(x: Tensor) -> Tensor:
    """Scale each clip (index of dim 0) to [0, 1]; a constant clip is returned unchanged.

    The reference returns the un-normalised array when max == min (it only
    warns), so this does the same rather than dividing by zero.
    """
    dims = tuple(range(1, x.dim()))
    lo = x.amin(dim=dims, keepdim=True)
    hi = x.amax(dim=dims, keepdim=True)
    span = hi - lo
    scaled = (x - lo) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, scaled, x)


def opera_logmel(waves: Tensor, cfg: MelConfig = OPERA_MEL) -> Tensor:
    """The OPERA model input: min–max-scaled log-mel, for equal-length waveforms.

    Parameters
    ----------
    waves : Tensor, shape (B, n_samples) or (n_samples,)
        Audio at 16 kHz (``cfg.sample_rate``), float.
    cfg : MelConfig
        Defaults to :data:`OPERA_MEL` (the setting all OPERA encoders were trained with).

    Returns
    -------
    Tensor, shape (B, T, n_mels) (or (T, n_mels)), values in [0, 1]
        ``T = 1 + n_samples // 512``; 8.18 s → 256 frames, 8 s → 251.
    """
    squeeze = waves.dim() == 1
    db = power_to_db(mel_power(waves.unsqueeze(0) if squeeze else waves, cfg), ref="max")
    out = minmax_per_clip(db)
    return out[0] if squeeze else out


def batch_by_length(waves: Sequence[Tensor]) -> list[tuple[list[int], Tensor]]:
    """Group waveforms of equal length so each group is one batched STFT.

    Returns
    -------
    list of (indices, Tensor (b, n_samples))
        Positions in ``waves`` and the stacked group, in order of first appearance.
    """
    groups: dict[int, list[int]] = {}
    for i, w in enumerate(waves):
        if w.dim() != 1:
            raise ValueError(f"waveform {i} must be 1-D (n_samples,), got shape {tuple(w.shape)}")
        groups.setdefault(int(w.shape[0]), []).append(i)
    return [(idx, torch.stack([waves[i] for i in idx])) for idx in groups.values()]


def opera_logmels(waves: Sequence[Tensor], cfg: MelConfig = OPERA_MEL) -> list[Tensor]:
    """:func:`opera_logmel` of clips of any lengths, each at its own length.

    Clips of equal length share one STFT call. Returns one (T_i, n_mels) tensor per clip, in input order.
    """
    out: list[Tensor | None] = [None] * len(waves)
    for idx, batch in batch_by_length(waves):
        mels = opera_logmel(batch, cfg)
        for j, i in enumerate(idx):
            out[i] = mels[j]
    return out  # type: ignore[return-value]


def kaldi_fbank(waves: Tensor, sample_rate: int, *, n_mels: int = 128, frame_ms: float = 25.0,
                shift_ms: float = 10.0, preemphasis: float = 0.97, low_freq: float = 20.0) -> Tensor:
    """Kaldi log-mel filterbank of a batch of equal-length waveforms, in one call on their device.

    Equals ``torchaudio.compliance.kaldi.fbank(w[None], htk_compat=True, sample_frequency=sample_rate,
    use_energy=False, window_type="hanning", num_mel_bins=n_mels, dither=0.0, frame_length=frame_ms,
    frame_shift=shift_ms)`` row by row (the AudioMAE/AST front-end) to float rounding: frames with
    ``snip_edges``, DC offset removed per frame, pre-emphasis, a symmetric Hann window, zero-padded
    to a power of two, power spectrum, HTK-mel triangles from ``low_freq`` to Nyquist, natural log
    floored at float32's epsilon.

    Parameters
    ----------
    waves : Tensor, shape (B, n_samples)
    sample_rate : int
        Hz.

    Returns
    -------
    Tensor, shape (B, T, n_mels)
        ``T = 1 + (n_samples − frame) // shift`` (0 when shorter than one frame).
    """
    from torchaudio.compliance.kaldi import get_mel_banks

    if waves.dim() != 2:
        raise ValueError(f"kaldi_fbank expects waveforms shaped (B, n_samples), got {tuple(waves.shape)}")
    frame = int(sample_rate * frame_ms * 0.001)
    shift = int(sample_rate * shift_ms * 0.001)
    padded = 1 << (frame - 1).bit_length()
    x = waves.float()
    if x.shape[1] < frame:
        return x.new_zeros(x.shape[0], 0, n_mels)
    frames = x.unfold(1, frame, shift)  # (B, T, frame), a view
    frames = frames - frames.mean(dim=2, keepdim=True)
    previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=2)
    frames = frames - preemphasis * previous
    frames = frames * torch.hann_window(frame, periodic=False, device=x.device, dtype=x.dtype)
    power = torch.fft.rfft(frames, n=padded).abs().pow(2.0)
    banks, _ = get_mel_banks(n_mels, padded, float(sample_rate), low_freq, 0.0, 100.0, -500.0, 1.0)
    banks = torch.nn.functional.pad(banks.to(x), (0, 1))
    mel = torch.matmul(power, banks.T)
    return torch.clamp(mel, min=torch.finfo(x.dtype).eps).log()


def clap_logmel(waves: Tensor, mel_filters: Tensor, *, max_samples: int, n_fft: int = 1024,
                hop_length: int = 480) -> Tensor:
    """The CLAP (unfused, ``repeatpad``) log-mel of equal-length waveforms, batched on their device.

    Equals ``transformers.ClapFeatureExtractor(..., truncation="rand_trunc", padding="repeatpad")`` of
    inputs no longer than ``max_samples``, which computes it frame by frame in numpy: each clip is
    tiled whole as often as it fits in ``max_samples`` and zero-padded to it, then a centred
    (reflect-padded) periodic-Hann STFT, power, the extractor's mel filters, floored at 1e-10 and
    in dB. Computed in float64, as the extractor does, so that quiet bands keep their level.

    Parameters
    ----------
    waves : Tensor, shape (B, n_samples), n_samples ≤ max_samples
    mel_filters : Tensor, shape (n_fft // 2 + 1, n_mels)
        The extractor's ``mel_filters_slaney``.

    Returns
    -------
    Tensor, shape (B, 1 + max_samples // hop_length, n_mels), float32
    """
    x = waves.double()
    n = x.shape[1]
    if n == 0 or n > max_samples:
        raise ValueError(f"clap_logmel expects 1…{max_samples} samples per clip, got {n}")
    if n < max_samples:
        x = torch.nn.functional.pad(x.repeat(1, max_samples // n), (0, max_samples - n * (max_samples // n)))
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=hop_length, window=window, center=True, pad_mode="reflect",
                      return_complex=True)
    power = spec.abs().square()  # (B, F, T)
    mel = torch.matmul(power.transpose(1, 2), mel_filters.to(x))
    return (10.0 * torch.log10(torch.clamp(mel, min=1e-10))).float()
