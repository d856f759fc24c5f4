"""The convolution blocks the book compares, built by one function: :func:`make_block`.

Every block maps ``(N, c_in, H, W)`` to ``(N, c_out, ceil(H / stride), ceil(W / stride))``:
all kernels are odd and "same"-padded (``k // 2`` on each side of each axis that has size ``k``).

Kinds (``k`` = ``kernel_size``, ``g`` = ``groups``, ``m`` = ``mid_channels``):

==============  ===========================================================================
``plain``       one ``k x k`` convolution ``c_in -> c_out``
``stacked``     ``n = (k - 1) / 2`` 3x3 convolutions, the receptive field of one ``k x k``;
                ``c_in -> c_out``, then ``c_out -> c_out`` (``k`` odd, ``>= 3``)
``bottleneck``  1x1 ``c_in -> m``, ``k x k`` ``m -> m`` in ``g`` groups, 1x1 ``m -> c_out``;
                ``m`` defaults to ``max(1, c_out // 4)``; no residual connection
``grouped``     one ``k x k`` convolution ``c_in -> c_out`` in ``g`` groups (``g`` divides both)
``separable``   depthwise ``k x k`` (``groups = c_in``) then pointwise 1x1 ``c_in -> c_out``
``spatial``     ``k x 1`` ``c_in -> c_out`` then ``1 x k`` ``c_out -> c_out``
==============  ===========================================================================

Placement rules (the weight formulas of :func:`block_params` depend on them):

- Each convolution is followed by its BatchNorm (``norm="batch"``), then its activation, both
  named after its position: the i-th convolution of a block gets ``bn{i}`` and ``act{i}``.
- Exceptions, the two *interiors*: nothing follows the depthwise convolution of ``separable``
  nor the ``k x 1`` of ``spatial`` unless ``inner_activation=True`` (then they get ``bn1`` /
  ``act1`` like any other convolution). Why: Keras' ``SeparableConv2D``, which the article used,
  is one layer with one activation; a factorised kernel is meant to stand in for one kernel.
- ``stride`` is applied by the first *spatial* convolution of the first repeat only: the conv of
  ``plain``/``grouped``, the first 3x3 of ``stacked``, the ``k x k`` (middle) conv of
  ``bottleneck`` (as torchvision's ResNet "v1.5"), the depthwise of ``separable``, the ``k x 1`` of
  ``spatial`` (which strides both axes).
- ``bias=None`` means ``norm is None``; a bias, when on, is on every convolution of the block.
- ``repeats=r > 1`` chains ``r`` copies (``c_in -> c_out``, then ``c_out -> c_out``) as children
  ``repeat1 .. repeat{r}`` of the returned Sequential; ``repeats=1`` returns the flat block.

With ``activation=None`` and ``norm=None`` every block is linear, so its convolutions compose into
one kernel (chapter 3 composes two 3x3 into a 5x5).
"""

from __future__ import annotations

import numbers
from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

BLOCK_KINDS = ("plain", "stacked", "bottleneck", "grouped", "separable", "spatial")
ACTIVATIONS = (None, "relu", "gelu", "silu")
NORMS = (None, "batch")

_ACTIVATION_LAYERS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
# Which options are meaningful for which kinds; passing them elsewhere is an error, not a no-op.
_GROUPED_KINDS = ("grouped", "bottleneck")
_INNER_KINDS = ("separable", "spatial")
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class BlockSpec:
    """Validated arguments of one block (what make_block builds and block_params counts)."""

    kind: str
    c_in: int
    c_out: int
    kernel_size: int
    stride: int
    groups: int
    mid_channels: int | None  # resolved for "bottleneck", None otherwise
    repeats: int
    activation: str | None
    norm: str | None
    bias: bool  # resolved
    inner_activation: bool


def _check_int(name: str, value: object, minimum: int) -> int:
    # bool is an int subclass: True would silently mean 1 channel.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}")
    return int(value)  # numpy integers become plain ints


def _check_choice(name: str, value: object, allowed: tuple) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be one of {allowed}; got {type(value).__name__} {value!r}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value


