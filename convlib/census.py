"""Which kernels real architectures use: one row per ``nn.Conv2d``, and totals per kernel size.

A convolution ``c_in -> c_out`` with a ``kh x kw`` kernel in ``g`` groups holds
``(c_in / g) * c_out * kh * kw`` weights, plus ``c_out`` biases when it has them; that is the
``params`` of its :class:`ConvRow`. Only ``nn.Conv2d`` (and subclasses) are counted: dense layers,
BatchNorm and transposed convolutions are not convolution kernels in the chapter's sense.

The architectures themselves (AlexNet ... MobileNetV2, and ZFNet, which torchvision lacks) are in
:mod:`convlib.zoo`; :data:`ARTICLE_MODELS` and :func:`build_model` are re-exported here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from convlib._checks import as_bool, as_module, as_shape
from convlib.flops import flops_by_layer
from convlib.zoo import ARTICLE_MODELS, ArticleModel, ZFNet, build_model, zfnet

if TYPE_CHECKING:  # pandas is imported only by to_frame
    import pandas as pd

__all__ = [
    "ConvRow", "KernelCount", "kernel_census", "census_summary", "first_conv", "largest_kernel",
    "conv2d_weights", "kernel_label", "to_frame", "LAYER_KINDS", "layer_kind",
    "weights_and_macs_by_kind",
    "ARTICLE_MODELS", "ArticleModel", "ZFNet", "build_model", "zfnet",
]


def kernel_label(kernel_size: tuple[int, int]) -> str:
    """``(7, 1) -> "7x1"``: height x width, as the papers write them."""
    return f"{kernel_size[0]}x{kernel_size[1]}"


@dataclass(frozen=True)
class ConvRow:
    """One ``nn.Conv2d`` of a model."""

    name: str  # qualified, as in model.named_modules()
    kernel: str  # "kh x kw" label, e.g. "11x11", "1x7"
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] | str
    dilation: tuple[int, int]
    groups: int
    in_channels: int
    out_channels: int
    params: int  # weights + biases
    depthwise: bool  # groups == in_channels > 1: one filter per input channel

    @property
    def area(self) -> int:
        """``kh * kw``: the number of taps per input channel, the census' sort key."""
        return self.kernel_size[0] * self.kernel_size[1]


@dataclass(frozen=True)
class KernelCount:
    """All the convolutions of one kernel size in a model."""

    kernel: str
    kernel_size: tuple[int, int]
    convs: int
    params: int
    depthwise: int  # how many of the convs are depthwise
    share: float  # params / all convolution params of the model


def _check_model(model: Any) -> nn.Module:
    return as_module("model", model)


def _row(name: str, conv: nn.Conv2d) -> ConvRow:
    params = conv.weight.numel() + (conv.bias.numel() if conv.bias is not None else 0)
    kernel_size = tuple(conv.kernel_size)
    return ConvRow(
        name=name, kernel=kernel_label(kernel_size), kernel_size=kernel_size,
        stride=tuple(conv.stride), padding=conv.padding if isinstance(conv.padding, str)
        else tuple(conv.padding), dilation=tuple(conv.dilation), groups=conv.groups,
        in_channels=conv.in_channels, out_channels=conv.out_channels, params=params,
        depthwise=conv.groups == conv.in_channels > 1,
    )


