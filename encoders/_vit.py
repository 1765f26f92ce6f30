"""Vision-Transformer building blocks with timm's module and parameter names.

Released MAE-family checkpoints (AudioMAE, OPERA-GT) were trained with timm
0.3/0.4 ``Block``s, so their keys read ``blocks.3.attn.qkv.weight``. These
modules reproduce that key layout and timm's arithmetic (pre-norm blocks,
fused ``qkv`` with bias, exact-erf GELU, LayerNorm eps from the caller)
without depending on timm. Attention runs through
``torch.nn.functional.scaled_dot_product_attention``, which equals timm's
explicit softmax(QKᵀ/√d)V to float rounding. Stochastic depth and dropout
are left out: they are identity at inference and AcuLa post-training does
not use them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class PatchEmbed(nn.Module):
    """Non-overlapping patches → tokens: ``proj`` = Conv2d(in_chans, dim, patch, stride=patch).

    Input (B, C, H, W) → output (B, (H/p)·(W/p), dim), row-major over (H, W).
    """

    def __init__(self, patch_size: tuple[int, int], in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with timm's ``qkv``/``proj`` layout."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding dim {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """``fc1`` → GELU → ``fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def sincos_pos_embed_2d(dim: int, grid: tuple[int, int], *, cls_token: bool = True) -> Tensor:
    """The fixed 2-D sine-cosine position table of MAE (``get_2d_sincos_pos_embed_flexible``).

    Parameters
    ----------
    dim : int
        Embedding size; divisible by 4.
    grid : (int, int)
        Patch grid (rows, columns), i.e. (H/p, W/p) of :class:`PatchEmbed`.
    cls_token : bool
        Prepend an all-zero row for the class token.

    Returns
    -------
    Tensor, shape (1, [1 +] rows·cols, dim), float32
        Row-major over the grid. As in MAE, the first half of the channels
        encodes the column index and the second half the row index, each as
        [sin | cos] over frequencies 10000^(-k/(dim/4)).
    """
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs dim divisible by 4, got {dim}")
    rows, cols = grid
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    col = torch.arange(cols, dtype=torch.float64).repeat(rows)
    row = torch.arange(rows, dtype=torch.float64).repeat_interleave(cols)

    def encode(pos: Tensor) -> Tensor:
        angles = pos[:, None] * omega[None, :]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    table = torch.cat([encode(col), encode(row)], dim=1)
    if cls_token:
        table = torch.cat([torch.zeros(1, dim, dtype=torch.float64), table], dim=0)
    return table.float().unsqueeze(0)


def init_vit_weights(module: nn.Module) -> None:
    """MAE's initialisation: xavier-uniform Linear (bias 0), unit LayerNorm, patch conv as a Linear."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, PatchEmbed):
            w = m.proj.weight
            bound = math.sqrt(6.0 / (w.shape[0] + w[0].numel()))
            nn.init.uniform_(w, -bound, bound)
            nn.init.zeros_(m.proj.bias)
