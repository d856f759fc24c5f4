"""Exact weight counts of convolutions, dense layers and the blocks the book compares.

Every formula counts what PyTorch stores for the modules it names (``count_params`` of those
modules), biases included when ``bias=True`` (a bool counts as 0 or 1). Each function is its
closed form in one expression; :func:`_checked` checks the arguments first (the tests check
each formula against real modules).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from torch import nn

from convlib._checks import as_bool, as_divisor, as_int, as_module, as_odd_kernel, as_pair


@dataclass(frozen=True)
class _Divides:
    """The check of ``groups``: a positive int that divides the arguments named ``counts``."""

    counts: tuple[str, ...]

    def __call__(self, name: str, value: Any, arguments: dict[str, Any]) -> int:
        return as_divisor(name, value, **{count: arguments[count] for count in self.counts})


def _checked(**checks: Callable[..., Any]) -> Callable:
    """Check and convert the arguments named in ``checks`` before the function runs, in that
    order, each with its check from :mod:`convlib._checks` (``check(name, value)``; a
    :class:`_Divides` also reads the arguments checked before it). An argument whose default is
    None may be left None. Bad input raises the check's ``TypeError`` or ``ValueError``, naming
    the argument."""
    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            for name, check in checks.items():
                value = arguments[name]
                if value is None and signature.parameters[name].default is None:
                    continue
                arguments[name] = (check(name, value, arguments) if isinstance(check, _Divides)
                                   else check(name, value))
            return function(*bound.args, **bound.kwargs)
        return checked
    return decorate


@_checked(c_in=as_int, c_out=as_int, kernel_size=as_pair, groups=_Divides(("c_in", "c_out")),
          bias=as_bool)
def conv2d_params(
    c_in: int,
    c_out: int,
    kernel_size: int | tuple[int, int],
    groups: int = 1,
    bias: bool = True,
) -> int:
    """Parameters of ``nn.Conv2d(c_in, c_out, kernel_size, groups=groups, bias=bias)``:
    ``c_out * (c_in / groups) * kh * kw + c_out * bias``."""
    kh, kw = kernel_size
    return c_out * (c_in // groups) * kh * kw + c_out * bias


def grouped_params(
    c_in: int, c_out: int, kernel_size: int | tuple[int, int], groups: int, bias: bool = True
) -> int:
    """Parameters of a grouped convolution: :func:`conv2d_params` with ``groups`` required,
    ``c_out * (c_in / groups) * kh * kw + c_out * bias`` (``groups`` times fewer weights)."""
    return conv2d_params(c_in, c_out, kernel_size, groups=groups, bias=bias)


@_checked(n_in=as_int, n_out=as_int, bias=as_bool)
def dense_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Parameters of ``nn.Linear(n_in, n_out, bias=bias)``: ``n_in * n_out + n_out * bias``."""
    return n_in * n_out + n_out * bias


@_checked(c_in=as_int, c_out=as_int, kernel_size=as_pair, bias=as_bool)
def depthwise_separable_params(
    c_in: int, c_out: int, kernel_size: int | tuple[int, int], bias: bool = True
) -> int:
    """Parameters of ``nn.Conv2d(c_in, c_in, k, groups=c_in)`` then ``nn.Conv2d(c_in, c_out, 1)``:
    the depthwise filters, the pointwise weights and the two convolutions' biases."""
    kh, kw = kernel_size
    return c_in * kh * kw + c_in * c_out + (c_in + c_out) * bias


@_checked(c=as_int, c_mid=as_int, kernel_size=as_pair, bias=as_bool, c_out=as_int,
          groups=_Divides(("c_mid",)))
