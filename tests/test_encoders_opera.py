"""OPERA-GT, -CT and -CE: released checkpoint layouts, loading, preprocessing, the MAE loss.

Checkpoints are written by the tests in the released formats (OPERA's Lightning
``{"state_dict": ...}`` with the COLA head for CE/CT; AcuLa's
``audio_model_state_dict`` and raw state dicts for GT). The expected key sets
are generated from the rules of OPERA's model code (``models_mae.py``, the
Swin file of ``prepare_code.sh``, ``htsat.py``, ``efficientnet_pytorch``), not
from this package's modules. Full-size models are ``slow``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from acubench.audio import iter_windows
from acubench.checkpoints import CheckpointError
from acubench.encoders import _opera_ce_model as opera_ce_model
from acubench.encoders import _opera_ct_model as opera_ct_model
from acubench.encoders import _opera_gt_model as opera_gt_model
from acubench.encoders import opera_ce, opera_ct, opera_gt
from acubench.encoders._opera import GT_WINDOWS, WHOLE_CLIP
from acubench.frontends import opera_logmel
from acubench.loading import load_encoder
from acubench.specs import TaskSpec, resolve_ref
from layouts.opera import ce_released_keys, cola_head, ct_released_keys, gt_released_keys, lightning, perturbed

SR = 16000


def noise(n: int, seed: int, scale: float = 0.1) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed)) * scale


# -- released key layouts, from OPERA's model code -----------------------------------------------


# -- full-size: layouts and loading through load_encoder ------------------------------------------


@pytest.mark.slow
def test_gt_released_layout_and_lightning_checkpoint(tmp_path):
    source = opera_gt_model.build(opera_gt.SPEC, config={}, weights=None, device="cpu", seed=1)
    state = perturbed(source.export_state_dict(), 1)
    assert len(state) == 430 and set(state) == gt_released_keys()
    shapes = {"pos_embed": (1, 1025, 384), "patch_embed.proj.weight": (384, 1, 4, 4),
              "blocks.11.attn.qkv.weight": (1152, 384), "decoder_pos_embed": (1, 1025, 256),
              "decoder_blocks.15.attn.meta_mlp.fc1.weight": (384, 2), "decoder_blocks.15.attn.tau": (16,),
              "decoder_blocks.15.mlp.fc1.weight": (1024, 256), "decoder_pred.weight": (16, 256)}
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    source.model.load_state_dict(state)
    path = tmp_path / "encoder-operaGT.ckpt"
    torch.save(lightning(state), path)
    enc = load_encoder("opera", weights=path)
    assert enc.spec.id == "opera-gt" and enc.weights_info.status == "pretrained"
    windows = [noise(130880, 5), noise(130880, 6, 0.01)]
    emb = enc.embed(windows)
    assert emb.shape == (2, 384)
    with torch.no_grad():
        own = source.model.forward_feature(opera_logmel(torch.stack(windows)))
        torch.testing.assert_close(emb, own, rtol=0, atol=1e-6)
        assert torch.isfinite(enc.ssl_loss(enc.featurize(windows[:1])))
        with pytest.raises(ValueError, match="divisible by 256"):
            enc.ssl_loss(torch.rand(1, 100, 64))  # 400 tokens: the released decoder cannot window them


@pytest.mark.slow
def test_ct_released_layout_and_lightning_checkpoint(tmp_path):
    source = opera_ct_model.build(opera_ct.SPEC, config={}, weights=None, device="cpu", seed=1)
    state = perturbed(source.export_state_dict(), 2)
    assert len(state) == 200 and set(state) == ct_released_keys()
    p = "encoder.encoder.htsat."
    shapes = {p + "layers.3.blocks.1.attn.relative_position_index": (64, 64),
              p + "layers.0.blocks.0.attn.relative_position_bias_table": (225, 4),
              p + "layers.2.blocks.5.attn_mask": (4, 64, 64), p + "layers.2.downsample.reduction.weight": (768, 1536),
              p + "spectrogram_extractor.stft.conv_real.weight": (513, 1, 1024), p + "logmel_extractor.melW": (513, 64),
              p + "tscam_conv.weight": (527, 768, 2, 3), p + "head.weight": (527, 527), p + "bn0.running_var": (64,)}
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    source.load_state_dict(state)
    path = tmp_path / "encoder-operaCT.ckpt"
    torch.save(lightning({**state, **cola_head(768)}), path)
    enc = load_encoder("opera-ct", weights=path)
    clips = [noise(8 * SR, 7), noise(3 * SR, 8)]
    emb = enc.embed(clips)
    assert emb.shape == (2, 768)
    torch.testing.assert_close(emb, source.embed(clips), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_ce_released_layout_and_lightning_checkpoint(tmp_path):
    source = opera_ce_model.build(opera_ce.SPEC, config={}, weights=None, device="cpu", seed=1)
    state = perturbed(source.export_state_dict(), 3)
    assert len(state) == 360 and set(state) == ce_released_keys()
    p = "encoder.efficientnet."
    shapes = {"encoder.cnn1.weight": (3, 1, 3, 3), p + "_conv_stem.weight": (32, 3, 3, 3),
              p + "_blocks.0._depthwise_conv.weight": (32, 1, 3, 3), p + "_blocks.1._se_reduce.weight": (4, 96, 1, 1),
              p + "_blocks.15._project_conv.weight": (320, 1152, 1, 1), p + "_conv_head.weight": (1280, 320, 1, 1)}
    assert {k: tuple(state[k].shape) for k in shapes} == shapes
    source.load_state_dict(state)
    path = tmp_path / "encoder-operaCE.ckpt"
    torch.save(lightning({**state, **cola_head(1280)}), path)
    enc = load_encoder("opera-ce", weights=path)
    clips = [noise(8 * SR, 9), noise(2 * SR, 10)]
    emb = enc.embed(clips)
    assert emb.shape == (2, 1280)
    torch.testing.assert_close(emb, source.embed(clips), rtol=0, atol=1e-6)


# -- tiny configs: checkpoint formats and errors -----------------------------------------------------


def tiny(module, seed: int = 0):
    """The tiny config of a declared encoder, built through its spec's factory."""
    return resolve_ref(module.SPEC.factory)(module.SPEC, config={"name": "tiny"}, weights=None, device="cpu", seed=seed)


