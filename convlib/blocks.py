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

Every kind is one entry of the registry :data:`BLOCKS` (a :class:`BlockKind`): the convolutions of
one repeat, the closed-form weight count built from :mod:`convlib.params`, the one-line
description and the options that apply to it. A new kind is one entry there, its formula in
:mod:`convlib.params` and a test (tests/test_blocks.py checks every kind's formula against the
built module).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from convlib import params as P
from convlib._checks import as_bool, as_choice, as_divisor, as_int, as_odd_kernel
from convlib.params import stacked_depth

ACTIVATIONS = (None, "relu", "gelu", "silu")
NORMS = (None, "batch")

_ACTIVATION_LAYERS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
# The options that only some kinds take, with their defaults: passing one to another kind is an
# error, not a no-op.
_OPTION_DEFAULTS = {"groups": 1, "mid_channels": None, "inner_activation": False}
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


ConvPlan = list[tuple[str, nn.Conv2d, bool]]
"""The convolutions of one repeat: ``(name, conv, followed_by_norm_and_activation)``."""


@dataclass(frozen=True)
class BlockKind:
    """One kind of block: its convolutions, its closed-form weights and its description.

    ``convs(spec, c_in, stride)`` and ``weights(spec, c_in)`` describe one repeat whose input has
    ``c_in`` channels; ``text(spec)`` is the one-line description of one repeat. ``options`` are
    the kind-specific arguments it accepts (``groups``, ``mid_channels``, ``inner_activation``);
    ``groups_divide`` names the :class:`BlockSpec` fields that ``groups`` must divide.
    """

    name: str
    convs: Callable[[BlockSpec, int, int], ConvPlan]
    weights: Callable[[BlockSpec, int], int]
    text: Callable[[BlockSpec], str]
    options: tuple[str, ...] = ()
    groups_divide: tuple[str, ...] = ()
    min_kernel: int = 1


