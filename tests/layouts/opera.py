"""Key layouts of OPERA's released checkpoints, and state-dict helpers to write checkpoints like them."""

from __future__ import annotations

import torch


def perturbed(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Random non-trivial weights (incl. biases, norms, BN statistics) in the same layout."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in state.items():
        if v.dtype.is_floating_point and "attn_mask" not in k and "pos_embed" not in k:
            v = v + 0.02 * torch.randn(v.shape, generator=gen)
            if k.endswith("running_var"):
                v = v.abs() + 0.5
        out[k] = v.clone()
    return out


def lightning(state: dict[str, torch.Tensor]) -> dict:
    """A checkpoint as pytorch-lightning's ModelCheckpoint writes it."""
    return {"epoch": 149, "global_step": 1000, "pytorch-lightning_version": "2.2.0.post0", "state_dict": state,
            "loops": {}, "callbacks": {}, "optimizer_states": [], "lr_schedulers": [],
            "hyper_parameters": {"p": 0.1, "dim_fea": 1280, "encoder": "efficientnet"}}


def cola_head(dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"g.weight": torch.randn(512, dim, generator=gen), "g.bias": torch.zeros(512),
            "layer_norm.weight": torch.ones(512), "layer_norm.bias": torch.zeros(512),
            "linear.weight": torch.randn(512, 512, generator=gen)}


def gt_released_keys() -> set[str]:
    top = ["cls_token", "pos_embed", "mask_token", "decoder_pos_embed", "patch_embed.proj.weight",
           "patch_embed.proj.bias", "norm.weight", "norm.bias", "decoder_embed.weight", "decoder_embed.bias",
           "decoder_norm.weight", "decoder_norm.bias", "decoder_pred.weight", "decoder_pred.bias"]
    wb = lambda name: [f"{name}.weight", f"{name}.bias"]  # noqa: E731
    vit = [*wb("norm1"), *wb("attn.qkv"), *wb("attn.proj"), *wb("norm2"), *wb("mlp.fc1"), *wb("mlp.fc2")]
    swin = ["attn.tau", *wb("attn.qkv"), *wb("attn.proj"), *wb("attn.meta_mlp.fc1"), *wb("attn.meta_mlp.fc2"),
            *wb("norm1"), *wb("mlp.fc1"), *wb("mlp.fc2"), *wb("norm2")]
    return {*top, *(f"blocks.{i}.{k}" for i in range(12) for k in vit),
            *(f"decoder_blocks.{i}.{k}" for i in range(16) for k in swin)}


def ct_released_keys() -> set[str]:
    p = "encoder.encoder.htsat."
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = [f"{p}spectrogram_extractor.stft.conv_real.weight", f"{p}spectrogram_extractor.stft.conv_imag.weight",
            f"{p}logmel_extractor.melW", *(f"{p}bn0.{k}" for k in bn)]
    for name in ("patch_embed.proj", "patch_embed.norm", "norm", "tscam_conv", "head"):
        keys += [f"{p}{name}.weight", f"{p}{name}.bias"]
    block = ["norm1.weight", "norm1.bias", "attn.relative_position_bias_table", "attn.relative_position_index",
             "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
             "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"]
    for i, depth in enumerate((2, 2, 6, 2)):
        for j in range(depth):
            keys += [f"{p}layers.{i}.blocks.{j}.{k}" for k in block]
            if j % 2 and i < 3:  # shifted windows; the 8 × 8 last stage is one unshifted window
                keys.append(f"{p}layers.{i}.blocks.{j}.attn_mask")
        if i < 3:
            keys += [f"{p}layers.{i}.downsample.{k}" for k in ("reduction.weight", "norm.weight", "norm.bias")]
    return set(keys)


def ce_released_keys() -> set[str]:
    p = "encoder.efficientnet."
    bn = lambda name: [f"{name}.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]  # noqa: E731
    keys = ["encoder.cnn1.weight", "encoder.cnn1.bias", f"{p}_conv_stem.weight", *(p + k for k in bn("_bn0")),
            f"{p}_conv_head.weight", *(p + k for k in bn("_bn1"))]
    for i in range(16):
        b = f"{p}_blocks.{i}."
        if i > 0:  # block 0 has expand ratio 1
            keys += [b + "_expand_conv.weight", *(b + k for k in bn("_bn0"))]
        keys += [b + "_depthwise_conv.weight", *(b + k for k in bn("_bn1")), b + "_se_reduce.weight",
                 b + "_se_reduce.bias", b + "_se_expand.weight", b + "_se_expand.bias", b + "_project_conv.weight",
                 *(b + k for k in bn("_bn2"))]
    return set(keys)
