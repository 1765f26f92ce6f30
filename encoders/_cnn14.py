"""PANNs CNN14 (Kong et al., 2020) as MS-CLAP 2022 builds it, with the released parameter names.

Keys (under ``audio_encoder.base.`` in ``CLAP_weights_2022.pth``):
``spectrogram_extractor.stft.conv_{real,imag}.weight`` (the windowed DFT of
torchlibrosa's ``Spectrogram``, (513, 1, 1024)), ``logmel_extractor.melW``
((513, 64)), ``bn0`` (BatchNorm over the 64 mel bins), ``conv_block{1..6}``
(each ``conv1``/``conv2`` 3 × 3 bias-free with ``bn1``/``bn2``), ``fc1``
(2048 → 2048) and the AudioSet head ``fc_audioset`` (unused by the embedding,
kept so the release loads key for key).

Forward (eval): log-mel (B, T, 64) → ``bn0`` per mel bin → blocks 1–5 each
followed by 2 × 2 average pooling, block 6 without pooling (dropout is off
in eval) → mean over frequency → max over time + mean over time → ReLU(``fc1``):
the 2048-d embedding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from acubench.frontends import MelConfig, mel_filterbank


class ConvBlock(nn.Module):
    """Two 3 × 3 convolutions (no bias), each with BatchNorm and ReLU, then average pooling."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)

    def forward(self, x: Tensor, pool: int) -> Tensor:
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.avg_pool2d(x, kernel_size=pool) if pool > 1 else x


class _Holder(nn.Module):
    """A container whose only purpose is the released attribute chain (``stft.conv_real``…)."""


class TorchlibrosaLogmel(nn.Module):
    """torchlibrosa's ``Spectrogram`` + ``LogmelFilterBank`` (ref 1, amin 1e-10, no top_db), frozen.

    Keys ``spectrogram_extractor.stft.conv_{real,imag}.weight`` and
    ``logmel_extractor.melW`` live on the *owner* module (as in the release);
    this class only computes with them, so the tensors the checkpoint loads
    are the ones used.
    """

    @staticmethod
    def attach(owner: nn.Module, *, sample_rate: int, n_fft: int, hop: int, n_mels: int, fmin: float,
               fmax: float) -> None:
        """Give ``owner`` the released front-end tensors, built as torchlibrosa builds them."""
        n = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft
        owner.spectrogram_extractor = _Holder()
        owner.spectrogram_extractor.stft = _Holder()
        for name, basis in (("conv_real", torch.cos(angle)), ("conv_imag", -torch.sin(angle))):
            conv = nn.Conv1d(1, n_fft // 2 + 1, n_fft, stride=hop, bias=False)
            conv.weight = nn.Parameter((basis * window).float().unsqueeze(1), requires_grad=False)
            setattr(owner.spectrogram_extractor.stft, name, conv)
        owner.logmel_extractor = _Holder()
        filters = mel_filterbank(MelConfig(sample_rate, n_fft, hop, n_mels, fmin, fmax))
        owner.logmel_extractor.melW = nn.Parameter(filters.T.contiguous(), requires_grad=False)

    @staticmethod
    def logmel(owner: nn.Module, waves: Tensor) -> Tensor:
        """Waveforms (B, N) → log-mel power (B, 1 + N // hop, n_mels) in dB, with ``owner``'s tensors.

        Centred frames: the signal is reflect-padded by ``n_fft // 2`` on both sides.
        """
        stft = owner.spectrogram_extractor.stft
        n_fft = stft.conv_real.weight.shape[-1]
        x = F.pad(waves.unsqueeze(1), (n_fft // 2, n_fft // 2), mode="reflect")
        real, imag = stft.conv_real(x), stft.conv_imag(x)          # (B, F, T)
        power = (real ** 2 + imag ** 2).transpose(1, 2)             # (B, T, F)
        mel = power @ owner.logmel_extractor.melW                   # (B, T, n_mels)
        return 10.0 * torch.log10(torch.clamp(mel, min=1e-10))


class Cnn14(nn.Module):
    """CNN14 with its torchlibrosa front-end; ``forward`` takes waveforms (B, N) and returns (B, out_emb).

    Parameters
    ----------
    sample_rate, window, hop, mel_bins, fmin, fmax
        Front-end settings (44100, 1024, 320, 64, 50, 14000 in MS-CLAP 2022).
    channels : sequence of 6 int
        Widths of the conv blocks (64 … 2048).
    out_emb : int
        Width of ``fc1``, the embedding (2048).
    classes : int
        Outputs of the unused ``fc_audioset`` head (527).
    """

    def __init__(self, *, sample_rate: int, window: int, hop: int, mel_bins: int, fmin: float, fmax: float,
                 channels: list[int], out_emb: int, classes: int) -> None:
        super().__init__()
        if len(channels) != 6:
            raise ValueError(f"CNN14 has 6 conv blocks, got {len(channels)} widths")
        TorchlibrosaLogmel.attach(self, sample_rate=sample_rate, n_fft=window, hop=hop, n_mels=mel_bins,
                                  fmin=fmin, fmax=fmax)
        self.bn0 = nn.BatchNorm2d(mel_bins)
        widths = [1, *channels]
        for i in range(6):
            setattr(self, f"conv_block{i + 1}", ConvBlock(widths[i], widths[i + 1]))
        self.fc1 = nn.Linear(channels[-1], out_emb)
        self.fc_audioset = nn.Linear(out_emb, classes)
        self.out_emb = out_emb
        for m in self.modules():  # PANNs' initialisation: Xavier-uniform weights, zero bias, unit BatchNorm
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.requires_grad:
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, waves: Tensor) -> Tensor:
        x = TorchlibrosaLogmel.logmel(self, waves)                  # (B, T, M)
        x = self.bn0(x.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2)  # per mel bin
        x = x.unsqueeze(1)                                          # (B, 1, T, M)
        for i in range(1, 7):
            x = getattr(self, f"conv_block{i}")(x, pool=2 if i < 6 else 1)
        x = x.mean(dim=3)                                           # over frequency: (B, C, T')
        x = x.max(dim=2).values + x.mean(dim=2)
        return F.relu(self.fc1(x))