def default_mid_channels(c_out: int) -> int:
    """The bottleneck's default width, ResNet's ratio: ``max(1, c_out // 4)``."""
    return max(1, as_int("c_out", c_out) // 4)


def number_word(n: int) -> str:
    """``n`` in words up to nine ("two"), in digits beyond."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def _norm_weights(spec: BlockSpec, channels: int) -> int:
    """BatchNorm's weights after a convolution with ``channels`` outputs (0 without norm)."""
    return P.batchnorm_params(channels) if spec.norm == "batch" else 0


# ---------------------------------------------------------------------------- the kinds


def _single_convs(spec: BlockSpec, c_in: int, stride: int) -> ConvPlan:
    k = spec.kernel_size
    conv = nn.Conv2d(c_in, spec.c_out, k, stride, k // 2, groups=spec.groups, bias=spec.bias)
    return [("conv1", conv, True)]


def _plain_weights(spec: BlockSpec, c_in: int) -> int:
    return (P.conv2d_params(c_in, spec.c_out, spec.kernel_size, bias=spec.bias)
            + _norm_weights(spec, spec.c_out))


def _grouped_weights(spec: BlockSpec, c_in: int) -> int:
    return (P.grouped_params(c_in, spec.c_out, spec.kernel_size, spec.groups, bias=spec.bias)
            + _norm_weights(spec, spec.c_out))


def _stacked_convs(spec: BlockSpec, c_in: int, stride: int) -> ConvPlan:
    o = spec.c_out
    return [(f"conv{i + 1}",
             nn.Conv2d(c_in if i == 0 else o, o, 3, stride if i == 0 else 1, 1, bias=spec.bias), True)
            for i in range(stacked_depth(spec.kernel_size))]


def _stacked_weights(spec: BlockSpec, c_in: int) -> int:
    n = stacked_depth(spec.kernel_size)
    return (P.stacked_params(c_in, spec.c_out, spec.kernel_size, bias=spec.bias)
            + n * _norm_weights(spec, spec.c_out))


def _stacked_text(spec: BlockSpec) -> str:
    n, k = stacked_depth(spec.kernel_size), spec.kernel_size
    plural = "s" if n > 1 else ""
    return f"{number_word(n)} stacked 3x3 convolution{plural} ({k}x{k} receptive field)"


def _bottleneck_convs(spec: BlockSpec, c_in: int, stride: int) -> ConvPlan:
    k, m, b = spec.kernel_size, spec.mid_channels, spec.bias
    return [("conv1", nn.Conv2d(c_in, m, 1, bias=b), True),
            ("conv2", nn.Conv2d(m, m, k, stride, k // 2, groups=spec.groups, bias=b), True),
            ("conv3", nn.Conv2d(m, spec.c_out, 1, bias=b), True)]


def _bottleneck_weights(spec: BlockSpec, c_in: int) -> int:
    m = spec.mid_channels
    return (P.bottleneck_params(c_in, m, spec.kernel_size, bias=spec.bias, c_out=spec.c_out,
                                groups=spec.groups)
            + 2 * _norm_weights(spec, m) + _norm_weights(spec, spec.c_out))


def _bottleneck_text(spec: BlockSpec) -> str:
    k = spec.kernel_size
    grouped = f" in {spec.groups} groups" if spec.groups > 1 else ""
    return f"bottleneck 1x1, {k}x{k}{grouped}, 1x1 through {spec.mid_channels} channels"


def _separable_convs(spec: BlockSpec, c_in: int, stride: int) -> ConvPlan:
    k, b = spec.kernel_size, spec.bias
    depthwise = nn.Conv2d(c_in, c_in, k, stride, k // 2, groups=c_in, bias=b)
    return [("depthwise", depthwise, spec.inner_activation),
            ("pointwise", nn.Conv2d(c_in, spec.c_out, 1, bias=b), True)]


def _separable_weights(spec: BlockSpec, c_in: int) -> int:
    inner = _norm_weights(spec, c_in) if spec.inner_activation else 0
    return (P.depthwise_separable_params(c_in, spec.c_out, spec.kernel_size, bias=spec.bias)
            + inner + _norm_weights(spec, spec.c_out))


def _spatial_convs(spec: BlockSpec, c_in: int, stride: int) -> ConvPlan:
    # k x 1 then 1 x k; the k x 1 strides both axes (its width is 1, so it can).
    k, o, b = spec.kernel_size, spec.c_out, spec.bias
    vertical = nn.Conv2d(c_in, o, (k, 1), stride, (k // 2, 0), bias=b)
    return [("vertical", vertical, spec.inner_activation),
            ("horizontal", nn.Conv2d(o, o, (1, k), 1, (0, k // 2), bias=b), True)]


def _spatial_weights(spec: BlockSpec, c_in: int) -> int:
    inner = _norm_weights(spec, spec.c_out) if spec.inner_activation else 0
    return (P.spatially_separable_params(c_in, spec.c_out, spec.kernel_size, bias=spec.bias)
            + inner + _norm_weights(spec, spec.c_out))


BLOCKS: dict[str, BlockKind] = {kind.name: kind for kind in (
    BlockKind("plain", _single_convs, _plain_weights,
              lambda s: f"one {s.kernel_size}x{s.kernel_size} convolution"),
    BlockKind("stacked", _stacked_convs, _stacked_weights, _stacked_text, min_kernel=3),
    BlockKind("bottleneck", _bottleneck_convs, _bottleneck_weights, _bottleneck_text,
              options=("groups", "mid_channels"), groups_divide=("mid_channels",)),
    BlockKind("grouped", _single_convs, _grouped_weights,
              lambda s: (f"one {s.kernel_size}x{s.kernel_size} convolution in {s.groups} "
                         f"group{'s' if s.groups > 1 else ''}"),
              options=("groups",), groups_divide=("c_in", "c_out")),
    BlockKind("separable", _separable_convs, _separable_weights,
              lambda s: (f"depthwise {s.kernel_size}x{s.kernel_size} + pointwise 1x1 "
                         "(depthwise separable)"),
              options=("inner_activation",)),
    BlockKind("spatial", _spatial_convs, _spatial_weights,
              lambda s: (f"{s.kernel_size}x1 then 1x{s.kernel_size} convolutions "
                         "(spatially separable)"),
              options=("inner_activation",)),
)}
BLOCK_KINDS = tuple(BLOCKS)


# ---------------------------------------------------------------------------- validation


def block_kind(kind: str) -> BlockKind:
    """The registry entry of ``kind`` (one of :data:`BLOCK_KINDS`)."""
    return BLOCKS[as_choice("kind", kind, tuple(BLOCKS))]


def _check_options(block: BlockKind, **given: object) -> None:
    """Refuse a kind-specific option given (not at its default) to a kind that does not take it."""
    for option, value in given.items():
        if value != _OPTION_DEFAULTS[option] and option not in block.options:
            takers = tuple(k.name for k in BLOCKS.values() if option in k.options)
            kinds = f"kind {takers[0]!r}" if len(takers) == 1 else f"kinds {takers}"
            raise ValueError(f"{option} applies only to {kinds}; got {option}={value!r} "
                             f"for {block.name!r}")


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
    block = block_kind(kind)
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    context = f" for {kind!r}" if block.min_kernel > 1 else ""
    kernel_size = as_odd_kernel("kernel_size", kernel_size, minimum=block.min_kernel,
                                context=context)
    stride, repeats, groups = as_int("stride", stride), as_int("repeats", repeats), as_int("groups", groups)
    if mid_channels is not None:
        mid_channels = as_int("mid_channels", mid_channels)
    as_choice("activation", activation, ACTIVATIONS)
    as_choice("norm", norm, NORMS)
    as_bool("bias", bias, allow_none=True)
    as_bool("inner_activation", inner_activation)
    _check_options(block, groups=groups, mid_channels=mid_channels, inner_activation=inner_activation)
    if "mid_channels" in block.options and mid_channels is None:
        mid_channels = default_mid_channels(c_out)
    spec = BlockSpec(kind, c_in, c_out, kernel_size, stride, groups, mid_channels, repeats,
                     activation, norm, norm is None if bias is None else bias, inner_activation)
    if block.groups_divide:
        as_divisor("groups", groups, **{name: getattr(spec, name) for name in block.groups_divide})
    return spec


# ---------------------------------------------------------------------------- building


def _build_one(spec: BlockSpec, c_in: int, stride: int) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (name, conv, followed) in enumerate(BLOCKS[spec.kind].convs(spec, c_in, stride), start=1):
        layers[name] = conv
        if followed and spec.norm == "batch":
            layers[f"bn{i}"] = nn.BatchNorm2d(conv.out_channels)
        if followed and spec.activation is not None:
            layers[f"act{i}"] = _ACTIVATION_LAYERS[spec.activation]()
    return nn.Sequential(layers)


class Residual(nn.Module):
    """``x + body(x)``: an identity shortcut around a unit that keeps the shape.

    The body's last BatchNorm starts with a zero scale, so that each residual unit starts as the
    identity (torchvision's ``zero_init_residual``; Goyal et al., 2017): measured on the book's
    8-bottleneck blocks, without it the network's first epoch blows up (loss 6.4) and it never
    leaves chance accuracy."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        norms = [m for m in body.modules() if isinstance(m, nn.BatchNorm2d)]
        if norms:
            nn.init.zeros_(norms[-1].weight)

    def forward(self, x):
        return x + self.body(x)


def make_block(
    kind: str,
    c_in: int,
    c_out: int,
    kernel_size: int = 3,
    *,
    residual: bool = False,
    **options: object,
) -> nn.Sequential:
    """Build one block of ``kind`` (see the module docstring for the kinds and placement rules).

    ``options`` are those of :func:`block_spec`: ``stride``, ``groups``, ``mid_channels``,
    ``repeats``, ``activation`` (default ``"relu"``), ``norm``, ``bias`` and ``inner_activation``.

    ``residual=True`` adds an identity shortcut, ``y = x + unit(x)``, around every repeat whose
    input and output shapes agree (all but a first repeat that changes the width or strides), as
    ResNet does to keep a deep stack trainable; the shortcut has no weights, so the count is the
    same.

    Children are named ``conv1, bn1, act1, conv2, ...`` (``depthwise``/``pointwise`` for
    ``separable``, ``vertical``/``horizontal`` for ``spatial``); with ``repeats > 1`` they are
    grouped as ``repeat1, repeat2, ...``. The weight count is :func:`block_params`.
    """
    spec = block_spec(kind, c_in, c_out, kernel_size, **options)  # type: ignore[arg-type]
    as_bool("residual", residual)
    units = [_build_one(spec, spec.c_in if r == 0 else spec.c_out, spec.stride if r == 0 else 1)
             for r in range(spec.repeats)]
    if residual:
        units = [unit if r == 0 and (spec.c_in != spec.c_out or spec.stride != 1) else Residual(unit)
                 for r, unit in enumerate(units)]
    if spec.repeats == 1:
        return units[0]
    return nn.Sequential(OrderedDict((f"repeat{r + 1}", unit) for r, unit in enumerate(units)))


# ---------------------------------------------------------------------------- published blocks


class ConvNeXtBlock(nn.Module):
    """ConvNeXt's block (Liu et al., "A ConvNet for the 2020s", 2022), ``c`` channels in and out:

        y = x + W_2 GELU(W_1 N(DW_k(x)))

    a depthwise ``k x k`` convolution (``DW_k``, ConvNeXt: k = 7), a norm ``N``, a 1x1
    expansion ``W_1`` to ``e c`` channels (ConvNeXt: e = 4), GELU, a 1x1 projection ``W_2``
    back to ``c``, and the identity shortcut. Every convolution has a bias. Weights:

        c k^2 + c  +  2c  +  e c^2 + e c  +  e c^2 + c  =  c k^2 + 2 e c^2 + (4 + e) c.

    Two changes for the book's small networks, both stated where it is used: BatchNorm stands
    for ConvNeXt's LayerNorm (the other networks of a comparison use BatchNorm), and the
    projection starts at zero (weights and bias) instead of ConvNeXt's layer scale of 1e-6, so that the
    block starts as the identity (as :class:`Residual` does for the ResNet blocks).
    """

    def __init__(self, channels: int, kernel_size: int = 7, expansion: int = 4) -> None:
        super().__init__()
        c, k = as_int("channels", channels), as_odd_kernel("kernel_size", kernel_size)
        e = as_int("expansion", expansion)
        self.depthwise = nn.Conv2d(c, c, k, padding=k // 2, groups=c)
        self.norm = nn.BatchNorm2d(c)
        self.expand = nn.Conv2d(c, e * c, 1)
        self.act = nn.GELU()
        self.project = nn.Conv2d(e * c, c, 1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, x):
        return x + self.project(self.act(self.expand(self.norm(self.depthwise(x)))))


def convnext_block_params(channels: int, kernel_size: int = 7, expansion: int = 4) -> int:
    """Weights of :class:`ConvNeXtBlock`: ``c k^2 + 2 e c^2 + (4 + e) c``."""
    c, k, e = channels, kernel_size, expansion
    return c * k * k + 2 * e * c * c + (4 + e) * c


FRAME_KINDS = (*BLOCK_KINDS, "convnext", "plain-1x1")
FRAME_LAYERS = {"norm": "batch", "activation": "relu"}  # after every convolution of the frame


def make_frame_block(kind: str, c_in: int, c_out: int, kernel_size: int = 3,
                     **options: object) -> nn.Module:
    """A block of the book's comparison frame (:class:`convlib.models.FrameNet`), every
    convolution followed by BatchNorm and ReLU (:data:`FRAME_LAYERS`): the kinds of
    :func:`make_block`, and two more:

    - ``"convnext"``: a 1x1 convolution + BatchNorm + ReLU from ``c_in`` to ``c_out`` when they
      differ (the frame's pooling does ConvNeXt's downsampling), then a :class:`ConvNeXtBlock`
      of ``kernel_size`` (``expansion`` option, default 4);
    - ``"plain-1x1"``: a plain ``k x k`` convolution followed by a 1x1 convolution, each with
      BatchNorm and ReLU: the depth control of a stack of two 3x3 (as many convolutions and
      non-linearities, one large kernel).
    """
    as_choice("kind", kind, FRAME_KINDS)
    if kind == "plain-1x1":
        return nn.Sequential(OrderedDict([
            ("large", make_block("plain", c_in, c_out, kernel_size, **FRAME_LAYERS, **options)),
            ("pointwise", make_block("plain", c_out, c_out, 1, **FRAME_LAYERS, **options))]))
    if kind == "convnext":
        expansion = options.pop("expansion", 4)
        if options:
            raise ValueError(f"options of 'convnext' must be only 'expansion'; got {sorted(options)}")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if c_in != c_out:
            layers["project"] = make_block("plain", c_in, c_out, 1, **FRAME_LAYERS)
        layers["convnext"] = ConvNeXtBlock(c_out, kernel_size, expansion)
        return nn.Sequential(layers)
    return make_block(kind, c_in, c_out, kernel_size, **FRAME_LAYERS, **options)


# ---------------------------------------------------------------------------- counting


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
    ``i`` = 1 if ``inner_activation`` else 0, each kind's convolutions counted by
    :mod:`convlib.params`:

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
    weights = BLOCKS[spec.kind].weights
    return weights(spec, spec.c_in) + (spec.repeats - 1) * weights(spec, spec.c_out)


def describe_block(
    kind: str,
    c_in: int,
    c_out: int,
    kernel_size: int = 3,
    **options: object,
) -> str:
    """One line for tables, e.g. ``"two stacked 3x3 convolutions (5x5 receptive field)"``."""
    spec = block_spec(kind, c_in, c_out, kernel_size, **options)  # type: ignore[arg-type]
    text = BLOCKS[spec.kind].text(spec)
    if spec.repeats > 1:
        text = f"{spec.repeats} x [{text}]"
    if spec.stride > 1:
        text += f", stride {spec.stride}"
    return text


__all__ = ["ACTIVATIONS", "BLOCKS", "BLOCK_KINDS", "FRAME_KINDS", "NORMS", "BlockKind", "BlockSpec",
           "ConvNeXtBlock", "ConvPlan", "FRAME_LAYERS", "Residual", "convnext_block_params", "make_frame_block", "block_kind", "block_params", "block_spec", "default_mid_channels",
           "describe_block", "make_block", "number_word", "stacked_depth"]
