"""AudioMAE's released MAE decoder and its reconstruction loss: AudioMAE's ``ssl_loss`` for AcuLa.

Facts from the official repository (``facebookresearch/AudioMAE``) for the
AudioSet-2M ViT-B pre-training whose checkpoint (``pretrained.pth``) acubench
loads:

Run (``submit_pretrain_audioset2M.sh``)
    ``--model mae_vit_base_patch16 --decoder_mode 1 --norm_pix_loss True
    --mask_ratio 0.8``; ``--mask_2d`` is not given, so masking is MAE's
    unstructured per-token ``random_masking`` (``main_pretrain.py`` defaults
    ``mask_2d=False``); inputs are (1024, 128) fbanks (``img_size=(1024, 128)``,
    ``in_chans=1``), 16 × 16 patches → 64 time × 8 frequency = 512 tokens.
Decoder (``models_mae.py``, ``decoder_mode == 1``)
    ``decoder_embed`` Linear(768, 512); ``mask_token`` (1, 1, 512); a fixed
    sine-cosine ``decoder_pos_embed`` (1, 513, 512); **16** Swin blocks of
    **16** heads whatever ``decoder_depth``/``decoder_num_heads`` say, on
    ``feat_size=(64, 8)`` with ``window_size=(4, 4)`` and ``shift_size``
    (0, 0) on even and (2, 0) on odd blocks; ``decoder_norm``;
    ``decoder_pred`` Linear(512, 256). The class token gets its position and
    is dropped before the Swin blocks. The blocks are the repository's
    ``timm_patch/swin_transformer.py`` (copied over timm's own by
    ``timm_patch.sh``): Swin-V2-style post-norm blocks with scaled cosine
    attention, a learnt temperature ``tau`` and a position-bias MLP
    ``meta_mlp`` (2 → 384 → heads, ReLU, dropout 0.1), windowing the 512
    tokens as a (64, 8) map — :class:`~acubench.encoders._mae.SwinDecoderBlock`
    with H · W = L. Keys: ``decoder_blocks.i.attn.{qkv,proj,tau,meta_mlp.fc1,
    meta_mlp.fc2}``, ``decoder_blocks.i.{norm1,mlp.fc1,mlp.fc2,norm2}``
    (as also listed by users loading the release, AudioMAE issue #12).
Position table
    Built by ``get_2d_sincos_pos_embed_flexible`` on ``PatchEmbed_org.patch_hw``
    = (W/p, H/p) = (8, 64), i.e. transposed with respect to the (64, 8) token
    grid, as OPERA-GT's; it is stored in the checkpoint, and random
    initialisation here builds the same table.
Loss (``forward_loss``)
    The target is the input fbank cut into patches; with ``norm_pix_loss``
    each target patch is standardised by its own mean and unbiased variance
    (eps 1e-6); the per-patch mean squared error is averaged over the hidden
    patches only. The encoder's final ``norm`` is applied to the visible
    tokens before ``decoder_embed``.

In acubench the final norm is the encoder's ``fc_norm``: the release's
``norm`` in the default preset, so pooling and masked modelling share it as
in the release. The ``reference`` preset keeps ``fc_norm`` a fresh identity
LayerNorm (OPERA's choice), so there the decoder reads tokens without the
release's final affine; the encoder says so in ``ssl_loss_notice``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import torch
from torch import Tensor, nn

from acubench.encoders._mae import SwinDecoderMixin, masked_patch_loss, patchify, random_masking
from acubench.encoders._vit import init_vit_weights

#: Masking ratio of the AudioSet-2M pre-training (unstructured token masking).
MASK_RATIO = 0.8
#: The release reconstructs per-patch standardised fbank patches.
NORM_PIX_LOSS = True
#: Decoder sizes per encoder preset; ``default``/``reference`` are the release's.
DECODER_SIZES: dict[str, dict[str, int]] = {
    "default": {"dim": 512, "depth": 16, "heads": 16},
    "reference": {"dim": 512, "depth": 16, "heads": 16},
    # Same token grid, windows and shifts (an unshifted and a shifted block), toy widths.
    "tiny": {"dim": 16, "depth": 2, "heads": 2},
}
WINDOW, SHIFT = (4, 4), (2, 0)
#: Key prefixes of the decoder in the release (``mask_token`` is one key).
DECODER_PREFIXES = ("decoder_", "mask_token")


class _Encoder(Protocol):
    """What the loss needs of :class:`~acubench.encoders._audiomae_model.AudioMAEViT`."""

    fc_norm: nn.LayerNorm

    def embed_patches(self, fbank: Tensor) -> Tensor: ...

    def encode(self, tokens: Tensor) -> Tensor: ...


class AudioMAEDecoder(SwinDecoderMixin, nn.Module):
    """AudioMAE's Swin decoder (module docstring); ``state_dict`` keys as in the release.

    Parameters
    ----------
    embed_dim : int
        Width of the encoder tokens (768).
    dim, depth, heads : int
        Decoder width, Swin blocks, heads (512, 16, 16).
    token_grid : (int, int)
        (time, frequency) patches of one input (64, 8).
    patch : int
        Square patch side of the encoder (16).
    """

    def __init__(self, embed_dim: int, dim: int, depth: int, heads: int, *, token_grid: tuple[int, int],
                 patch: int) -> None:
        super().__init__()
        self.patch = patch
        # The release builds its table on patch_hw = (W/p, H/p): the token grid transposed.
        self.build_decoder(embed_dim=embed_dim, decoder_dim=dim, depth=depth, heads=heads, feat_size=token_grid,
                           window_size=WINDOW, shift_size=SHIFT, mlp_ratio=4.0, patch_pixels=patch * patch,
                           table_grid=(token_grid[1], token_grid[0]))
        init_vit_weights(self)
        nn.init.normal_(self.mask_token, std=0.02)

    def loss(self, encoder: _Encoder, fbank: Tensor, *, mask_ratio: float = MASK_RATIO,
             generator: torch.Generator | None = None, noise: Tensor | None = None) -> Tensor:
        """AudioMAE's pre-training loss of ``encoder`` on a batch, differentiable.

        Parameters
        ----------
        encoder : AudioMAEViT
        fbank : Tensor (B, 1024, 128)
            Model inputs as the encoder's front-end makes them.
        mask_ratio : float
            Fraction of the 512 patches hidden (0.8: 102 kept).
        generator : torch.Generator, optional
            Source of the masking noise (CPU); default the global torch RNG.
        noise : Tensor (B, 512), optional
            Explicit masking scores (overrides ``generator``).

        Returns
        -------
        Tensor, scalar
            Mean over hidden patches of the per-patch MSE against the
            per-patch standardised fbank (``norm_pix_loss``).
        """
        tokens = encoder.embed_patches(fbank)
        if noise is None:
            noise = torch.rand(tokens.shape[:2], generator=generator).to(tokens.device)
        kept, mask, ids_restore = random_masking(tokens, mask_ratio, noise)
        latent = encoder.fc_norm(encoder.encode(kept))
        pred = self.forward_decoder(latent, ids_restore)
        return masked_patch_loss(pred, patchify(fbank, self.patch), mask, norm_pix=NORM_PIX_LOSS)


def split_decoder_state(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """A released (or exported) AudioMAE state → (encoder keys, decoder keys)."""
    decoder = {k: v for k, v in state.items() if k.startswith(DECODER_PREFIXES)}
    return {k: v for k, v in state.items() if k not in decoder}, decoder


def no_decoder_notice(source: str) -> str:
    """The one line recorded when a checkpoint brings no decoder (e.g. a fine-tuned AudioMAE)."""
    return (f"{source} has no MAE decoder (no decoder_* / mask_token keys, e.g. a fine-tuned AudioMAE): AcuLa "
            f"uses its generic masked-frame head instead of AudioMAE's own loss")