def kernel_census(model: nn.Module) -> list[ConvRow]:
    """One :class:`ConvRow` per ``nn.Conv2d`` of ``model``, in module (definition) order.

    A module reused at several places is listed once, as ``named_modules`` does, so the rows'
    ``params`` add up to the convolutions' share of ``count_params(model)``.
    """
    _check_model(model)
    return [_row(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def conv2d_weights(model: nn.Module) -> int:
    """Weights and biases of every ``nn.Conv2d`` of ``model`` (no BatchNorm):
    ``sum(row.params)``. Not :meth:`convlib.models.ArticleNet.block_weights`, which counts the
    two blocks with their BatchNorms."""
    return sum(row.params for row in kernel_census(model))



def census_summary(model: nn.Module) -> list[KernelCount]:
    """Per kernel size: convolutions, parameters, depthwise convolutions and parameter share.

    Sorted by kernel area, largest first (ties: the taller kernel first, so "7x1" before "1x7").
    """
    rows = kernel_census(model)
    total = sum(row.params for row in rows)
    by_kernel: dict[tuple[int, int], list[ConvRow]] = {}
    for row in rows:
        by_kernel.setdefault(row.kernel_size, []).append(row)
    summary = []
    for k in sorted(by_kernel, key=lambda k: (-k[0] * k[1], -k[0], -k[1])):
        group = by_kernel[k]
        params = sum(r.params for r in group)
        summary.append(KernelCount(
            kernel=kernel_label(k), kernel_size=k, convs=len(group), params=params,
            depthwise=sum(r.depthwise for r in group), share=params / total if total else 0.0,
        ))
    return summary


def _rows_or_raise(model: nn.Module) -> list[ConvRow]:
    rows = kernel_census(model)
    if not rows:
        raise ValueError(f"model must contain an nn.Conv2d; this {type(model).__name__} has none")
    return rows


def first_conv(model: nn.Module) -> ConvRow:
    """The first ``nn.Conv2d`` in module order (in the article's models, the one seeing pixels)."""
    return _rows_or_raise(model)[0]


def largest_kernel(model: nn.Module, *, exclude_first: bool = False) -> ConvRow:
    """The convolution with the largest kernel area (the first such in module order).

    ``exclude_first=True`` skips the first convolution, the stem, which is often the exception
    (GoogLeNet: a 7x7 stem, 3x3/5x5 afterwards).
    """
    as_bool("exclude_first", exclude_first)
    rows = _rows_or_raise(model)[1 if exclude_first else 0:]
    if not rows:
        raise ValueError("model has only one nn.Conv2d; exclude_first=True leaves none")
    return max(rows, key=lambda row: row.area)  # max keeps the first of equal areas


def to_frame(rows: list[Any]) -> pd.DataFrame:
    """A pandas DataFrame of :class:`ConvRow` or :class:`KernelCount` rows, a column per field."""
    import pandas as pd  # deferred: about a second to import; only the book's tables need it

    if not isinstance(rows, (list, tuple)) or not all(is_dataclass(r) for r in rows):
        raise TypeError("rows must be a list of ConvRow or KernelCount, e.g. kernel_census(model); "
                        f"got {type(rows).__name__}")
    if not rows:
        return pd.DataFrame(columns=[f.name for f in fields(ConvRow)])
    return pd.DataFrame([asdict(r) for r in rows])


# The kinds of weighted layer a modern network mixes (weights_and_macs_by_kind).
LAYER_KINDS = ("depthwise", "pointwise", "full", "grouped", "classifier")


def layer_kind(module: nn.Module, per_pixel: bool = False) -> str | None:
    """Which of :data:`LAYER_KINDS` a module is: an ``nn.Conv2d`` with ``groups == c_in > 1`` is
    depthwise, an ungrouped 1x1 is pointwise, a grouped one grouped, any other full; an
    ``nn.Linear`` applied at every pixel (``per_pixel``: its input has a height and a width, as
    ConvNeXt's channels-last 1x1 layers) is pointwise, else the classifier. None for the rest."""
    if isinstance(module, nn.Conv2d):
        if module.groups == module.in_channels > 1:
            return "depthwise"
        if module.groups > 1:
            return "grouped"
        return "pointwise" if tuple(module.kernel_size) == (1, 1) else "full"
    if isinstance(module, nn.Linear):
        return "pointwise" if per_pixel else "classifier"
    return None


def _flops_and_per_pixel_linears(model: nn.Module, input_shape: tuple[int, ...]
                                  ) -> tuple[dict[str, int], set[str]]:
    """:func:`convlib.flops.flops_by_layer`, and the names of the ``nn.Linear`` modules that
    received a 4-D (N, H, W, C) input in that pass."""
    found: set[str] = set()
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            def hook(_module, inputs, _output, name=name):
                if inputs[0].dim() == 4:
                    found.add(name)
            handles.append(module.register_forward_hook(hook))
    try:
        flops = flops_by_layer(model, input_shape)
    finally:
        for handle in handles:
            handle.remove()
    return flops, found


def weights_and_macs_by_kind(model: nn.Module, input_shape: tuple[int, ...]
                             ) -> dict[str, dict[str, int]]:
    """``{kind: {"weights": w, "macs": m}}`` over :data:`LAYER_KINDS`: the weights (with biases)
    and multiply-accumulates of one forward pass on ``input_shape`` (batch included) of every
    ``nn.Conv2d`` and ``nn.Linear`` of ``model``, by :func:`layer_kind`. Normalisation, activation
    and squeeze-and-excitation pooling hold few weights and are left out. Works on the meta device.
    """
    _check_model(model)
    shape = as_shape("input_shape", input_shape)
    flops, per_pixel = _flops_and_per_pixel_linears(model, shape)
    totals = {kind: {"weights": 0, "macs": 0} for kind in LAYER_KINDS}
    for name, module in model.named_modules():
        kind = layer_kind(module, per_pixel=name in per_pixel)
        if kind is None:
            continue
        totals[kind]["weights"] += sum(p.numel() for p in module.parameters(recurse=False))
        totals[kind]["macs"] += flops.get(name, 0) // 2
    return totals
