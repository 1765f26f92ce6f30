"""OPERA-GT's masked autoencoder (a ViT-small encoder and a Swin-block decoder), and the MAE
pieces AudioMAE's decoder shares with it (:mod:`acubench.encoders._audiomae_decoder`).

Reproduces ``MaskedAutoencoderViTMD`` as OPERA built it (``mae_vit_small`` with
``audio_exp=True``, ``img_size=(256, 64)``, ``decoder_mode=1``) with its exact
parameter names, so the released ``encoder-operaGT.ckpt`` and AcuLa's
``audio_model_state_dict`` load key for key.

Encoder
    ``patch_embed.proj`` Conv2d(1, 384, 4, stride 4) on the (B, 1, T, 64)
    log-mel, 1024 patch tokens for T = 256 (time-major: token ``n`` is time
    patch ``n // 16``, frequency patch ``n % 16``); a fixed sine-cosine
    ``pos_embed`` (1, 1025, 384) and a ``cls_token``; 12 timm-style pre-norm
    blocks (6 heads, LayerNorm eps 1e-6); ``norm``.

Decoder (pre-training and AcuLa's masked-reconstruction loss only)
    ``decoder_embed`` 384 → 256, ``mask_token``, fixed ``decoder_pos_embed``,
    16 :class:`SwinDecoderBlock` (16 heads, window (4, 4), shift (0, 0) and
    (2, 0) alternating, ``feat_size`` (32, 8)), ``decoder_norm``,
    ``decoder_pred`` 256 → 16 (one 4 × 4 patch).

Two facts about the release matter for anyone re-using it:

* Its position table was built on the grid (16, 64) — ``PatchEmbed_org``
  reports ``patch_hw`` as (W/p, H/p) — although the tokens lie on a (64, 16)
  grid. The table is stored in the checkpoints, so loaded weights carry it;
  random initialisation here builds the same table.
* Its decoder blocks reinterpret the (B, L, C) token matrix as a
  (B, 32, 8, L) array before windowing (OPERA copies a modified timm
  ``swin_transformer.py`` over timm's own, ``prepare_code.sh``). The decoder
  was trained with that arithmetic, so it is reproduced exactly; it needs
  ``decoder_dim == feat_size[0] * feat_size[1]`` and a token count divisible
  by ``decoder_dim``. AudioMAE's decoder (``timm_patch/swin_transformer.py``
  of the AudioMAE repository) windows the tokens themselves: L = H · W
  tokens read as a (B, H, W, C) map. :class:`SwinDecoderBlock` does both:
  it reads (B, L, C) as (B, H, W, L · C / (H · W)), which is the one when
  H · W = C and the other when H · W = L.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from acubench.encoders._htsat import shifted_window_mask
from acubench.encoders._vit import Block, Mlp, PatchEmbed, init_vit_weights, sincos_pos_embed_2d


class MetaMlp(nn.Module):
    """``fc1`` → ReLU → dropout → ``fc2`` → dropout: maps relative coordinates to per-head biases.

    The dropout (0.1 in the release) is part of the trained model: active in
    training mode, as in the reference.
    """

    def __init__(self, hidden: int, out: int, drop: float = 0.1) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, hidden)
        self.fc2 = nn.Linear(hidden, out)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(F.relu(self.fc1(x)))))


class WindowCosineAttention(nn.Module):
    """Window attention of Swin-V2 (timm ``swin_transformer_v2_cr``): scaled cosine
    similarity divided by a learnt per-head temperature ``tau`` (clamped at 0.01),
    plus a continuous relative-position bias from a small MLP over
    log-spaced coordinates.

    Parameters
    ----------
    dim : int
        Channels C.
    num_heads : int
    window_size : (int, int)
        Window (rows, columns); attention runs over its ``rows · cols`` positions.
    meta_hidden : int
        Width of the position-bias MLP (384 in the release).
    """

    def __init__(self, dim: int, num_heads: int, window_size: tuple[int, int], meta_hidden: int = 384) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"decoder dim {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.meta_mlp = MetaMlp(meta_hidden, num_heads)
        self.tau = nn.Parameter(torch.ones(num_heads))
        rows, cols = window_size
        coords = torch.stack(torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).reshape(-1, 2).float()
        self.register_buffer("relative_coordinates_log", torch.sign(rel) * torch.log1p(rel.abs()), persistent=False)
        self.window_area = rows * cols

    def position_bias(self) -> Tensor:
        """(1, heads, A, A) additive bias, A = window area."""
        bias = self.meta_mlp(self.relative_coordinates_log).transpose(0, 1)
        return bias.reshape(1, self.num_heads, self.window_area, self.window_area)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """``x`` (Bw, A, C) windows → (Bw, A, C). ``mask`` (nW, A, A) repeats over consecutive groups of nW windows."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        denom = q.norm(dim=-1, keepdim=True) @ k.norm(dim=-1, keepdim=True).transpose(-2, -1)
        attn = (q @ k.transpose(-2, -1)) / denom.clamp(min=1e-6)
        attn = attn / self.tau.clamp(min=0.01).reshape(1, -1, 1, 1) + self.position_bias()
        if mask is not None:
            n_win = mask.shape[0]
            attn = attn.view(bw // n_win, n_win, self.num_heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.num_heads, n, n)
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(bw, n, c)
        return self.proj(out)


class SwinDecoderBlock(nn.Module):
    """One block of the released OPERA-GT decoder (post-norm Swin-V2 block).

    ``x + norm1(window_attention(x))``, then ``x + norm2(mlp(x))``. Keys:
    ``attn.{qkv,proj,tau,meta_mlp.fc1,meta_mlp.fc2}``, ``norm1``, ``mlp.{fc1,fc2}``, ``norm2``.

    Parameters
    ----------
    dim : int
        Channels C.
    num_heads : int
    feat_size : (int, int)
        The (H, W) grid the block windows over: H · W equals the token count
        (AudioMAE) or ``dim`` (OPERA-GT's release; see the module docstring).
    window_size, shift_size : (int, int)
        Target window and cyclic shift; a side no longer than the feature map
        gets a window of the whole side and no shift (as in the release).
    mlp_ratio : float
    """

    def __init__(self, dim: int, num_heads: int, feat_size: tuple[int, int], window_size: tuple[int, int],
                 shift_size: tuple[int, int], mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.feat_size = feat_size
        self.window_size = tuple(min(f, w) for f, w in zip(feat_size, window_size, strict=True))
        self.shift_size = tuple(0 if f <= w else s for f, w, s in zip(feat_size, window_size, shift_size, strict=True))
        if any(f % w for f, w in zip(feat_size, self.window_size, strict=True)):
            raise ValueError(f"feat_size {feat_size} is not a multiple of the window {self.window_size}")
        self.attn = WindowCosineAttention(dim, num_heads, self.window_size)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        mask = shifted_window_mask(feat_size, self.window_size, self.shift_size) if any(self.shift_size) else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def _window_attention(self, x: Tensor) -> Tensor:
        """The released arithmetic: (B, L, C) read as a (B, H, W, L·C/(H·W)) map, rolled,
        windowed; the windows' memory read as (·, A, C) token groups; the
        result read back as (·, H, W, C), rolled back, and viewed as (B, L, C).

        With H · W = L this is Swin's own windowing of an H × W token map
        (AudioMAE); with H · W = C it is OPERA-GT's reinterpretation."""
        b, n, c = x.shape
        (h, w), (wh, ww), (sh, sw) = self.feat_size, self.window_size, self.shift_size
        if h * w == c and n % c:
            raise ValueError(f"the OPERA-GT decoder needs a token count divisible by {c}, got {n} "
                             f"(full size: 64-bin inputs of a multiple of 64 frames, e.g. 256)")
        if h * w not in (n, c):
            raise ValueError(f"the Swin decoder windows a {h}×{w} token map, got {n} tokens")
        depth = n * c // (h * w)
        grid = x.reshape(b, h, w, depth)
        if sh or sw:
            grid = torch.roll(grid, shifts=(-sh, -sw), dims=(1, 2))
        windows = grid.view(b, h // wh, wh, w // ww, ww, depth).permute(0, 1, 3, 2, 4, 5).reshape(-1, wh * ww, c)
        out = self.attn(windows, self.attn_mask)
        out = out.reshape(-1, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)
        if sh or sw:
            out = torch.roll(out, shifts=(sh, sw), dims=(1, 2))
        return out.reshape(b, n, c)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.norm1(self._window_attention(x))
        return x + self.norm2(self.mlp(x))


def random_masking(tokens: Tensor, mask_ratio: float, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """MAE's unstructured random masking (``random_masking`` of MAE and AudioMAE).

    Parameters
    ----------
    tokens : Tensor (B, N, D)
    mask_ratio : float
        Fraction of tokens hidden; ``int(N · (1 − ratio))`` are kept.
    noise : Tensor (B, N)
        Uniform scores; the lowest are kept (as ``torch.rand`` in the reference).

    Returns
    -------
    kept : Tensor (B, kept, D), in the order of ``noise``
    mask : Tensor (B, N), 1 where hidden
    ids_restore : LongTensor (B, N), puts ``[kept, hidden]`` back in token order
    """
    b, n, d = tokens.shape
    keep = int(n * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    kept = torch.gather(tokens, 1, ids_shuffle[:, :keep, None].expand(-1, -1, d))
    mask = torch.ones(b, n, device=tokens.device)
    mask[:, :keep] = 0
    return kept, torch.gather(mask, 1, ids_restore), ids_restore


def patchify(x: Tensor, patch: int) -> Tensor:
    """Spectrogram (B, T, F) → (B, N, p²) square patches in token order (time-major), pixels
    row-major within a patch; trailing frames short of a patch are dropped."""
    b, t, f = x.shape
    x = x[:, : t // patch * patch].reshape(b, t // patch, patch, f // patch, patch)
    return x.permute(0, 1, 3, 2, 4).reshape(b, (t // patch) * (f // patch), patch * patch)


def masked_patch_loss(pred: Tensor, target: Tensor, mask: Tensor, *, norm_pix: bool = False) -> Tensor:
    """MAE's ``forward_loss``: mean over hidden patches of the per-patch mean squared error.

    Parameters
    ----------
    pred, target : Tensor (B, N, P)
        Predicted and true patches (:func:`patchify`).
    mask : Tensor (B, N)
        1 where a patch was hidden; visible patches do not count.
    norm_pix : bool
        ``norm_pix_loss``: each target patch is standardised by its own mean and
        (unbiased) variance, ``(x − mean) / sqrt(var + 1e-6)``.
    """
    if norm_pix:
        mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1e-6) ** 0.5
    per_patch = ((pred - target) ** 2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum()


class SwinDecoderMixin:
    """The Swin MAE decoder (``decoder_mode=1``) of OPERA-GT and AudioMAE, keys as released:
    ``decoder_embed``, ``mask_token``, ``decoder_pos_embed``, ``decoder_blocks.i``,
    ``decoder_norm``, ``decoder_pred``. Mixed into an ``nn.Module``, which calls
    :meth:`build_decoder` in its ``__init__``."""

    def build_decoder(self, *, embed_dim: int, decoder_dim: int, depth: int, heads: int, feat_size: tuple[int, int],
                      window_size: tuple[int, int], shift_size: tuple[int, int], mlp_ratio: float, patch_pixels: int,
                      table_grid: tuple[int, int]) -> None:
        """Create the decoder's modules; blocks alternate unshifted and ``shift_size`` windows.

        ``table_grid`` is the (rows, columns) grid of the fixed sine-cosine
        ``decoder_pos_embed`` (1, 1 + rows · cols, ``decoder_dim``).
        """
        self.decoder_embed = nn.Linear(embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos_embed = nn.Parameter(sincos_pos_embed_2d(decoder_dim, table_grid), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            SwinDecoderBlock(decoder_dim, heads, feat_size, window_size, (0, 0) if i % 2 == 0 else shift_size,
                             mlp_ratio)
            for i in range(depth)
        ])
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_dim, patch_pixels)

    def forward_decoder(self, latent: Tensor, ids_restore: Tensor) -> Tensor:
        """Kept tokens (B, 1 + kept, D), class token first → predicted patches (B, N, P) for every position."""
        h = self.decoder_embed(latent)
        b, n = ids_restore.shape
        fill = self.mask_token.expand(b, n + 1 - h.shape[1], -1)
        seq = torch.cat([h[:, 1:], fill], dim=1)
        seq = torch.gather(seq, 1, ids_restore[..., None].expand(-1, -1, h.shape[2]))
        # The cls slot takes pos[0] and is then dropped: the Swin decoder sees patch tokens only.
        seq = seq + self.decoder_pos_embed[:, 1:n + 1]
        for block in self.decoder_blocks:
            seq = block(seq)
        return self.decoder_pred(self.decoder_norm(seq))


class MaskedAutoencoderViT(SwinDecoderMixin, nn.Module):
    """OPERA-GT's MAE (see the module docstring); parameter names as released.

    Parameters
    ----------
    frames, n_mels : int
        Input size the position tables are built for (256 × 64): at most
        ``frames`` time frames; any multiple of ``patch`` up to it is accepted.
    patch : int
        Square patch side (4).
    embed_dim, depth, num_heads : int
        Encoder width, blocks, heads (384, 12, 6).
    decoder_dim, decoder_depth, decoder_heads : int
        Decoder width, Swin blocks, heads (256, 16, 16).
    feat_size, window_size, shift_size : (int, int)
        Decoder Swin geometry ((32, 8), (4, 4), (2, 0) on odd blocks).
    mlp_ratio : float
    """

    def __init__(self, *, frames: int = 256, n_mels: int = 64, patch: int = 4, embed_dim: int = 384,
                 depth: int = 12, num_heads: int = 6, decoder_dim: int = 256, decoder_depth: int = 16,
                 decoder_heads: int = 16, feat_size: tuple[int, int] = (32, 8),
                 window_size: tuple[int, int] = (4, 4), shift_size: tuple[int, int] = (2, 0),
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.patch = patch
        self.frames, self.n_mels = frames, n_mels
        # The release's grid is (n_mels/p, frames/p), transposed w.r.t. the tokens (module docstring).
        table_grid = (n_mels // patch, frames // patch)
        self.patch_embed = PatchEmbed((patch, patch), 1, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(sincos_pos_embed_2d(embed_dim, table_grid), requires_grad=False)
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio, eps=1e-6) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.build_decoder(embed_dim=embed_dim, decoder_dim=decoder_dim, depth=decoder_depth, heads=decoder_heads,
                           feat_size=feat_size, window_size=window_size, shift_size=shift_size, mlp_ratio=mlp_ratio,
                           patch_pixels=patch * patch, table_grid=table_grid)
        init_vit_weights(self)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)

    # -- encoder -----------------------------------------------------------------------

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[2] != self.n_mels:
            raise ValueError(f"OPERA-GT expects log-mel batches (B, T, {self.n_mels}), got {tuple(x.shape)}")
        if not self.patch <= x.shape[1] <= self.frames:
            raise ValueError(f"OPERA-GT takes {self.patch} to {self.frames} frames per input "
                             f"(8.18 s windows give {self.frames}); got {x.shape[1]}")

    def embed_patches(self, x: Tensor) -> Tensor:
        """Log-mel (B, T, 64) → patch tokens + position (B, N, D), N = (T // 4)·16."""
        self._check_input(x)
        tokens = self.patch_embed(x.unsqueeze(1))
        return tokens + self.pos_embed[:, 1:tokens.shape[1] + 1]

    def _with_cls(self, tokens: Tensor) -> Tensor:
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1)

    def encode(self, x: Tensor) -> Tensor:
        """Log-mel (B, T, 64) → encoder patch tokens (B, N, D) after the blocks, before ``norm``; cls dropped."""
        h = self._with_cls(self.embed_patches(x))
        for block in self.blocks:
            h = block(h)
        return h[:, 1:]

    def forward_feature(self, x: Tensor) -> Tensor:
        """OPERA's ``forward_feature``: mean of patch tokens, then ``norm``: (B, T, 64) → (B, D)."""
        return self.norm(self.encode(x).mean(dim=1))

    # -- masked autoencoding -------------------------------------------------------------

    def patchify(self, x: Tensor) -> Tensor:
        """(B, T, 64) → (B, N, p²) patches in token order, pixels row-major within a patch."""
        return patchify(x, self.patch)

    def forward_encoder_masked(self, x: Tensor, mask_ratio: float, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """:func:`random_masking` of the patch tokens, then the encoder on the kept ones.

        Returns
        -------
        latent : Tensor (B, 1 + kept, D), after ``norm``
        mask : Tensor (B, N), 1 where hidden
        ids_restore : LongTensor (B, N)
        """
        kept, mask, ids_restore = random_masking(self.embed_patches(x), mask_ratio, noise)
        h = self._with_cls(kept)
        for block in self.blocks:
            h = block(h)
        return self.norm(h), mask, ids_restore

    def mae_loss(self, x: Tensor, mask_ratio: float = 0.7, *, generator: torch.Generator | None = None,
                 noise: Tensor | None = None) -> Tensor:
        """Masked-patch reconstruction MSE (``norm_pix_loss=False``), as OPERA/AcuLa train it.

        Parameters
        ----------
        x : Tensor (B, T, 64)
            Min–max-scaled log-mel; T such that the token count (T // 4) · 16 is a
            multiple of the decoder width (full size: T a multiple of 64; 256 for 8.18 s).
        mask_ratio : float
        generator : torch.Generator, optional
            Source of the masking noise (CPU); default the global RNG.
        noise : Tensor (B, N), optional
            Explicit masking scores (overrides ``generator``).

        Returns
        -------
        Tensor, scalar: mean over hidden patches of the per-patch mean squared error.
        """
        b, n = x.shape[0], (x.shape[1] // self.patch) * (x.shape[2] // self.patch)
        if noise is None:
            noise = torch.rand(b, n, generator=generator).to(x.device)
        latent, mask, ids_restore = self.forward_encoder_masked(x, mask_ratio, noise)
        return masked_patch_loss(self.forward_decoder(latent, ids_restore), self.patchify(x), mask)