def bottleneck_params(
    c: int, c_mid: int, kernel_size: int | tuple[int, int] = 3, bias: bool = True, *,
    c_out: int | None = None, groups: int = 1,
) -> int:
    """Parameters of the bottleneck 1x1 ``c -> c_mid``, kxk ``c_mid -> c_mid`` in ``groups``
    groups, 1x1 ``c_mid -> c_out`` (``c_out`` defaults to ``c``), and their three biases."""
    c_out = c if c_out is None else c_out
    kh, kw = kernel_size
    return (c * c_mid + (c_mid // groups) * c_mid * kh * kw + c_mid * c_out
            + (2 * c_mid + c_out) * bias)


@_checked(channels=as_int)
def batchnorm_params(channels: int) -> int:
    """Parameters of ``nn.BatchNorm2d(channels)``: its weight and bias, ``2 * channels`` (the
    running statistics are buffers, not parameters)."""
    return 2 * channels


@_checked(kernel_size=as_odd_kernel)
def stacked_depth(kernel_size: int) -> int:
    """How many stacked 3x3 stride-1 convolutions see as far as one kxk: ``n = (k - 1) / 2``
    (k odd >= 3), since n of them have a receptive field of ``2 n + 1``."""
    return (kernel_size - 1) // 2


@_checked(c_in=as_int, c_out=as_int, kernel_size=as_odd_kernel, bias=as_bool)
def stacked_params(c_in: int, c_out: int, kernel_size: int, bias: bool = True) -> int:
    """Parameters of the ``n = (k - 1) / 2`` stacked 3x3 convolutions with the receptive field of
    one kxk (k odd >= 3), the first ``c_in -> c_out``, the other ``n - 1`` ``c_out -> c_out``,
    each with its bias."""
    n = stacked_depth(kernel_size)
    return 9 * c_in * c_out + (n - 1) * 9 * c_out**2 + n * c_out * bias


@_checked(c_in=as_int, c_out=as_int, kernel_size=as_int, bias=as_bool)
def spatially_separable_params(c_in: int, c_out: int, kernel_size: int, bias: bool = True) -> int:
    """Parameters of ``nn.Conv2d(c_in, c_out, (k, 1))`` then ``nn.Conv2d(c_out, c_out, (1, k))``,
    each with its bias."""
    k = kernel_size
    return k * c_in * c_out + k * c_out**2 + 2 * c_out * bias


@_checked(module=as_module)
def count_params(module: nn.Module) -> int:
    """What PyTorch holds: ``sum(p.numel() for p in module.parameters())`` (shared ones once)."""
    return sum(p.numel() for p in module.parameters())


@_checked(c_in=as_int, c_out=as_int, height=as_int, width=as_int, bias=as_bool)
def dense_equivalent_params(
    c_in: int, c_out: int, height: int, width: int | None = None, bias: bool = True
) -> int:
    """Parameters of the dense layer from a flattened ``(c_in, height, width)`` input to the
    flattened output ``(c_out, height, width)`` of a same-padded stride-1 convolution, with a free
    bias per output entry.

    The kernel size does not enter: the dense layer connects everything to everything.
    ``width`` defaults to ``height`` (a square image).
    """
    h, w = height, height if width is None else width
    return (c_in * h * w) * (c_out * h * w) + (c_out * h * w) * bias


@_checked(image_size=as_int, kernel_size=as_int)
def dense_to_conv_weight_ratio(image_size: int, kernel_size: int) -> Fraction:
    """The article's weight ratio, dense over conv, for ``c`` channels in and out, same padding,
    stride 1, biases left out: ``(l^2 c)^2 / (k^2 c^2) = l^4 / k^2`` (c cancels).

    Returned as an exact ``fractions.Fraction`` (``float()`` it to plot).
    """
    return Fraction(image_size**4, kernel_size**2)


@_checked(image_size=as_int, kernel_size=as_int)
def dense_to_conv_compute_ratio(image_size: int, kernel_size: int) -> Fraction:
    """The article's naive compute ratio, dense over conv: ``l^2 / k^2``. The dense layer does
    ``(l^2 c)^2`` multiply-adds, the convolution ``k^2 c^2`` for each of its ``l^2`` output pixels.

    Returned as an exact ``fractions.Fraction``.
    """
    return Fraction(image_size**2, kernel_size**2)