@pytest.mark.parametrize("fmt", ["lightning", "acula", "acula-encoder"])
def test_gt_checkpoint_formats_reload(tmp_path, fmt):
    source = tiny(opera_gt, seed=1)
    state = perturbed(source.export_state_dict(), 4)
    source.model.load_state_dict(state)
    if fmt == "lightning":
        obj = lightning(state)
    elif fmt == "acula":  # acula_epoch_<n>.pt / acula_final.pt
        obj = {"epoch": 50, "audio_model_state_dict": state,
               "audio_projection_mlp_state_dict": {"layers.0.weight": torch.zeros(1024, 384)},
               "language_projection_mlp_state_dict": {"layers.0.weight": torch.zeros(1024, 2048)},
               "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 1e-5, "params": [0, 1]}]},
               "scheduler_state_dict": {"last_epoch": 50}}
    else:  # acula_audio_encoder.pt: the raw audio_model.state_dict()
        obj = state
    path = tmp_path / f"{fmt}.pt"
    torch.save(obj, path)
    enc = load_encoder("opera-gt", weights=path, config="tiny")
    windows = [noise(130880, 11), noise(130880, 12)]
    torch.testing.assert_close(enc.embed(windows), source.embed(windows), rtol=0, atol=1e-6)
    assert enc.fingerprint() != source.fingerprint()  # pretrained vs random-init


@pytest.mark.parametrize("module, dim", [(opera_ct, 64), (opera_ce, 32)])
def test_ct_ce_tiny_reload_ignores_cola_head(tmp_path, module, dim):
    source = tiny(module, seed=1)
    state = perturbed(source.export_state_dict(), 5)
    source.load_state_dict(state)
    path = tmp_path / "tiny.ckpt"
    torch.save(lightning({**state, **cola_head(dim)}), path)
    enc = load_encoder(module.SPEC.id, weights=path, config="tiny")
    assert enc.embed_dim == dim
    clips = [noise(8 * SR, 13), noise(2 * SR, 14)]
    torch.testing.assert_close(enc.embed(clips), source.embed(clips), rtol=0, atol=1e-6)


def test_missing_key_names_the_layer(tmp_path):
    state = tiny(opera_gt).export_state_dict()
    del state["blocks.1.attn.proj.weight"]
    torch.save({"state_dict": state}, tmp_path / "gt.ckpt")
    with pytest.raises(CheckpointError, match=r"gt\.ckpt.*missing.*blocks\.1\.attn\.proj\.weight"):
        load_encoder("opera-gt", weights=tmp_path / "gt.ckpt", config="tiny")


