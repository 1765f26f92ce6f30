"""AudioMAE's released MAE decoder: layout, windowing, loss, seeding, checkpoints, fallback.

The expected key layout and loss are written out here from the rules of the
official repository (``models_mae.py``, ``timm_patch/swin_transformer.py``,
``submit_pretrain_audioset2M.sh``), not taken from the module under test.
"""

from __future__ import annotations

import math

import pytest
import torch

from acubench.checkpoints import CheckpointError
from acubench.encoders import _audiomae_decoder as dec
from acubench.loading import load_encoder

SR = 16000


def _release_decoder_shapes(embed_dim: int, dim: int, depth: int, heads: int) -> dict[str, tuple[int, ...]]:
    """Every decoder key of the AudioSet-2M release and its shape, from the repository's rules."""
    shapes = {"decoder_embed.weight": (dim, embed_dim), "decoder_embed.bias": (dim,), "mask_token": (1, 1, dim),
              "decoder_pos_embed": (1, 1 + 64 * 8, dim), "decoder_norm.weight": (dim,), "decoder_norm.bias": (dim,),
              "decoder_pred.weight": (16 * 16, dim), "decoder_pred.bias": (16 * 16,)}
    for i in range(depth):
        b = f"decoder_blocks.{i}."
        shapes.update({
            b + "attn.tau": (heads,), b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,),
            b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
            b + "attn.meta_mlp.fc1.weight": (384, 2), b + "attn.meta_mlp.fc1.bias": (384,),
            b + "attn.meta_mlp.fc2.weight": (heads, 384), b + "attn.meta_mlp.fc2.bias": (heads,),
            b + "norm1.weight": (dim,), b + "norm1.bias": (dim,), b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
            b + "mlp.fc1.weight": (4 * dim, dim), b + "mlp.fc1.bias": (4 * dim,),
            b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,),
        })
    return shapes


