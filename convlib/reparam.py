"""Structural re-parameterisation: parallel convolution branches, each followed by BatchNorm in
eval mode, merged into one convolution with a bias. Exact up to rounding.

**Folding a BatchNorm into the convolution before it.** In eval mode BatchNorm is a fixed
per-channel affine map, ``bn(z) = gamma (z - mu) / sigma + beta`` with ``sigma = sqrt(var + eps)``
(running statistics). Applied to ``z = W * x`` it is one convolution (RepVGG, eq. 3):
``W' = (gamma / sigma) W`` (each output channel's filter scaled), ``b' = beta - mu gamma / sigma``.
In training mode BatchNorm normalises with each batch's own statistics, which no fixed kernel
reproduces: the merges refuse a BatchNorm in training mode.

**RepVGG** (Ding et al., "RepVGG: Making VGG-style ConvNets Great Again", CVPR 2021,
arXiv:2101.03697). A training-time block sums three branches,
``M2 = bn(M1 * W3) + bn(M1 * W1) + bn(M1)``: a 3x3 convolution, a 1x1 convolution and (when the
block keeps its channels and stride 1) the identity, each with its own BatchNorm. Convolution is
linear, so after folding each BatchNorm the sum is one 3x3 convolution:
``W = W3' + pad(W1') + bn0 (I)`` and ``b = b3' + b1' + b0'``, where ``pad`` puts the 1x1 kernel at
the centre of a zero 3x3 kernel and ``I`` is the 3x3 kernel of the identity (1 at the centre, from
each channel to itself). The 3x3 is padded by 1 and the 1x1 by 0, so with any stride their windows
stay centred on the same input pixel.

**RepLKNet** (Ding et al., "Scaling Up Your Kernels to 31x31: Revisiting Large Kernel Design in
CNNs", CVPR 2022, arXiv:2203.06717). A large depthwise kernel (31x31) is trained beside a small
one (5x5), each with its BatchNorm, and the outputs are added; after training "the small kernel is
merged into the large one": ``W = W_L' + pad(W_S')``, ``b = b_L' + b_S'``, the small kernel
zero-padded to the large size, centred. The same holds for any groups and stride, as long as both
branches share them and are padded to keep their centres aligned (padding ``k // 2`` for odd ``k``).

Both are instances of one fact: a sum of convolutions with aligned centres is the convolution
with the sum of their (centre-aligned, zero-padded) kernels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from convlib._checks import as_bool, as_divisor, as_int, as_module, as_odd_kernel


def fuse_conv_bn(conv: nn.Conv2d | None, bn: nn.BatchNorm2d, weight: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W', b')`` of ``bn(conv(x))`` as one convolution: ``W' = (gamma / sigma) W``,
    ``b' = beta + (b - mu) gamma / sigma``, ``sigma = sqrt(running_var + eps)``.

    ``weight`` replaces ``conv.weight`` (the identity branch passes its identity kernel and
    ``conv=None``, which also means no convolution bias). ``bn`` must be in eval mode.
    """
    bn = as_module("bn", bn, nn.BatchNorm2d)
    if bn.training:
        raise ValueError("bn must be in eval mode (call .eval()): in training mode BatchNorm uses "
                         "each batch's statistics, which no fixed kernel can reproduce")
    if not bn.track_running_stats or bn.running_mean is None:
        raise ValueError("bn must track running statistics (track_running_stats=True)")
    if conv is not None:
        conv = as_module("conv", conv, nn.Conv2d)
        weight = conv.weight if weight is None else weight
    if weight is None:
        raise TypeError("weight must be a torch.Tensor when conv is None")
    scale = bn.running_var.add(bn.eps).rsqrt()
    if bn.affine:
        scale = scale * bn.weight
    shift = bn.bias if bn.affine else torch.zeros_like(scale)
    conv_bias = conv.bias if conv is not None and conv.bias is not None else 0.0
    fused_weight = weight * scale.reshape(-1, 1, 1, 1)
    fused_bias = shift + (conv_bias - bn.running_mean) * scale
    return fused_weight.detach(), fused_bias.detach()


def centred_kernel(weight: torch.Tensor, size: int) -> torch.Tensor:
    """A ``(c_out, c_in/g, k, k)`` kernel zero-padded to ``size x size`` around its centre (``k``
    and ``size`` odd, ``k <= size``): the same convolution when the padding grows by
    ``(size - k) / 2``."""
    k = weight.shape[-1]
    if weight.ndim != 4 or weight.shape[-2] != k or k % 2 == 0:
        raise ValueError(f"weight must be a square, odd (c_out, c_in, k, k) kernel; "
                         f"got shape {tuple(weight.shape)}")
    size = as_odd_kernel("size", size, minimum=k)
    margin = (size - k) // 2
    return F.pad(weight, (margin, margin, margin, margin))