def test_wrong_shape_names_the_layer(tmp_path):
    state = tiny(opera_ct).export_state_dict()
    state["encoder.encoder.htsat.layers.1.blocks.0.mlp.fc1.weight"] = torch.zeros(3, 3)
    torch.save({"state_dict": state}, tmp_path / "ct.ckpt")
    with pytest.raises(CheckpointError, match=r"shape mismatch.*layers\.1\.blocks\.0\.mlp\.fc1\.weight"):
        load_encoder("opera-ct", weights=tmp_path / "ct.ckpt", config="tiny")


def test_unexpected_key_is_an_error_unless_non_strict(tmp_path):
    state = tiny(opera_ce).export_state_dict()
    state["encoder.extra.weight"] = torch.zeros(2)
    torch.save({"state_dict": state}, tmp_path / "ce.ckpt")
    with pytest.raises(CheckpointError, match=r"unexpected.*encoder\.extra\.weight"):
        load_encoder("opera-ce", weights=tmp_path / "ce.ckpt", config="tiny")
    assert load_encoder("opera-ce", weights=tmp_path / "ce.ckpt", config="tiny", strict=False).embed_dim == 32


class Pickled:
    """A plain Python object in a checkpoint: needs full unpickling."""

    def __init__(self) -> None:
        self.note = "not a tensor"


def test_non_tensor_pickle_refused_without_trust(tmp_path):
    state = tiny(opera_gt).export_state_dict()
    torch.save({"state_dict": state, "extra": Pickled()}, tmp_path / "unsafe.ckpt")
    with pytest.raises(CheckpointError, match="trust-checkpoint"):
        load_encoder("opera-gt", weights=tmp_path / "unsafe.ckpt", config="tiny")
    enc = load_encoder("opera-gt", weights=tmp_path / "unsafe.ckpt", config="tiny", trust_checkpoint=True)
    assert enc.weights_info.status == "pretrained"


# -- preprocessing -------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, n_windows", [(5.0, 1), (8.18, 1), (12.0, 2), (20.0, 4), (30.0, 7)])
def test_gt_window_count(seconds, n_windows):
    # 8.18 s = 130880 samples, hop 65440; full windows 1 + (n − 130880) // 65440, plus the padded tail.
    wave = noise(int(seconds * SR), 15).numpy()
    windows = list(iter_windows(wave, SR, opera_gt.SPEC.clip))
    assert opera_gt.SPEC.clip == GT_WINDOWS
    assert len(windows) == n_windows and all(len(w) == 130880 for w in windows)
    assert opera_logmel(torch.from_numpy(windows[-1])).shape == (256, 64)


def test_whole_clip_repeat_padding():
    # A 3 s clip padded to 8 s: the clip sits at the end, the front is the tail of the clip doubled.
    clip = np.arange(1, 48001, dtype=np.float32) / 48000
    out = next(iter_windows(clip, SR, replace(WHOLE_CLIP, trim_silence=False)))
    assert len(out) == 128000
    np.testing.assert_array_equal(out[80000:], clip)
    np.testing.assert_array_equal(out[:32000], clip[16000:])
    np.testing.assert_array_equal(out[32000:80000], clip)
    assert opera_ct.SPEC.clip == opera_ce.SPEC.clip == WHOLE_CLIP
    two_seconds = TaskSpec(id="t", name="t", dataset="d", loader="m:f", kind="regression", modality="cough", target="y",
                           clip_seconds=2.0)
    assert two_seconds.clip_policy(opera_ce.SPEC).min_seconds == 2.0
    assert two_seconds.clip_policy(opera_ct.SPEC).min_seconds == 2.0
    assert two_seconds.clip_policy(opera_gt.SPEC) == GT_WINDOWS


def test_ct_crop_starts():
    assert opera_ct_model.crop_starts(2100, "cover") == [0, 512, 1024, 1076]
    assert opera_ct_model.crop_starts(2100, "reference") == [0, 512, 1024]  # range(0, 2100 - 1025, 512)
    assert opera_ct_model.crop_starts(1025, "reference") == [0]  # the reference's range is empty here
    assert opera_ct_model.crop_starts(1025, "cover") == [0, 1]
    assert opera_ct_model.crop_starts(1536, "cover") == [0, 512]


