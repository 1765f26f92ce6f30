"""EfficientNet-B0 (Tan & Le, ICML 2019) with the module names and arithmetic of ``efficientnet_pytorch`` 0.7.1.

OPERA-CE builds its backbone with ``EfficientNet.from_name("efficientnet-b0",
include_top=False, drop_connect_rate=0.1)``. That package names the layers
``_conv_stem``, ``_bn0``, ``_blocks.i.{_expand_conv, _bn0, _depthwise_conv,
_bn1, _se_reduce, _se_expand, _project_conv, _bn2}``, ``_conv_head``, ``_bn1``,
and — because ``from_name`` sets the B0 image size (224) — pads every
convolution TensorFlow-"SAME"-style *for a 224 × 224 input*, whatever the
real input size ("static same padding"). OPERA's released weights were
trained and evaluated with exactly that padding, so it is reproduced here:
each convolution's padding is computed once from the nominal size of its
stage, e.g. (left 0, right 1) for the stride-2 stem. BatchNorm uses
momentum 0.01 and eps 1e-3 (TensorFlow's 0.99 / 1e-3); the activation is
swish; blocks apply drop-connect (stochastic depth) at
``rate · index / n_blocks`` in training mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Stage:
    """One row of the EfficientNet block table (``r1_k3_s11_e1_i32_o16_se0.25``)."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int
    se_ratio: float = 0.25


#: EfficientNet-B0 (width and depth coefficients 1.0, so no rounding changes it).
B0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
B0_STEM, B0_HEAD, B0_IMAGE = 32, 1280, 224
BN_MOMENTUM, BN_EPS = 0.01, 1e-3


class StaticSameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding computed for a fixed nominal input size.

    Parameters
    ----------
    in_ch, out_ch, kernel, stride : int
    nominal : int
        Input side (pixels) the padding is computed for; applied to any input.
    groups : int
    bias : bool
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, nominal: int, *,
                 groups: int = 1, bias: bool = False) -> None:
        super().__init__(in_ch, out_ch, kernel, stride=stride, groups=groups, bias=bias)
        out = math.ceil(nominal / stride)
        total = max((out - 1) * stride + kernel - nominal, 0)
        self.pad = (total // 2, total - total // 2)

    def forward(self, x: Tensor) -> Tensor:
        left, right = self.pad
        if left == right:  # symmetric: the convolution pads in place (no padded copy of the input)
            return F.conv2d(x, self.weight, self.bias, self.stride, left, self.dilation, self.groups)
        x = F.pad(x, (left, right, left, right))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, momentum=BN_MOMENTUM, eps=BN_EPS)


class MBConvBlock(nn.Module):
    """Inverted-residual block: [1×1 expand] → depthwise k×k → squeeze-excite → 1×1 project [+ skip].

    Parameters
    ----------
    in_ch, out_ch, kernel, stride, expand : int
    se_ratio : float
        Squeeze width = ``max(1, int(in_ch · se_ratio))``.
    nominal : int
        Nominal input side for the depthwise convolution's static padding.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int, se_ratio: float,
                 nominal: int) -> None:
        super().__init__()
        mid = in_ch * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = StaticSameConv2d(in_ch, mid, 1, 1, nominal)
            self._bn0 = _bn(mid)
        self._depthwise_conv = StaticSameConv2d(mid, mid, kernel, stride, nominal, groups=mid)
        self._bn1 = _bn(mid)
        squeezed = max(1, int(in_ch * se_ratio))
        self._se_reduce = nn.Conv2d(mid, squeezed, 1)
        self._se_expand = nn.Conv2d(squeezed, mid, 1)
        self._project_conv = StaticSameConv2d(mid, out_ch, 1, 1, nominal)
        self._bn2 = _bn(out_ch)
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, inputs: Tensor, drop_rate: float = 0.0) -> Tensor:
        x = inputs
        if self.expand:
            x = F.silu(self._bn0(self._expand_conv(x)))
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        gate = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
        x = self._bn2(self._project_conv(torch.sigmoid(gate) * x))
        if not self.skip:
            return x
        if self.training and drop_rate > 0:
            keep = 1.0 - drop_rate
            x = x / keep * torch.floor(keep + torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device))
        return x + inputs


class EfficientNet(nn.Module):
    """EfficientNet feature extractor (no classifier), ``efficientnet_pytorch`` key layout.

    Parameters
    ----------
    stages : tuple of Stage
        Block table (:data:`B0_STAGES`).
    in_ch, stem, head : int
        Input channels (3), stem width (32), head width = output channels (1280).
    image_size : int
        Nominal input side for the static padding (224 for B0).
    drop_connect_rate : float
        Maximum drop-connect rate (OPERA: 0.1).
    """

    def __init__(self, stages: tuple[Stage, ...] = B0_STAGES, *, in_ch: int = 3, stem: int = B0_STEM,
                 head: int = B0_HEAD, image_size: int = B0_IMAGE, drop_connect_rate: float = 0.1) -> None:
        super().__init__()
        self.drop_connect_rate = drop_connect_rate
        self._conv_stem = StaticSameConv2d(in_ch, stem, 3, 2, image_size)
        self._bn0 = _bn(stem)
        size = math.ceil(image_size / 2)
        blocks = []
        for st in stages:
            for r in range(st.repeats):
                first = r == 0
                blocks.append(MBConvBlock(st.in_ch if first else st.out_ch, st.out_ch, st.kernel,
                                          st.stride if first else 1, st.expand, st.se_ratio, size))
                if first:
                    size = math.ceil(size / st.stride)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = StaticSameConv2d(stages[-1].out_ch, head, 1, 1, size)
        self._bn1 = _bn(head)
        self.out_channels = head
        for conv in self.modules():
            if isinstance(conv, nn.Conv2d):
                # A random-init model runs its BatchNorms on their initial statistics in eval mode, so
                # the convolutions alone must keep the activation scale: PyTorch's default init (and
                # He-fan-out, which counts a depthwise kernel's fan-out as all its channels) shrinks
                # it 4-30x per block, to ~1e-14 at the head. He-fan-in counts fan-in per group.
                nn.init.kaiming_normal_(conv.weight, mode="fan_in")
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)

    def output_side(self, side: int) -> int:
        """Side of the final feature map for an input side (pixels); 0 if some kernel exceeds its padded input."""
        for conv in self.modules():
            if isinstance(conv, StaticSameConv2d):
                padded = side + sum(conv.pad)
                if padded < conv.kernel_size[0]:
                    return 0
                side = (padded - conv.kernel_size[0]) // conv.stride[0] + 1
        return side

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_ch, H, W) → final feature map (B, head, H', W'), H' ≈ H/32."""
        x = F.silu(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x = block(x, self.drop_connect_rate * i / len(self._blocks))
        return F.silu(self._bn1(self._conv_head(x)))