def _waves(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [0.1 * torch.randn(n, generator=gen) for n in (11 * SR, 4 * SR)]


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("audiomae", config="tiny", random_init="always")


def _release_file(encoder, path, *, decoder: bool = True, drop: str | None = None,
                  reshape: str | None = None):
    """A release-layout ``{"model": ...}`` file from ``encoder``: encoder keys with ``norm`` (no
    ``fc_norm``), the decoder's keys perturbed; optionally without the decoder, one key dropped or mis-shaped."""
    gen = torch.Generator().manual_seed(7)
    state = {k: v.clone() for k, v in encoder.model.state_dict().items() if not k.startswith("fc_norm.")}
    state.update({"norm.weight": encoder.model.fc_norm.weight.detach().clone(),
                  "norm.bias": encoder.model.fc_norm.bias.detach().clone()})
    if decoder:
        state.update({k: v + 0.05 * torch.randn(v.shape, generator=gen)
                      for k, v in encoder.decoder.state_dict().items()})
    if drop:
        del state[drop]
    if reshape:
        state[reshape] = torch.zeros(*state[reshape].shape[:-1], state[reshape].shape[-1] + 1)
    torch.save({"model": state, "epoch": 32}, path)
    return state


def test_full_size_decoder_has_the_released_layout():
    sizes = dec.DECODER_SIZES["default"]
    assert sizes == {"dim": 512, "depth": 16, "heads": 16} and dec.DECODER_SIZES["reference"] == sizes
    assert (dec.MASK_RATIO, dec.NORM_PIX_LOSS) == (0.8, True)
    decoder = dec.AudioMAEDecoder(768, **sizes, token_grid=(64, 8), patch=16)
    got = {k: tuple(v.shape) for k, v in decoder.state_dict().items()}
    assert got == _release_decoder_shapes(768, 512, 16, 16)
    assert sum(p.numel() for p in decoder.parameters()) == 51_344_640
    for i, block in enumerate(decoder.decoder_blocks):
        assert block.feat_size == (64, 8) and block.window_size == (4, 4)
        assert block.shift_size == ((0, 0) if i % 2 == 0 else (2, 0))
        assert (block.attn_mask is None) == (i % 2 == 0)
    assert decoder.decoder_blocks[1].attn_mask.shape == (16 * 2, 16, 16)
    assert not decoder.decoder_pos_embed.requires_grad


def test_decoder_position_table_is_built_on_the_release_grid():
    """``get_2d_sincos_pos_embed_flexible`` on ``patch_hw`` = (W/p, H/p) = (8, 64): the first half
    of the channels encodes token index mod 64, the second half index div 64."""
    table = dec.AudioMAEDecoder(32, 16, 2, 2, token_grid=(64, 8), patch=16).decoder_pos_embed[0]
    assert table.shape == (513, 16) and torch.all(table[0] == 0)
    one, sixty_four = table[1 + 1], table[1 + 64]
    assert one[0].item() == pytest.approx(math.sin(1.0), abs=1e-6) and one[8].item() == pytest.approx(0.0, abs=1e-6)
    assert sixty_four[0].item() == pytest.approx(0.0, abs=1e-6)
    assert sixty_four[8].item() == pytest.approx(math.sin(1.0), abs=1e-6)
    assert sixty_four[9].item() == pytest.approx(math.sin(10000 ** -0.25), abs=1e-6)


def test_shifted_windows_equal_a_per_window_loop():
    """The block windows the 512 tokens as a (64, 8) map: rolled 2 rows up, cut into 4 × 4 windows,
    attention inside each window, tokens that came from different regions kept apart."""
    torch.manual_seed(0)
    block = dec.AudioMAEDecoder(32, 16, 2, 2, token_grid=(64, 8), patch=16).decoder_blocks[1].eval()
    x = torch.randn(2, 512, 16)
    # The release's region labels: rows [0, 60), [60, 62), [62, 64) of the rolled map; with no
    # column shift its third column slice covers every column, so regions depend on rows only.
    region = torch.zeros(64, 8)
    region[60:62], region[62:] = 1, 2
    grid = torch.roll(x.view(2, 64, 8, 16), shifts=-2, dims=1)
    out = torch.empty_like(grid)
    with torch.no_grad():
        for r in range(0, 64, 4):
            for c in range(0, 8, 4):
                window = grid[:, r:r + 4, c:c + 4].reshape(2, 16, 16)
                labels = region[r:r + 4, c:c + 4].reshape(16)
                mask = torch.where(labels[:, None] == labels[None, :], 0.0, -100.0)
                out[:, r:r + 4, c:c + 4] = block.attn(window, mask[None]).view(2, 4, 4, 16)
        expected = torch.roll(out, shifts=2, dims=1).reshape(2, 512, 16)
        torch.testing.assert_close(block._window_attention(x), expected, atol=1e-5, rtol=1e-5)


def test_tiny_decoder_trains_encoder_and_decoder(tiny):
    assert tiny.has_ssl_loss and tiny.decoder is not None and tiny.ssl_loss_notice is None
    x = tiny.featurize(_waves())
    tiny.zero_grad()
    loss = tiny.ssl_loss(x, generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = {n: p.grad for n, p in tiny.named_parameters() if p.requires_grad}
    for name in ("model.blocks.0.attn.qkv.weight", "model.fc_norm.weight", "decoder.decoder_blocks.1.attn.tau",
                 "decoder.decoder_embed.weight", "decoder.mask_token", "decoder.decoder_pred.weight"):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    tiny.zero_grad()


def test_loss_counts_hidden_patches_only_against_per_patch_normalised_targets(tiny, monkeypatch):
    """AudioMAE's ``forward_loss`` with ``norm_pix_loss``, written out: 16 × 16 patches in token
    order, each standardised by its own mean and unbiased variance, MSE averaged over hidden patches."""
    x = tiny.featurize(_waves())
    noise = torch.rand(2, 512, generator=torch.Generator().manual_seed(3))
    seen = {}
    real = tiny.decoder.forward_decoder

    def spy(latent, ids_restore):
        seen["latent"], seen["pred"] = latent, real(latent, ids_restore)
        return seen["pred"]

    monkeypatch.setattr(tiny.decoder, "forward_decoder", spy)
    with torch.no_grad():
        loss = tiny.decoder.loss(tiny.model, x, noise=noise)
    assert seen["latent"].shape == (2, 1 + 102, 32)  # int(512 · 0.2) visible tokens + the class token
    pred = seen["pred"]
    patches = x.reshape(2, 64, 16, 8, 16).permute(0, 1, 3, 2, 4).reshape(2, 512, 256)
    hidden = torch.ones(2, 512, dtype=torch.bool)
    hidden.scatter_(1, noise.argsort(dim=1)[:, :102], False)
    target = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True, unbiased=True) + 1e-6) ** 0.5
    per_patch = ((pred - target) ** 2).mean(-1)
    torch.testing.assert_close(loss, per_patch[hidden].mean())
    assert int(hidden.sum()) == 2 * 410
    assert not torch.isclose(loss, per_patch.mean())  # the visible patches would change it
    raw = ((pred - patches) ** 2).mean(-1)[hidden].mean()
    assert not torch.isclose(loss, raw)  # and so would un-normalised targets