def test_ct_time_stretch_to_1024_frames():
    enc = tiny(opera_ct)
    clip = noise(8 * SR, 16)
    mel = opera_logmel(clip)  # 251 frames
    x = enc.featurize([clip])
    assert mel.shape == (251, 64) and x.shape == (1, 1024, 64)
    # align_corners: the first and last frames are kept exactly, the rest interpolated.
    torch.testing.assert_close(x[0, 0], mel[0])
    torch.testing.assert_close(x[0, -1], mel[-1])
    # A 40 s clip (1251 frames) becomes two crops; an 8 s clip in the same batch is NaN-padded.
    long = noise(40 * SR, 17)
    batch = enc.featurize([clip, long])
    assert batch.shape == (2, 2048, 64)
    assert torch.isnan(batch[0, 1024:]).all() and not torch.isnan(batch[1]).any()
    torch.testing.assert_close(batch[1, 1024:], opera_logmel(long)[227:1251])
    emb = enc.embed([clip, long])
    torch.testing.assert_close(emb[0], enc.embed([clip])[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(emb[1], enc.embed([long])[0], rtol=0, atol=1e-5)
    ref = opera_ct_model.build(opera_ct.SPEC, config={"name": "tiny", "long_clip_crops": "reference"}, weights=None,
                         device="cpu", seed=0)
    assert ref.featurize([long]).shape == (1, 1024, 64)
    torch.testing.assert_close(ref.embed([clip]), enc.embed([clip]))


def test_ce_whole_clip_each_at_own_length():
    enc = tiny(opera_ce)
    clips = [noise(8 * SR, 18), noise(2 * SR, 19), noise(8 * SR, 20, 0.01)]
    x = enc.featurize(clips)
    assert x.shape == (3, 251, 64)
    assert torch.isnan(x[1, 63:]).all() and not torch.isnan(x[1, :63]).any()
    emb = enc.embed(clips)
    for i, c in enumerate(clips):
        torch.testing.assert_close(emb[i], enc.embed([c])[0], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="at least 34 log-mel frames"):
        enc.featurize([noise(SR, 21)])


def test_gt_rejects_ragged_and_overlong_inputs():
    enc = tiny(opera_gt)
    with pytest.raises(ValueError, match="fixed-length windows"):
        enc.featurize([noise(130880, 1), noise(64000, 2)])
    with pytest.raises(ValueError, match="4 to 256 frames"):
        enc.forward_tokens(torch.rand(1, 300, 64))
    # Shorter windows take the first positions of the table, as in the reference.
    assert enc.embed([noise(2 * SR, 3)]).shape == (1, 32)


# -- the MAE loss --------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [opera_gt, opera_ct, opera_ce], ids=lambda m: m.SPEC.id)
def test_own_ssl_loss_is_declared(module):
    enc = tiny(module)
    x = enc.featurize([noise(63 * 512, 22), noise(63 * 512, 23, 0.3)])
    assert enc.has_ssl_loss == (module is opera_gt) == (enc.ssl_loss(x) is not None)


def test_gt_ssl_loss_trains_on_a_fixed_batch():
    enc = tiny(opera_gt)
    enc.train()
    # 64-frame windows (2.02 s) keep it fast; the decoder needs a token count divisible by its width.
    x = enc.featurize([noise(63 * 512, 22), noise(63 * 512, 23, 0.3)])
    assert x.shape == (2, 64, 64)
    opt = torch.optim.Adam([p for p in enc.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(10):
        loss = enc.ssl_loss(x, generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        if not losses:
            grads = {n: p.grad for n, p in enc.model.named_parameters()}
            assert grads["blocks.0.attn.qkv.weight"].abs().sum() > 0
            assert grads["decoder_blocks.1.attn.meta_mlp.fc1.weight"].abs().sum() > 0
            assert grads["pos_embed"] is None  # the fixed sin-cos table is not trained
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_gt_mask_ratio_hides_70_percent():
    model = tiny(opera_gt).model
    x = torch.rand(2, 256, 64)
    noise_ = torch.rand(2, 1024, generator=torch.Generator().manual_seed(1))
    latent, mask, ids_restore = model.forward_encoder_masked(x, opera_gt_model.MASK_RATIO, noise_)
    assert latent.shape == (2, 1 + 307, 32)  # int(1024 · 0.3) kept + cls
    assert mask.sum(1).tolist() == [717.0, 717.0]
    assert torch.equal(torch.sort(ids_restore, 1).values, torch.arange(1024).expand(2, -1))