def _check_bool(name: str, value: object, allow_none: bool = False) -> bool | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        allowed = "True, False or None" if allow_none else "True or False"
        raise TypeError(f"{name} must be {allowed}; got {type(value).__name__} {value!r}")
    return value


def block_spec(
    kind: str,
    c_in: int,
    c_out: int,
    kernel_size: int = 3,
    *,
    stride: int = 1,
    groups: int = 1,
    mid_channels: int | None = None,
    repeats: int = 1,
    activation: str | None = "relu",
    norm: str | None = None,
    bias: bool | None = None,
    inner_activation: bool = False,
) -> BlockSpec:
    """Validate the arguments of :func:`make_block` and resolve its defaults.

    Raises ``TypeError`` (wrong type; ``bool`` is not accepted where an ``int`` is expected) or
    ``ValueError`` (wrong value), naming the argument and what it accepts.
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be one of {BLOCK_KINDS}; got {type(kind).__name__} {kind!r}")
    if kind not in BLOCK_KINDS:
        raise ValueError(f"kind must be one of {BLOCK_KINDS}; got {kind!r}")
    c_in = _check_int("c_in", c_in, 1)
    c_out = _check_int("c_out", c_out, 1)
    kernel_size = _check_int("kernel_size", kernel_size, 1)
    if kind == "stacked" and kernel_size < 3:
        raise ValueError(f"kernel_size must be odd and >= 3 for 'stacked' (3, 5, 7, ...); "
                         f"got {kernel_size}")
    if kernel_size % 2 == 0:
        # Even kernels cannot be padded symmetrically to keep the size ("same" padding).
        raise ValueError(
            f"kernel_size must be odd (1, 3, 5, 7, ...; >= 3 for 'stacked'); got {kernel_size}"
        )
    stride = _check_int("stride", stride, 1)
    repeats = _check_int("repeats", repeats, 1)
    groups = _check_int("groups", groups, 1)
    if groups != 1 and kind not in _GROUPED_KINDS:
        raise ValueError(
            f"groups applies only to kinds {_GROUPED_KINDS}; got groups={groups} for {kind!r}"
        )
    if mid_channels is not None:
        mid_channels = _check_int("mid_channels", mid_channels, 1)
        if kind != "bottleneck":
            raise ValueError(
                f"mid_channels applies only to kind 'bottleneck'; got {mid_channels} for {kind!r}"
            )
    if kind == "bottleneck" and mid_channels is None:
        mid_channels = max(1, c_out // 4)
    _check_choice("activation", activation, ACTIVATIONS)
    _check_choice("norm", norm, NORMS)
    _check_bool("bias", bias, allow_none=True)
    _check_bool("inner_activation", inner_activation)
    if inner_activation and kind not in _INNER_KINDS:
        raise ValueError(
            f"inner_activation applies only to kinds {_INNER_KINDS}; got True for {kind!r}"
        )
    if kind == "grouped":
        for name, channels in (("c_in", c_in), ("c_out", c_out)):
            if channels % groups:
                raise ValueError(
                    f"groups must divide c_in and c_out; got groups={groups}, {name}={channels}"
                )
    if kind == "bottleneck" and mid_channels % groups:
        raise ValueError(
            f"groups must divide mid_channels for 'bottleneck'; "
            f"got groups={groups}, mid_channels={mid_channels}"
        )
    return BlockSpec(kind, c_in, c_out, kernel_size, stride, groups, mid_channels, repeats,
                     activation, norm, norm is None if bias is None else bias, inner_activation)


def stacked_depth(kernel_size: int) -> int:
    """How many 3x3 convolutions have the receptive field of one ``k x k``: ``(k - 1) / 2``."""
    return (block_spec("stacked", 1, 1, kernel_size).kernel_size - 1) // 2  # validates k


# ---------------------------------------------------------------------------- building


def _conv_plan(spec: BlockSpec, c_in: int, stride: int) -> list[tuple[str, nn.Conv2d, bool]]:
    """The convolutions of one repeat: ``(name, conv, followed_by_norm_and_activation)``."""
    k, c_out, b = spec.kernel_size, spec.c_out, spec.bias
    p = k // 2
    if spec.kind in ("plain", "grouped"):
        return [("conv1", nn.Conv2d(c_in, c_out, k, stride, p, groups=spec.groups, bias=b), True)]
    if spec.kind == "stacked":
        return [(f"conv{i + 1}",
                 nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, stride if i == 0 else 1, 1, bias=b),
                 True)
                for i in range(stacked_depth(k))]
    if spec.kind == "bottleneck":
        m = spec.mid_channels
        return [("conv1", nn.Conv2d(c_in, m, 1, bias=b), True),
                ("conv2", nn.Conv2d(m, m, k, stride, p, groups=spec.groups, bias=b), True),
                ("conv3", nn.Conv2d(m, c_out, 1, bias=b), True)]
    if spec.kind == "separable":
        depthwise = nn.Conv2d(c_in, c_in, k, stride, p, groups=c_in, bias=b)
        return [("depthwise", depthwise, spec.inner_activation),
                ("pointwise", nn.Conv2d(c_in, c_out, 1, bias=b), True)]
    # "spatial": k x 1 then 1 x k; the k x 1 strides both axes (its width is 1, so it can).
    vertical = nn.Conv2d(c_in, c_out, (k, 1), stride, (p, 0), bias=b)
    return [("vertical", vertical, spec.inner_activation),
            ("horizontal", nn.Conv2d(c_out, c_out, (1, k), 1, (0, p), bias=b), True)]


def _build_one(spec: BlockSpec, c_in: int, stride: int) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (name, conv, followed) in enumerate(_conv_plan(spec, c_in, stride), start=1):
        layers[name] = conv
        if followed and spec.norm == "batch":
            layers[f"bn{i}"] = nn.BatchNorm2d(conv.out_channels)
        if followed and spec.activation is not None:
            layers[f"act{i}"] = _ACTIVATION_LAYERS[spec.activation]()
    return nn.Sequential(layers)


class Residual(nn.Module):
    """``x + body(x)``: an identity shortcut around a unit that keeps the shape."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def make_block(
    kind: str,
    c_in: int,
    c_out: int,
    kernel_size: int = 3,
    *,
    stride: int = 1,
    groups: int = 1,
    mid_channels: int | None = None,
    repeats: int = 1,
    activation: str | None = "relu",
    norm: str | None = None,
    bias: bool | None = None,
    inner_activation: bool = False,
    residual: bool = False,
) -> nn.Sequential:
    """Build one block of ``kind`` (see the module docstring for the kinds and placement rules).

    ``residual=True`` adds an identity shortcut, ``y = x + unit(x)``, around every repeat whose
    input and output shapes agree (all but a first repeat that changes the width or strides), as
    ResNet does to keep a deep stack trainable; the shortcut has no weights, so the count is the
    same.

    Children are named ``conv1, bn1, act1, conv2, ...`` (``depthwise``/``pointwise`` for
    ``separable``, ``vertical``/``horizontal`` for ``spatial``); with ``repeats > 1`` they are
    grouped as ``repeat1, repeat2, ...``. The weight count is :func:`block_params`.
    """
    spec = block_spec(kind, c_in, c_out, kernel_size, stride=stride, groups=groups,
                      mid_channels=mid_channels, repeats=repeats, activation=activation, norm=norm,
                      bias=bias, inner_activation=inner_activation)
    _check_bool("residual", residual)
    units = [_build_one(spec, spec.c_in if r == 0 else spec.c_out, spec.stride if r == 0 else 1)
             for r in range(spec.repeats)]
    if residual:
        units = [unit if r == 0 and (spec.c_in != spec.c_out or spec.stride != 1) else Residual(unit)
                 for r, unit in enumerate(units)]
    if spec.repeats == 1:
        return units[0]
    return nn.Sequential(OrderedDict((f"repeat{r + 1}", unit) for r, unit in enumerate(units)))