def test_masking_is_seeded(tiny):
    x = tiny.featurize(_waves())
    tiny.eval()  # the position-bias MLP's dropout draws from the global RNG in training mode
    with torch.no_grad():
        a = tiny.ssl_loss(x, generator=torch.Generator().manual_seed(5))
        b = tiny.ssl_loss(x, generator=torch.Generator().manual_seed(5))
        c = tiny.ssl_loss(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_release_layout_checkpoint_loads_the_decoder_strictly(tiny, tmp_path):
    path = tmp_path / "pretrained.pth"
    state = _release_file(tiny, path)
    assert set(_release_decoder_shapes(32, 16, 2, 2)) <= set(state)
    enc = load_encoder("audiomae", config="tiny", weights=path)
    assert enc.has_ssl_loss and enc.ssl_loss_notice is None
    for key, value in enc.decoder.state_dict().items():
        assert torch.equal(value, state[key]), key
    # The decoder leaves the embeddings alone: the same file without it embeds identically.
    bare = tmp_path / "bare.pth"
    _release_file(tiny, bare, decoder=False)
    waves = _waves()
    torch.testing.assert_close(load_encoder("audiomae", config="tiny", weights=bare).embed(waves), enc.embed(waves),
                               rtol=0, atol=0)
    # Exported (e.g. aligned) weights keep the decoder and load back to the same loss.
    again_path = tmp_path / "exported.pt"
    torch.save(enc.export_state_dict(), again_path)
    again = load_encoder("audiomae", config="tiny", weights=again_path)
    x = enc.featurize(waves)
    with torch.no_grad():
        torch.testing.assert_close(again.ssl_loss(x, generator=torch.Generator().manual_seed(1)),
                                   enc.ssl_loss(x, generator=torch.Generator().manual_seed(1)))


def test_a_decoder_that_does_not_fit_is_reported(tiny, tmp_path):
    _release_file(tiny, tmp_path / "missing.pth", drop="decoder_blocks.1.attn.tau")
    with pytest.raises(CheckpointError, match=r"MAE decoder.*missing key.*decoder_blocks\.1\.attn\.tau.*generic"):
        load_encoder("audiomae", config="tiny", weights=tmp_path / "missing.pth")
    _release_file(tiny, tmp_path / "shape.pth", reshape="decoder_pred.weight")
    with pytest.raises(CheckpointError, match=r"decoder_pred\.weight: checkpoint \(256, 17\) vs model \(256, 16\)"):
        load_encoder("audiomae", config="tiny", weights=tmp_path / "shape.pth")


def test_a_checkpoint_without_decoder_falls_back_with_a_notice(tiny, tmp_path):
    """A fine-tuned AudioMAE (``fc_norm`` and a classifier ``head``, no decoder) has no ssl loss of its own."""
    path = tmp_path / "finetuned.pth"
    state = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    state.update({"head.weight": torch.zeros(527, 32), "head.bias": torch.zeros(527)})
    torch.save({"model": state}, path)
    enc = load_encoder("audiomae", config="tiny", weights=path)
    assert enc.decoder is None and not enc.has_ssl_loss and enc.ssl_loss(enc.featurize(_waves())) is None
    assert str(path) in enc.ssl_loss_notice and "generic masked-frame head" in enc.ssl_loss_notice
    assert "decoder" not in " ".join(enc.export_state_dict())
    assert type(tiny).has_ssl_loss  # the class still declares it; the instance turned it off


def test_the_reference_preset_says_its_decoder_lacks_the_final_norm(tmp_path, tiny):
    path = tmp_path / "pretrained.pth"
    _release_file(tiny, path)
    enc = load_encoder("audiomae", config={"name": "tiny", "normalize": False, "fc_norm": "identity"}, weights=path)
    assert enc.has_ssl_loss and "fresh identity LayerNorm" in enc.ssl_loss_notice and str(path) in enc.ssl_loss_notice
    assert load_encoder("audiomae", config="tiny", weights=path).ssl_loss_notice is None
