"""The convolution blocks the book compares: one ``nn.Module`` class per published block.

Every block maps ``(N, c_in, H, W)`` to ``(N, c_out, ceil(H / stride), ceil(W / stride))``:
all kernels are odd and "same"-padded (``k // 2`` on each side of each axis that has size ``k``).

=================  =============  ============================================================
class              kind           convolutions (``k`` = kernel size, ``g`` groups, ``m`` mid)
=================  =============  ============================================================
PlainBlock         ``plain``      one ``k x k`` ``c_in -> c_out``
StackedBlock       ``stacked``    ``n = (k - 1) / 2`` 3x3, the receptive field of one ``k x k``
BottleneckBlock    ``bottleneck`` 1x1 ``c_in -> m``, ``k x k`` ``m -> m`` in ``g`` groups, 1x1
                                  ``m -> c_out`` (``m`` defaults to ``max(1, c_out // 4)``)
GroupedBlock       ``grouped``    one ``k x k`` ``c_in -> c_out`` in ``g`` groups
SeparableBlock     ``separable``  depthwise ``k x k`` (``groups = c_in``), pointwise 1x1
SpatialBlock       ``spatial``    ``k x 1`` ``c_in -> c_out``, then ``1 x k`` ``c_out -> c_out``
ConvNeXtBlock      (frame)        depthwise ``k x k``, norm, 1x1 expansion, GELU, 1x1, shortcut
DepthControlBlock  (frame)        a plain ``k x k`` then a plain 1x1 (``plain-1x1``)
=================  =============  ============================================================

:func:`make_block` builds the first six by name (:data:`BLOCKS` maps the names to the classes),
with repeats and identity shortcuts; :func:`make_frame_block` adds the last two for the book's
comparison frame. Placement rules (the weight formulas of :func:`block_params` depend on them):

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
  ``repeat1 .. repeat{r}`` of the returned Sequential; ``repeats=1`` returns the block itself.

With ``activation=None`` and ``norm=None`` every block is linear, so its convolutions compose into
one kernel (chapter 3 composes two 3x3 into a 5x5).

A new kind is one :class:`Block` subclass (its convolutions, its weight formula from
:mod:`convlib.params`, its one-line description), one entry of :data:`BLOCKS` and a test
(tests/test_blocks.py checks every kind's formula against the built module).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import ClassVar

from torch import nn

from convlib import params
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


def default_mid_channels(c_out: int) -> int:
    """The bottleneck's default width, ResNet's ratio: ``max(1, c_out // 4)``."""
    return max(1, as_int("c_out", c_out) // 4)


def number_word(n: int) -> str:
    """``n`` in words up to nine ("two"), in digits beyond."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


# ---------------------------------------------------------------------------- the blocks


class Block(nn.Sequential):
    """One block of a kind: its convolutions in order, each followed by its BatchNorm and its
    activation as the placement rules say (module docstring).

    ``Block(c_in, c_out, kernel_size, **options)`` takes the arguments of :func:`make_block`
    except ``repeats`` and ``residual``. A subclass names its ``kind`` and gives
    :meth:`convolutions`, :meth:`weights` (the closed form) and :meth:`describe`; ``options`` are
    the kind-specific arguments it accepts (``groups``, ``mid_channels``, ``inner_activation``),
    ``groups_divide`` the :class:`BlockSpec` fields that ``groups`` must divide.
    """

    kind: ClassVar[str]
    options: ClassVar[tuple[str, ...]] = ()
    groups_divide: ClassVar[tuple[str, ...]] = ()
    min_kernel: ClassVar[int] = 1

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, **options: object) -> None:
        spec = block_spec(self.kind, c_in, c_out, kernel_size, **options)  # type: ignore[arg-type]
        if spec.repeats != 1:
            raise ValueError(f"{type(self).__name__} is one block; got repeats={spec.repeats} "
                             "(make_block chains repeats)")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (name, conv, followed) in enumerate(self.convolutions(spec), start=1):
            layers[name] = conv
            if followed and spec.norm == "batch":
                layers[f"bn{i}"] = nn.BatchNorm2d(conv.out_channels)
            if followed and spec.activation is not None:
                layers[f"act{i}"] = _ACTIVATION_LAYERS[spec.activation]()
        super().__init__(layers)

    @staticmethod
    def convolutions(s: BlockSpec) -> list[tuple[str, nn.Conv2d, bool]]:
        """``(name, convolution, followed by norm and activation)`` in order."""
        raise NotImplementedError

    @staticmethod
    def weights(s: BlockSpec) -> int:
        """The closed-form parameter count of the block built from ``s``."""
        raise NotImplementedError

    @staticmethod
    def describe(s: BlockSpec) -> str:
        """One line for tables."""
        raise NotImplementedError


def _norm(s: BlockSpec, channels: int) -> int:
    """BatchNorm's weights after a convolution with ``channels`` outputs (0 without norm)."""
    return params.batchnorm_params(channels) if s.norm == "batch" else 0


class PlainBlock(Block):
    """One ``k x k`` convolution, the unit of LeNet (LeCun et al., "Gradient-based learning
    applied to document recognition", 1998) and AlexNet. Weights, ``b`` = 1 with bias,
    ``bn`` = 2 with BatchNorm:

        c_in c_out k^2 + (b + bn) c_out
    """

    kind = "plain"

    @staticmethod
    def convolutions(s):
        k = s.kernel_size
        return [("conv1", nn.Conv2d(s.c_in, s.c_out, k, s.stride, k // 2, bias=s.bias), True)]

    @staticmethod
    def weights(s):
        return params.conv2d_params(s.c_in, s.c_out, s.kernel_size, bias=s.bias) + _norm(s, s.c_out)

    @staticmethod
    def describe(s):
        return f"one {s.kernel_size}x{s.kernel_size} convolution"


class StackedBlock(Block):
    """``n = (k - 1) / 2`` stacked 3x3 convolutions, which see as far as one ``k x k`` (VGG:
    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
    2015), ``c_in -> c_out`` then ``c_out -> c_out``. Weights:

        9 c_in c_out + 9 (n - 1) c_out^2 + n (b + bn) c_out
    """

    kind = "stacked"
    min_kernel = 3

    @staticmethod
    def convolutions(s):
        return [(f"conv{i + 1}", nn.Conv2d(s.c_in if i == 0 else s.c_out, s.c_out, 3,
                                           s.stride if i == 0 else 1, 1, bias=s.bias), True)
                for i in range(stacked_depth(s.kernel_size))]

    @staticmethod
    def weights(s):
        return (params.stacked_params(s.c_in, s.c_out, s.kernel_size, bias=s.bias)
                + stacked_depth(s.kernel_size) * _norm(s, s.c_out))

    @staticmethod
    def describe(s):
        n, k = stacked_depth(s.kernel_size), s.kernel_size
        plural = "s" if n > 1 else ""
        return f"{number_word(n)} stacked 3x3 convolution{plural} ({k}x{k} receptive field)"


class BottleneckBlock(Block):
    """ResNet's bottleneck (He et al., "Deep Residual Learning for Image Recognition", 2016):
    1x1 ``c_in -> m``, ``k x k`` ``m -> m``, 1x1 ``m -> c_out``; with ``groups = g`` on the
    ``k x k``, ResNeXt's block (Xie et al., "Aggregated Residual Transformations for Deep Neural
    Networks", 2017). No shortcut here: ``make_block(..., residual=True)`` adds it. Weights:

        c_in m + (m / g) m k^2 + m c_out + (b + bn) (2 m + c_out)
    """

    kind = "bottleneck"
    options = ("groups", "mid_channels")
    groups_divide = ("mid_channels",)

    @staticmethod
    def convolutions(s):
        k, m, b = s.kernel_size, s.mid_channels, s.bias
        return [("conv1", nn.Conv2d(s.c_in, m, 1, bias=b), True),
                ("conv2", nn.Conv2d(m, m, k, s.stride, k // 2, groups=s.groups, bias=b), True),
                ("conv3", nn.Conv2d(m, s.c_out, 1, bias=b), True)]

    @staticmethod
    def weights(s):
        m = s.mid_channels
        return (params.bottleneck_params(s.c_in, m, s.kernel_size, bias=s.bias, c_out=s.c_out,
                                    groups=s.groups)
                + 2 * _norm(s, m) + _norm(s, s.c_out))

    @staticmethod
    def describe(s):
        k = s.kernel_size
        grouped = f" in {s.groups} groups" if s.groups > 1 else ""
        return f"bottleneck 1x1, {k}x{k}{grouped}, 1x1 through {s.mid_channels} channels"


class GroupedBlock(Block):
    """One ``k x k`` convolution in ``g`` groups, each group seeing ``c_in / g`` channels
    (AlexNet's two-GPU split, Krizhevsky et al., 2012; the cardinality of ResNeXt, Xie et al.,
    2017). Weights, ``g`` times fewer than a plain convolution's:

        (c_in / g) c_out k^2 + (b + bn) c_out
    """

    kind = "grouped"
    options = ("groups",)
    groups_divide = ("c_in", "c_out")

    @staticmethod
    def convolutions(s):
        k = s.kernel_size
        conv = nn.Conv2d(s.c_in, s.c_out, k, s.stride, k // 2, groups=s.groups, bias=s.bias)
        return [("conv1", conv, True)]

    @staticmethod
    def weights(s):
        return (params.grouped_params(s.c_in, s.c_out, s.kernel_size, s.groups, bias=s.bias)
                + _norm(s, s.c_out))

    @staticmethod
    def describe(s):
        plural = "s" if s.groups > 1 else ""
        return f"one {s.kernel_size}x{s.kernel_size} convolution in {s.groups} group{plural}"


class SeparableBlock(Block):
    """A depthwise ``k x k`` convolution (one filter per channel) then a pointwise 1x1
    ``c_in -> c_out`` (MobileNet: Howard et al., "MobileNets: Efficient Convolutional Neural
    Networks for Mobile Vision Applications", 2017; Xception: Chollet, 2017). Weights, ``i`` = 1
    with ``inner_activation``:

        c_in k^2 + c_in c_out + b (c_in + c_out) + bn (i c_in + c_out)
    """

    kind = "separable"
    options = ("inner_activation",)

    @staticmethod
    def convolutions(s):
        k, b = s.kernel_size, s.bias
        depthwise = nn.Conv2d(s.c_in, s.c_in, k, s.stride, k // 2, groups=s.c_in, bias=b)
        return [("depthwise", depthwise, s.inner_activation),
                ("pointwise", nn.Conv2d(s.c_in, s.c_out, 1, bias=b), True)]

    @staticmethod
    def weights(s):  # the depthwise's norm only with inner_activation (True counts 1)
        return (params.depthwise_separable_params(s.c_in, s.c_out, s.kernel_size, bias=s.bias)
                + s.inner_activation * _norm(s, s.c_in) + _norm(s, s.c_out))

    @staticmethod
    def describe(s):
        return f"depthwise {s.kernel_size}x{s.kernel_size} + pointwise 1x1 (depthwise separable)"


class SpatialBlock(Block):
    """A ``k x 1`` convolution ``c_in -> c_out`` then a ``1 x k`` ``c_out -> c_out``, the
    factorised kernel of Inception v3 (Szegedy et al., "Rethinking the Inception Architecture
    for Computer Vision", 2016). The ``k x 1`` strides both axes (its width is 1, so it can).
    Weights:

        k c_in c_out + k c_out^2 + 2 b c_out + bn (i + 1) c_out
    """

    kind = "spatial"
    options = ("inner_activation",)

    @staticmethod
    def convolutions(s):
        k, o, b = s.kernel_size, s.c_out, s.bias
        vertical = nn.Conv2d(s.c_in, o, (k, 1), s.stride, (k // 2, 0), bias=b)
        return [("vertical", vertical, s.inner_activation),
                ("horizontal", nn.Conv2d(o, o, (1, k), 1, (0, k // 2), bias=b), True)]

    @staticmethod
    def weights(s):  # the k x 1's norm only with inner_activation (True counts 1)
        return (params.spatially_separable_params(s.c_in, s.c_out, s.kernel_size, bias=s.bias)
                + (s.inner_activation + 1) * _norm(s, s.c_out))

    @staticmethod
    def describe(s):
        return f"{s.kernel_size}x1 then 1x{s.kernel_size} convolutions (spatially separable)"


BLOCKS: dict[str, type[Block]] = {block.kind: block for block in (
    PlainBlock, StackedBlock, BottleneckBlock, GroupedBlock, SeparableBlock, SpatialBlock)}
BLOCK_KINDS = tuple(BLOCKS)


# ---------------------------------------------------------------------------- validation


def _check_options(block: type[Block], **given: object) -> None:
    """Refuse a kind-specific option given (not at its default) to a kind that does not take it."""
    for option, value in given.items():
        if value != _OPTION_DEFAULTS[option] and option not in block.options:
            takers = tuple(name for name, b in BLOCKS.items() if option in b.options)
            kinds = f"kind {takers[0]!r}" if len(takers) == 1 else f"kinds {takers}"
            raise ValueError(f"{option} applies only to {kinds}; got {option}={value!r} "
                             f"for {block.kind!r}")


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
    block = BLOCKS[as_choice("kind", kind, tuple(BLOCKS))]
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    context = f" for {kind!r}" if block.min_kernel > 1 else ""
    kernel_size = as_odd_kernel("kernel_size", kernel_size, minimum=block.min_kernel,
                                context=context)
    stride, repeats = as_int("stride", stride), as_int("repeats", repeats)
    groups = as_int("groups", groups)
    if mid_channels is not None:
        mid_channels = as_int("mid_channels", mid_channels)
    as_choice("activation", activation, ACTIVATIONS)
    as_choice("norm", norm, NORMS)
    as_bool("bias", bias, allow_none=True)
    as_bool("inner_activation", inner_activation)
    _check_options(block, groups=groups, mid_channels=mid_channels,
                   inner_activation=inner_activation)
    if "mid_channels" in block.options and mid_channels is None:
        mid_channels = default_mid_channels(c_out)
    spec = BlockSpec(kind, c_in, c_out, kernel_size, stride, groups, mid_channels, repeats,
                     activation, norm, norm is None if bias is None else bias, inner_activation)
    if block.groups_divide:
        as_divisor("groups", groups, **{name: getattr(spec, name) for name in block.groups_divide})
    return spec


def _repeat_specs(spec: BlockSpec) -> list[BlockSpec]:
    """The spec of each repeat: the first takes ``c_in`` and strides, the others keep the size."""
    return [replace(spec, repeats=1) if r == 0
            else replace(spec, c_in=spec.c_out, stride=1, repeats=1)
            for r in range(spec.repeats)]


# ---------------------------------------------------------------------------- building


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
    """Build the block of ``kind`` (the class :data:`BLOCKS` names; see the module docstring).

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
    unit_options = {name: value for name, value in options.items() if name != "repeats"}
    units: list[nn.Module] = []
    for r, unit in enumerate(_repeat_specs(spec)):
        block = BLOCKS[spec.kind](unit.c_in, unit.c_out, unit.kernel_size,
                                  **{**unit_options, "stride": unit.stride})
        keeps_shape = unit.c_in == unit.c_out and unit.stride == 1
        units.append(Residual(block) if residual and (r > 0 or keeps_shape) else block)
    if spec.repeats == 1:
        return units[0]
    return nn.Sequential(OrderedDict((f"repeat{r + 1}", unit) for r, unit in enumerate(units)))


# ---------------------------------------------------------------------------- the frame's blocks


class ConvNeXtBlock(nn.Module):
    """ConvNeXt's block (Liu et al., "A ConvNet for the 2020s", 2022), ``c`` channels in and out:

        y = x + W_2 GELU(W_1 N(DW_k(x)))

    a depthwise ``k x k`` convolution (``DW_k``, ConvNeXt: k = 7), a norm ``N``, a 1x1
    expansion ``W_1`` to ``e c`` channels (ConvNeXt: e = 4), GELU, a 1x1 projection ``W_2``
    back to ``c``, and the identity shortcut. Every convolution has a bias. Weights:

        c k^2 + c  +  2c  +  e c^2 + e c  +  e c^2 + c  =  c k^2 + 2 e c^2 + (4 + e) c.

    Two changes for the book's small networks, both stated where it is used: BatchNorm stands
    for ConvNeXt's LayerNorm (the other networks of a comparison use BatchNorm), and the
    projection starts at zero (weights and bias) instead of ConvNeXt's layer scale of 1e-6, so
    that the block starts as the identity (as :class:`Residual` does for the ResNet blocks).
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


FRAME_LAYERS = {"norm": "batch", "activation": "relu"}  # after every convolution of the frame


class DepthControlBlock(nn.Sequential):
    """A plain ``k x k`` convolution followed by a plain 1x1, each with BatchNorm and ReLU
    (:data:`FRAME_LAYERS`): the book's depth control for a stack of two 3x3 (as many
    convolutions and non-linearities, one large kernel), the ``"plain-1x1"`` frame kind; it has
    no paper of its own. Weights:

        c_in c_out k^2 + c_out^2 + 2 (2 + b) c_out   (b = 1 with bias; BatchNorm: bias off)
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, **options: object) -> None:
        super().__init__(OrderedDict([
            ("large", make_block("plain", c_in, c_out, kernel_size, **FRAME_LAYERS, **options)),
            ("pointwise", make_block("plain", c_out, c_out, 1, **FRAME_LAYERS, **options))]))


FRAME_KINDS = (*BLOCK_KINDS, "convnext", "plain-1x1")


def make_frame_block(kind: str, c_in: int, c_out: int, kernel_size: int = 3,
                     **options: object) -> nn.Module:
    """A block of the book's comparison frame (:class:`convlib.models.FrameNet`), every
    convolution followed by BatchNorm and ReLU (:data:`FRAME_LAYERS`): the kinds of
    :func:`make_block`, and two more:

    - ``"convnext"``: a 1x1 convolution + BatchNorm + ReLU from ``c_in`` to ``c_out`` when they
      differ (the frame's pooling does ConvNeXt's downsampling), then a :class:`ConvNeXtBlock`
      of ``kernel_size`` (``expansion`` option, default 4);
    - ``"plain-1x1"``: a :class:`DepthControlBlock`.
    """
    as_choice("kind", kind, FRAME_KINDS)
    if kind == "plain-1x1":
        return DepthControlBlock(c_in, c_out, kernel_size, **options)
    if kind == "convnext":
        expansion = options.pop("expansion", 4)
        if options:
            raise ValueError(f"options of 'convnext' must be only 'expansion'; "
                             f"got {sorted(options)}")
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
    """Closed-form learnable-parameter count of ``make_block(kind, c_in, c_out, k, **options)``:
    each repeat's count is its class's formula (``weights``, in its docstring), the first repeat
    with input ``c_in``, the other ``repeats - 1`` with input ``c_out``. BatchNorm counts its
    weight and bias; its running statistics are buffers, not parameters."""
    spec = block_spec(kind, c_in, c_out, kernel_size, **options)  # type: ignore[arg-type]
    return sum(BLOCKS[spec.kind].weights(unit) for unit in _repeat_specs(spec))


def describe_block(
    kind: str,
    c_in: int,
    c_out: int,
    kernel_size: int = 3,
    **options: object,
) -> str:
    """One line for tables, e.g. ``"two stacked 3x3 convolutions (5x5 receptive field)"``."""
    spec = block_spec(kind, c_in, c_out, kernel_size, **options)  # type: ignore[arg-type]
    text = BLOCKS[spec.kind].describe(spec)
    if spec.repeats > 1:
        text = f"{spec.repeats} x [{text}]"
    if spec.stride > 1:
        text += f", stride {spec.stride}"
    return text


__all__ = ["ACTIVATIONS", "BLOCKS", "BLOCK_KINDS", "FRAME_KINDS", "FRAME_LAYERS", "NORMS", "Block",
           "BlockSpec", "BottleneckBlock", "ConvNeXtBlock", "DepthControlBlock", "GroupedBlock",
           "PlainBlock", "Residual", "SeparableBlock", "SpatialBlock", "StackedBlock",
           "block_params", "block_spec", "default_mid_channels",
           "describe_block", "make_block", "make_frame_block", "number_word", "stacked_depth"]
