"""Exact weight counts of convolutions, dense layers and the blocks the book compares.

Every formula counts what PyTorch stores for the modules it names (``count_params`` of those
modules), biases included when ``bias=True``. The tests check each one against real modules.
"""

from __future__ import annotations

from fractions import Fraction

from torch import nn

from convlib._checks import as_bool, as_groups, as_int, as_module, as_odd_kernel, as_pair


def conv2d_params(
    c_in: int,
    c_out: int,
    kernel_size: int | tuple[int, int],
    groups: int = 1,
    bias: bool = True,
) -> int:
    """Parameters of ``nn.Conv2d(c_in, c_out, kernel_size, groups=groups, bias=bias)``:
    ``c_out * (c_in / groups) * kh * kw + c_out * bias``."""
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    groups = as_groups(groups, c_in, c_out)
    kh, kw = as_pair("kernel_size", kernel_size)
    return c_out * (c_in // groups) * kh * kw + c_out * as_bool("bias", bias)


def grouped_params(
    c_in: int, c_out: int, kernel_size: int | tuple[int, int], groups: int, bias: bool = True
) -> int:
    """Parameters of a grouped convolution: :func:`conv2d_params` with ``groups`` required,
    ``c_out * (c_in / groups) * kh * kw + c_out * bias`` (``groups`` times fewer weights)."""
    return conv2d_params(c_in, c_out, kernel_size, groups=groups, bias=bias)


def dense_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Parameters of ``nn.Linear(n_in, n_out, bias=bias)``: ``n_in * n_out + n_out * bias``."""
    n_in, n_out = as_int("n_in", n_in), as_int("n_out", n_out)
    return n_in * n_out + n_out * as_bool("bias", bias)


def depthwise_separable_params(
    c_in: int, c_out: int, kernel_size: int | tuple[int, int], bias: bool = True
) -> int:
    """Parameters of ``nn.Conv2d(c_in, c_in, k, groups=c_in)`` then ``nn.Conv2d(c_in, c_out, 1)``:
    ``c_in * kh * kw + c_in * c_out (+ c_in + c_out with bias)``."""
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    kernel = as_pair("kernel_size", kernel_size)
    bias = as_bool("bias", bias)
    depthwise = conv2d_params(c_in, c_in, kernel, groups=c_in, bias=bias)
    pointwise = conv2d_params(c_in, c_out, 1, bias=bias)
    return depthwise + pointwise


def bottleneck_params(
    c: int, c_mid: int, kernel_size: int | tuple[int, int] = 3, bias: bool = True, *,
    c_out: int | None = None, groups: int = 1,
) -> int:
    """Parameters of the bottleneck 1x1 ``c -> c_mid``, kxk ``c_mid -> c_mid`` in ``groups``
    groups, 1x1 ``c_mid -> c_out`` (``c_out`` defaults to ``c``):
    ``c * c_mid + (c_mid / g) * c_mid * kh * kw + c_mid * c_out (+ 2 c_mid + c_out with bias)``."""
    c, c_mid = as_int("c", c), as_int("c_mid", c_mid)
    c_out = c if c_out is None else as_int("c_out", c_out)
    kernel = as_pair("kernel_size", kernel_size)
    bias = as_bool("bias", bias)
    return (conv2d_params(c, c_mid, 1, bias=bias)
            + conv2d_params(c_mid, c_mid, kernel, groups=groups, bias=bias)
            + conv2d_params(c_mid, c_out, 1, bias=bias))


def batchnorm_params(channels: int) -> int:
    """Parameters of ``nn.BatchNorm2d(channels)``: its weight and bias, ``2 * channels`` (the
    running statistics are buffers, not parameters)."""
    return 2 * as_int("channels", channels)


def stacked_depth(kernel_size: int) -> int:
    """How many stacked 3x3 stride-1 convolutions see as far as one kxk: ``n = (k - 1) / 2``
    (k odd >= 3), since n of them have a receptive field of ``2 n + 1``."""
    return (as_odd_kernel("kernel_size", kernel_size) - 1) // 2


def stacked_params(c_in: int, c_out: int, kernel_size: int, bias: bool = True) -> int:
    """Parameters of the ``n = (k - 1) / 2`` stacked 3x3 convolutions with the receptive field of
    one kxk (k odd >= 3), the first ``c_in -> c_out``, the rest ``c_out -> c_out``:
    ``9 c_in c_out + (n - 1) 9 c_out^2 (+ n c_out with bias)``."""
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    n = stacked_depth(kernel_size)
    bias = as_bool("bias", bias)
    first = conv2d_params(c_in, c_out, 3, bias=bias)
    return first + (n - 1) * conv2d_params(c_out, c_out, 3, bias=bias)


def spatially_separable_params(c_in: int, c_out: int, kernel_size: int, bias: bool = True) -> int:
    """Parameters of ``nn.Conv2d(c_in, c_out, (k, 1))`` then ``nn.Conv2d(c_out, c_out, (1, k))``:
    ``k c_in c_out + k c_out^2 (+ 2 c_out with bias)``."""
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    k = as_int("kernel_size", kernel_size)
    bias = as_bool("bias", bias)
    vertical = conv2d_params(c_in, c_out, (k, 1), bias=bias)
    return vertical + conv2d_params(c_out, c_out, (1, k), bias=bias)


def count_params(module: nn.Module) -> int:
    """What PyTorch holds: ``sum(p.numel() for p in module.parameters())`` (shared ones once)."""
    as_module("module", module)
    return sum(p.numel() for p in module.parameters())


def dense_equivalent_params(
    c_in: int, c_out: int, height: int, width: int | None = None, bias: bool = True
) -> int:
    """Parameters of the dense layer from a flattened ``(c_in, height, width)`` input to the
    flattened output ``(c_out, height, width)`` of a same-padded stride-1 convolution:
    ``(c_in h w) (c_out h w) + c_out h w * bias`` (a free bias per output entry).

    The kernel size does not enter: the dense layer connects everything to everything.
    ``width`` defaults to ``height`` (a square image).
    """
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    h = as_int("height", height)
    w = h if width is None else as_int("width", width)
    return dense_params(c_in * h * w, c_out * h * w, bias=bias)


def dense_to_conv_weight_ratio(image_size: int, kernel_size: int) -> Fraction:
    """The article's weight ratio, dense over conv, for ``c`` channels in and out, same padding,
    stride 1, biases left out: ``(l^2 c)^2 / (k^2 c^2) = l^4 / k^2`` (c cancels).

    Returned as an exact ``fractions.Fraction`` (``float()`` it to plot).
    """
    side = as_int("image_size", image_size)
    k = as_int("kernel_size", kernel_size)
    return Fraction(side**4, k**2)


def dense_to_conv_compute_ratio(image_size: int, kernel_size: int) -> Fraction:
    """The article's naive compute ratio, dense over conv: ``l^2 / k^2``. The dense layer does
    ``(l^2 c)^2`` multiply-adds, the convolution ``k^2 c^2`` for each of its ``l^2`` output pixels.

    Returned as an exact ``fractions.Fraction``.
    """
    side = as_int("image_size", image_size)
    k = as_int("kernel_size", kernel_size)
    return Fraction(side**2, k**2)