def identity_kernel(channels: int, groups: int, size: int, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """The ``(channels, channels / groups, size, size)`` kernel of the identity map: a 1 at the
    centre, from each channel to itself (within its group, channel ``i`` is input ``i mod c/g``)."""
    channels = as_int("channels", channels)
    groups = as_divisor("groups", groups, channels=channels)
    size = as_odd_kernel("size", size, minimum=1)
    per_group = channels // groups
    kernel = torch.zeros(channels, per_group, size, size, dtype=dtype, device=device)
    index = torch.arange(channels, device=kernel.device)
    kernel[index, index % per_group, size // 2, size // 2] = 1.0
    return kernel


def _merged_conv(template: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    """One ``nn.Conv2d`` with ``template``'s channels, stride, groups and dilation, the kernel
    ``weight`` ("same"-centred padding) and ``bias``."""
    size = weight.shape[-1]
    merged = nn.Conv2d(template.in_channels, template.out_channels, size, template.stride,
                       padding=template.dilation[0] * (size // 2), dilation=template.dilation,
                       groups=template.groups, bias=True, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        merged.weight.copy_(weight)
        merged.bias.copy_(bias)
    return merged


def _conv_bn(c_in: int, c_out: int, k: int, stride: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, groups=groups,
                                   bias=False),
                         nn.BatchNorm2d(c_out))


class RepVGGBlock(nn.Module):
    """RepVGG's training-time block without its final ReLU: ``bn(3x3(x)) + bn(1x1(x)) + bn(x)``.

    The identity branch exists when ``identity`` is True; by default it does when the block
    keeps its channels and its stride is 1 (as in the paper). ``groups`` applies to both
    convolutions (RepVGG-g2/g4 use grouped 3x3 and 1x1 layers).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, groups: int = 1,
                 identity: bool | None = None) -> None:
        super().__init__()
        in_channels = as_int("in_channels", in_channels)
        out_channels = as_int("out_channels", out_channels)
        stride = as_int("stride", stride)
        groups = as_divisor("groups", groups, in_channels=in_channels, out_channels=out_channels)
        possible = in_channels == out_channels and stride == 1
        identity = possible if identity is None else as_bool("identity", identity)
        if identity and not possible:
            raise ValueError("identity=True needs in_channels == out_channels and stride 1; got "
                             f"{in_channels} -> {out_channels}, stride {stride}")
        self.dense = _conv_bn(in_channels, out_channels, 3, stride, groups)
        self.pointwise = _conv_bn(in_channels, out_channels, 1, stride, groups)
        self.identity = nn.BatchNorm2d(out_channels) if identity else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dense(x) + self.pointwise(x)
        return out if self.identity is None else out + self.identity(x)


def merge_repvgg(block: RepVGGBlock) -> nn.Conv2d:
    """The one 3x3 ``nn.Conv2d`` (with bias) equal to ``block`` in eval mode:
    ``W = W3' + pad(W1') + bn0(I)``, ``b = b3' + b1' + b0'`` (see the module docstring)."""
    block = as_module("block", block, RepVGGBlock)
    conv3, bn3 = block.dense
    conv1, bn1 = block.pointwise
    weight, bias = fuse_conv_bn(conv3, bn3)
    weight1, bias1 = fuse_conv_bn(conv1, bn1)
    weight, bias = weight + centred_kernel(weight1, 3), bias + bias1
    if block.identity is not None:
        eye = identity_kernel(conv3.out_channels, conv3.groups, 3, dtype=weight.dtype,
                              device=weight.device)
        weight0, bias0 = fuse_conv_bn(None, block.identity, weight=eye)
        weight, bias = weight + weight0, bias + bias0
    return _merged_conv(conv3, weight, bias)


class LargeSmallKernel(nn.Module):
    """RepLKNet's large-kernel layer at training time: ``bn(KxK(x)) + bn(kxk(x))``, both
    depthwise by default (``groups = channels``), same stride, each padded to keep its centre."""

    def __init__(self, channels: int, large: int = 31, small: int = 5, stride: int = 1,
                 groups: int | None = None) -> None:
        super().__init__()
        channels = as_int("channels", channels)
        large = as_odd_kernel("large", large)
        small = as_odd_kernel("small", small, minimum=1)
        if small > large:
            raise ValueError(f"small must be <= large; got small={small}, large={large}")
        groups = channels if groups is None else as_divisor("groups", groups, channels=channels)
        stride = as_int("stride", stride)
        self.large = _conv_bn(channels, channels, large, stride, groups)
        self.small = _conv_bn(channels, channels, small, stride, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.large(x) + self.small(x)


def merge_large_small(block: LargeSmallKernel) -> nn.Conv2d:
    """The one large ``nn.Conv2d`` (with bias) equal to ``block`` in eval mode:
    ``W = W_L' + pad(W_S')``, ``b = b_L' + b_S'``."""
    block = as_module("block", block, LargeSmallKernel)
    conv_large, bn_large = block.large
    conv_small, bn_small = block.small
    weight, bias = fuse_conv_bn(conv_large, bn_large)
    weight_small, bias_small = fuse_conv_bn(conv_small, bn_small)
    weight = weight + centred_kernel(weight_small, conv_large.kernel_size[0])
    return _merged_conv(conv_large, weight, bias + bias_small)
