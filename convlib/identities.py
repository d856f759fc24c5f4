"""Four exact identities the chapters rely on, each as a function that builds the equivalent.

- A 1x1 convolution is a dense layer applied at every pixel:
  ``conv1x1(x)[n, :, i, j] = W x[n, :, i, j] + b`` with ``W = conv.weight[:, :, 0, 0]``.
- A grouped convolution is split-convolve-concatenate: with g groups, output group ``t`` is an
  ordinary convolution of input group ``t`` with filters ``t * c_out/g ... (t+1) * c_out/g - 1``.
- Two stacked *linear* convolutions are one convolution whose kernel is their composition:
  ``(K2 * (K1 * x)) = (K2 * K1) * x``, a (k1 + k2 - 1) x (k1 + k2 - 1) kernel (stride 1, no padding
  in the composition; biases compose into ``b2 + sum(K2) b1``).
- A k x 1 followed by a 1 x k convolution (one channel) is a k x k convolution whose kernel is the
  rank-1 outer product ``column * row``; conversely, a rank-1 kernel factors exactly, and the best
  rank-1 approximation of any kernel is its leading SVD term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from convlib._checks import as_module, as_positive_number

# float64 rounding on values of order 1 is about 1e-16, and how much of it a kernel accumulates
# depends on the CPU (summation order, FMA, vector width). A difference below this bound is
# "exact up to rounding" on every machine; a real mistake is many orders of magnitude above it.
ROUNDING_TOLERANCE = 1e-12


def agreement(a: torch.Tensor, b: torch.Tensor, tolerance: float = ROUNDING_TOLERANCE) -> str:
    """How two computations of the same thing agree, in words that are the same on every machine:
    ``"below 1e-12"`` when ``max |a - b| < tolerance`` (exact up to rounding), otherwise the
    largest difference to two significant digits (a real disagreement, far above the noise)."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError("a and b must be torch.Tensors; "
                        f"got {type(a).__name__} and {type(b).__name__}")
    if a.shape != b.shape:
        raise ValueError("a and b must have the same shape; "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    tolerance = as_positive_number("tolerance", tolerance)
    difference = float((a - b).abs().max()) if a.numel() else 0.0
    return f"below {tolerance:g}" if difference < tolerance else f"{difference:.1e}"


def _conv(value: object, name: str = "conv") -> nn.Conv2d:
    return as_module(name, value, nn.Conv2d)


def pointwise_as_linear(conv: nn.Conv2d) -> nn.Linear:
    """The ``nn.Linear`` that a 1x1, ungrouped, stride-1 convolution applies at every pixel."""
    conv = _conv(conv)
    if conv.kernel_size != (1, 1) or conv.groups != 1 or conv.stride != (1, 1):
        raise ValueError("conv must be a 1x1 convolution with groups=1 and stride 1; got "
                         f"kernel_size={conv.kernel_size}, groups={conv.groups}, "
                         f"stride={conv.stride}")
    linear = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None)
    with torch.no_grad():
        linear.weight.copy_(conv.weight[:, :, 0, 0])
        if conv.bias is not None:
            linear.bias.copy_(conv.bias)
    return linear.to(conv.weight.device, conv.weight.dtype)


def apply_per_pixel(linear: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Apply ``linear`` to the channel vector of every pixel of ``x`` (N, C, H, W)."""
    return linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def split_convolve_concatenate(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """A grouped convolution computed the long way: g ordinary convolutions on channel slices."""
    conv = _conv(conv)
    if conv.padding_mode != "zeros":
        raise ValueError(f"padding_mode must be 'zeros'; got {conv.padding_mode!r}")
    g = conv.groups
    inputs = x.chunk(g, dim=1)
    weights = conv.weight.chunk(g, dim=0)
    biases = conv.bias.chunk(g) if conv.bias is not None else [None] * g
    outputs = [F.conv2d(xi, wi, bi, conv.stride, conv.padding, conv.dilation)
               for xi, wi, bi in zip(inputs, weights, biases)]
    return torch.cat(outputs, dim=1)


def compose_convolutions(first: nn.Conv2d, second: nn.Conv2d) -> nn.Conv2d:
    """The single convolution equal to ``second(first(x))`` for two stride-1, unpadded, ungrouped,
    undilated convolutions with no activation in between (what a linear stack computes)."""
    first, second = _conv(first, "first"), _conv(second, "second")
    for name, conv in (("first", first), ("second", second)):
        if (conv.stride != (1, 1) or conv.groups != 1 or conv.dilation != (1, 1)
                or conv.padding not in ((0, 0), "valid")):
            raise ValueError(f"{name} must have stride 1, groups 1, dilation 1 and no padding")
    if second.in_channels != first.out_channels:
        raise ValueError(f"second.in_channels ({second.in_channels}) must equal first.out_channels "
                         f"({first.out_channels})")
    k2 = second.kernel_size
    # PyTorch's layers correlate; correlating with K1 then K2 is correlating with
    # K[o, i] = sum_m K2[o, m] (*) K1[m, i], (*) the full 2-D convolution. F.conv2d correlates, so
    # K1 (as images with m channels) is padded to "full" size and correlated with flipped K2.
    w1 = first.weight.permute(1, 0, 2, 3)  # (c_in, m, k1h, k1w): c_in images with m channels
    w2 = second.weight  # (c_out, m, k2h, k2w)
    composed = F.conv2d(F.pad(w1, (k2[1] - 1, k2[1] - 1, k2[0] - 1, k2[0] - 1)), w2.flip(-1, -2))
    composed = composed.permute(1, 0, 2, 3)  # (c_out, c_in, k1h + k2h - 1, k1w + k2w - 1)
    bias = first.bias is not None or second.bias is not None
    result = nn.Conv2d(first.in_channels, second.out_channels, tuple(composed.shape[-2:]),
                       bias=bias, device=composed.device, dtype=composed.dtype)
    with torch.no_grad():
        result.weight.copy_(composed)
        if bias:
            b = (second.bias.clone() if second.bias is not None
                 else composed.new_zeros(second.out_channels))
            if first.bias is not None:
                b += (second.weight.sum(dim=(2, 3)) @ first.bias)
            result.bias.copy_(b)
    return result


def rank1_factor(kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The best rank-1 approximation ``column * row`` of a 2-D kernel (leading SVD term), and the
    fraction of the kernel's energy (squared Frobenius norm) it keeps: s_1^2 / sum s_i^2.
    A separable kernel keeps 1.0 and is reproduced exactly."""
    if not isinstance(kernel, torch.Tensor) or kernel.ndim != 2:
        raise TypeError("kernel must be a 2-D torch.Tensor")
    u, s, vh = torch.linalg.svd(kernel.double())
    scale = s[0].sqrt()
    column, row = (u[:, 0] * scale).to(kernel.dtype), (vh[0] * scale).to(kernel.dtype)
    energy = float((s[0] ** 2) / (s ** 2).sum()) if s.abs().sum() > 0 else 1.0
    return column, row, energy


def spatial_pair(column: torch.Tensor, row: torch.Tensor) -> nn.Sequential:
    """A k x 1 then 1 x k single-channel convolution pair with the given factors (no bias)."""
    vertical = nn.Conv2d(1, 1, (len(column), 1), bias=False)
    horizontal = nn.Conv2d(1, 1, (1, len(row)), bias=False)
    with torch.no_grad():
        vertical.weight.copy_(column.view(1, 1, -1, 1))
        horizontal.weight.copy_(row.view(1, 1, 1, -1))
    return nn.Sequential(vertical, horizontal)
