"""HTS-AT (Chen et al., ICASSP 2022), the Swin-transformer audio encoder inside OPERA-CT.

Reproduces ``HTSAT_Swin_Transformer`` as OPERA configures it (spec_size 256,
patch 4, stride (4, 4), embed 96, depths [2, 2, 6, 2], heads [4, 8, 16, 32],
window 8, mlp_ratio 4, token-semantic CAM on, 64 mel bins so ``freq_ratio`` 4,
527 classes) with its exact parameter and buffer names, so OPERA's
``encoder-operaCT.ckpt`` loads key for key.

Forward, for log-mel inputs (B, 1024, 64) — the encoder wrapper stretches or
crops every clip to 1024 frames first:

1. ``bn0``: BatchNorm over the 64 mel bins;
2. fold the 1024 × 64 spectrogram into a 256 × 256 image: four 256-frame
   segments stacked along frequency (``reshape_wav2img``);
3. ``patch_embed`` (Conv2d 1 → 96, 4 × 4, stride 4, then LayerNorm) → 64 × 64 tokens;
4. four Swin stages (window attention with a learnt relative-position bias
   table, shifted windows on odd blocks, patch merging between stages) →
   8 × 8 tokens of 768;
5. ``norm``; the clip embedding (``latent_output``) is the mean over the 64 tokens.

Parts of the release that never touch ``latent_output`` are kept only so
checkpoints round-trip in the released layout: the classification head
(``tscam_conv``, ``head``) and the torchlibrosa front-end tensors
(``spectrogram_extractor.stft.conv_{real,imag}.weight``, 32 kHz
``logmel_extractor.melW``), which OPERA's code builds but never calls.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from acubench.encoders._vit import Mlp
from acubench.frontends import MelConfig, mel_filterbank


class WindowAttention(nn.Module):
    """Swin-v1 window attention: softmax(QKᵀ/√d + B_rel [+ mask]) V.

    Keys: ``qkv``, ``proj``, ``relative_position_bias_table`` ((2w−1)², heads)
    and the persistent buffer ``relative_position_index`` (w², w²).
    """

    def __init__(self, dim: int, window: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """``x`` (nW·B, N, C) → (nW·B, N, C); ``mask`` (nW, N, N) of 0 / −100."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            n_win = mask.shape[0]
            attn = attn.view(bw // n_win, n_win, self.num_heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.num_heads, n, n)
        return self.proj((attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(bw, n, c))


def _partition(x: Tensor, w: int) -> Tensor:
    """(B, H, W, C) → (B·nW, w·w, C), windows row-major."""
    b, h, wd, c = x.shape
    return x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)


def _merge(windows: Tensor, w: int, h: int, wd: int) -> Tensor:
    """Inverse of :func:`_partition`: (B·nW, w·w, C) → (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // w, wd // w, w, w, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, wd, c)


def shifted_window_mask(size: tuple[int, int], window: tuple[int, int], shift: tuple[int, int]) -> Tensor:
    """Swin's attention mask for cyclically shifted windows.

    The map is cut into three regions per axis (before the last window, the
    last window less the shift, the shift); after the roll, positions of a
    window that came from different regions must not attend to each other.

    Parameters
    ----------
    size, window, shift : (int, int)
        Feature map (H, W), window (rows, cols) and shift (rows, cols).

    Returns
    -------
    Tensor, shape (nW, A, A)
        0 within a region, −100 across regions; windows row-major, A = rows · cols.
    """
    (h, w), (wh, ww), (sh, sw) = size, window, shift
    region = torch.zeros(h, w)
    label = 0
    for rows in (slice(0, -wh), slice(-wh, -sh), slice(-sh, None)):
        for cols in (slice(0, -ww), slice(-ww, -sw), slice(-sw, None)):
            region[rows, cols] = label
            label += 1
    windows = region.view(h // wh, wh, w // ww, ww).permute(0, 2, 1, 3).reshape(-1, wh * ww)
    diff = windows[:, None, :] - windows[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class SwinBlock(nn.Module):
    """Pre-norm Swin block: x + W-MSA(norm1(x)), then x + MLP(norm2(x)).

    A feature map no larger than the window gets one window over it and no
    shift (as in the release). Shifted blocks keep their attention mask as the
    persistent buffer ``attn_mask`` (it is in the released checkpoints).

    Parameters
    ----------
    dim : int
    resolution : (int, int)
        Token grid (H, W).
    num_heads : int
    window : int
    shift : int
    mlp_ratio : float
    drop_path : float
        Stochastic-depth rate (training only).
    """

    def __init__(self, dim: int, resolution: tuple[int, int], num_heads: int, window: int, shift: int,
                 mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.resolution = resolution
        if min(resolution) <= window:
            window, shift = min(resolution), 0
        self.window, self.shift = window, shift
        self.drop_path = drop_path
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if shift:
            self.register_buffer("attn_mask", shifted_window_mask(resolution, (window, window), (shift, shift)))
        else:
            self.attn_mask = None

    def _stochastic_depth(self, x: Tensor) -> Tensor:
        if not self.training or self.drop_path == 0.0:
            return x
        keep = 1.0 - self.drop_path
        return x * x.new_empty(x.shape[0], 1, 1).bernoulli_(keep) / keep

    def forward(self, x: Tensor) -> Tensor:
        h, w = self.resolution
        b, n, c = x.shape
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = _merge(self.attn(_partition(y, self.window), self.attn_mask), self.window, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + self._stochastic_depth(y.reshape(b, n, c))
        return x + self._stochastic_depth(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2 × 2 neighbouring tokens → one: concat (order (0,0), (1,0), (0,1), (1,1)), ``norm``, ``reduction`` 4C → 2C."""

    def __init__(self, resolution: tuple[int, int], dim: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class BasicLayer(nn.Module):
    """One Swin stage: ``blocks`` then an optional ``downsample`` (PatchMerging)."""

    def __init__(self, dim: int, resolution: tuple[int, int], depth: int, num_heads: int, window: int,
                 mlp_ratio: float, drop_path: list[float], downsample: bool) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([
            SwinBlock(dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio, drop_path[i])
            for i in range(depth)
        ])
        self.downsample = PatchMerging(resolution, dim) if downsample else None

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    """``proj`` Conv2d(1, D, patch, stride) then ``norm`` LayerNorm: (B, 1, S, S) → (B, (S/stride)², D)."""

    def __init__(self, spec_size: int, patch: int, stride: int, dim: int) -> None:
        super().__init__()
        self.grid = (spec_size // stride, spec_size // stride)
        self.proj = nn.Conv2d(1, dim, kernel_size=patch, stride=stride, padding=(patch - stride) // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class _Frozen(nn.Module):
    """Holds released tensors that no forward pass uses (see the module docstring)."""


def _torchlibrosa_tensors(n_fft: int, mel: MelConfig) -> tuple[Tensor, Tensor, Tensor]:
    """The tensors torchlibrosa stores.

    Returns windowed DFT rows (real, imag), each (n_fft/2+1, 1, n_fft), and melW (n_fft/2+1, n_mels).
    """
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft
    real = (torch.cos(angle) * window).float().unsqueeze(1)
    imag = (-torch.sin(angle) * window).float().unsqueeze(1)
    return real, imag, mel_filterbank(mel).T.contiguous()


class HTSATSwin(nn.Module):
    """OPERA-CT's HTS-AT, parameter names as in ``HTSAT_Swin_Transformer``.

    Parameters
    ----------
    spec_size : int
        Side of the folded square image (256).
    mel_bins : int
        Mel bins of the input (64); ``freq_ratio = spec_size // mel_bins``.
    patch, stride : int
        Patch side and stride (4, 4).
    embed_dim : int
        Stage-1 width (96); stage i has ``embed_dim · 2^i``.
    depths, num_heads : tuple of int
        Blocks and heads per stage ([2, 2, 6, 2], [4, 8, 16, 32]).
    window : int
        Attention window side (8).
    mlp_ratio : float
    drop_path_rate : float
        Stochastic depth, linearly increasing to this rate over the blocks (0.1).
    num_classes : int
        Size of the unused AudioSet head (527).
    """

    def __init__(self, *, spec_size: int = 256, mel_bins: int = 64, patch: int = 4, stride: int = 4,
                 embed_dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
                 num_heads: tuple[int, ...] = (4, 8, 16, 32), window: int = 8, mlp_ratio: float = 4.0,
                 drop_path_rate: float = 0.1, num_classes: int = 527) -> None:
        super().__init__()
        self.spec_size, self.mel_bins = spec_size, mel_bins
        self.freq_ratio = spec_size // mel_bins
        self.frames = spec_size * self.freq_ratio
        n_fft = 1024
        # The HTS-AT audio front-end of the release (32 kHz, 64 mels, 50-14000 Hz), never called by OPERA.
        real, imag, mel_w = _torchlibrosa_tensors(n_fft, MelConfig(32000, n_fft, 320, mel_bins, 50.0, 14000.0))
        self.spectrogram_extractor = _Frozen()
        self.spectrogram_extractor.stft = _Frozen()
        self.spectrogram_extractor.stft.conv_real = nn.Conv1d(1, n_fft // 2 + 1, n_fft, stride=320, bias=False)
        self.spectrogram_extractor.stft.conv_imag = nn.Conv1d(1, n_fft // 2 + 1, n_fft, stride=320, bias=False)
        self.logmel_extractor = _Frozen()
        self.logmel_extractor.melW = nn.Parameter(mel_w, requires_grad=False)
        self.bn0 = nn.BatchNorm2d(mel_bins)
        self.patch_embed = PatchEmbed(spec_size, patch, stride, embed_dim)
        grid = self.patch_embed.grid
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(depths, num_heads, strict=True)):
            start = sum(depths[:i])
            self.layers.append(BasicLayer(embed_dim * 2 ** i, (grid[0] // 2 ** i, grid[1] // 2 ** i), depth, heads,
                                          window, mlp_ratio, rates[start:start + depth], i < len(depths) - 1))
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.num_features)
        sf = spec_size // 2 ** (len(depths) - 1) // stride // self.freq_ratio
        self.tscam_conv = nn.Conv2d(self.num_features, num_classes, kernel_size=(sf, 3), padding=(0, 1))
        self.head = nn.Linear(num_classes, num_classes)
        self.apply(_init_weights)
        with torch.no_grad():
            self.spectrogram_extractor.stft.conv_real.weight.copy_(real)
            self.spectrogram_extractor.stft.conv_imag.weight.copy_(imag)
        for p in (*self.spectrogram_extractor.parameters(), *self.logmel_extractor.parameters()):
            p.requires_grad_(False)

    def fold(self, x: Tensor) -> Tensor:
        """(B, frames, mel_bins) → (B, 1, spec_size, spec_size): time segments stacked along frequency."""
        b = x.shape[0]
        x = x.transpose(1, 2).reshape(b, self.mel_bins, self.freq_ratio, self.frames // self.freq_ratio)
        return x.permute(0, 2, 1, 3).reshape(b, 1, self.freq_ratio * self.mel_bins, -1)

    def forward(self, x: Tensor) -> Tensor:
        """Log-mel crops (B, 1024, 64) → final tokens (B, 64, 768) after ``norm``.

        Their mean over tokens is OPERA's ``latent_output``.
        """
        if x.dim() != 3 or tuple(x.shape[1:]) != (self.frames, self.mel_bins):
            raise ValueError(f"HTS-AT expects (B, {self.frames}, {self.mel_bins}) inputs, got {tuple(x.shape)}")
        x = self.bn0(x.unsqueeze(1).transpose(1, 3)).transpose(1, 3).squeeze(1)
        x = self.patch_embed(self.fold(x))
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


def _init_weights(m: nn.Module) -> None:
    """HTS-AT's initialisation: truncated-normal (std 0.02) Linear weights, zero bias, unit LayerNorm."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def stretch(mel: Tensor, frames: int) -> Tensor:
    """Bicubic time-stretch (align_corners) of (B, T, F) log-mels to (B, frames, F), as ``reshape_wav2img``.

    Clips already ``frames`` long are returned unchanged (the reference skips interpolation then).
    """
    if mel.shape[1] == frames:
        return mel
    return F.interpolate(mel.unsqueeze(1), size=(frames, mel.shape[2]), mode="bicubic", align_corners=True).squeeze(1)