# ---------------------------------------------------------------------------- counting


def _unit_params(spec: BlockSpec, c_in: int) -> int:
    """Weights of one repeat whose input has ``c_in`` channels (``b`` bias, ``2`` per BatchNorm)."""
    k, o, g = spec.kernel_size, spec.c_out, spec.groups
    b = int(spec.bias)
    bn = 2 if spec.norm == "batch" else 0
    if spec.kind in ("plain", "grouped"):
        return (c_in // g) * o * k * k + (b + bn) * o
    if spec.kind == "stacked":
        n = stacked_depth(k)
        return 9 * c_in * o + 9 * o * o * (n - 1) + n * (b + bn) * o
    if spec.kind == "bottleneck":
        m = spec.mid_channels
        return c_in * m + (m // g) * m * k * k + m * o + (b + bn) * (2 * m + o)
    inner_bn = bn if spec.inner_activation else 0
    if spec.kind == "separable":
        return c_in * k * k + c_in * o + b * (c_in + o) + inner_bn * c_in + bn * o
    # "spatial"
    return k * c_in * o + k * o * o + 2 * b * o + inner_bn * o + bn * o


def block_params(
    kind: str,
    c_in: int,
    c_out: int,
    kernel_size: int = 3,
    **options: object,
) -> int:
    """Closed-form learnable-parameter count of ``make_block(kind, c_in, c_out, k, **options)``.

    Per repeat, with ``b = 1`` if bias else ``0``, ``bn = 2`` with ``norm="batch"`` else ``0``
    (BatchNorm's weight and bias; its running statistics are buffers, not parameters),
    ``i`` = 1 if ``inner_activation`` else 0:

    - plain:      ``c_in * c_out * k^2 + (b + bn) * c_out``
    - grouped:    ``(c_in / g) * c_out * k^2 + (b + bn) * c_out``
    - stacked:    ``9 * c_in * c_out + 9 * c_out^2 * (n - 1) + n * (b + bn) * c_out``,
      ``n = (k - 1) / 2``
    - bottleneck: ``c_in * m + (m / g) * m * k^2 + m * c_out + (b + bn) * (2m + c_out)``
    - separable:  ``c_in * k^2 + c_in * c_out + b * (c_in + c_out) + bn * (i * c_in + c_out)``
    - spatial:    ``k * c_in * c_out + k * c_out^2 + 2b * c_out + bn * (i + 1) * c_out``

    The first repeat has input ``c_in``; the other ``repeats - 1`` have input ``c_out``.
    """
    spec = block_spec(kind, c_in, c_out, kernel_size, **options)  # type: ignore[arg-type]
    return _unit_params(spec, spec.c_in) + (spec.repeats - 1) * _unit_params(spec, spec.c_out)


def _count(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def describe_block(
    kind: str,
    c_in: int,
    c_out: int,
    kernel_size: int = 3,
    **options: object,
) -> str:
    """One line for tables, e.g. ``"two stacked 3x3 convolutions (5x5 receptive field)"``."""
    spec = block_spec(kind, c_in, c_out, kernel_size, **options)  # type: ignore[arg-type]
    k = spec.kernel_size
    if kind == "plain":
        text = f"one {k}x{k} convolution"
    elif kind == "stacked":
        n = stacked_depth(k)
        plural = "s" if n > 1 else ""
        text = f"{_count(n)} stacked 3x3 convolution{plural} ({k}x{k} receptive field)"
    elif kind == "bottleneck":
        grouped = f" in {spec.groups} groups" if spec.groups > 1 else ""
        text = f"bottleneck 1x1, {k}x{k}{grouped}, 1x1 through {spec.mid_channels} channels"
    elif kind == "grouped":
        text = f"one {k}x{k} convolution in {spec.groups} group{'s' if spec.groups > 1 else ''}"
    elif kind == "separable":
        text = f"depthwise {k}x{k} + pointwise 1x1 (depthwise separable)"
    else:
        text = f"{k}x1 then 1x{k} convolutions (spatially separable)"
    if spec.repeats > 1:
        text = f"{spec.repeats} x [{text}]"
    if spec.stride > 1:
        text += f", stride {spec.stride}"
    return text
