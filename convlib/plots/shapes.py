"""Shape drawings of a block: its tensors with their shapes, and the weights of each layer.

:func:`block_layers` builds the block with :func:`convlib.blocks.make_block` (after validating
its arguments with :func:`convlib.blocks.block_spec`, the specification both share) and reads
every convolution off the built module: kernel, groups, input and output shapes, and the weights
of the convolution with its BatchNorm. The drawing (:func:`plot_block`, :func:`block_figure`)
shows only what that list holds, so it cannot disagree with the module: the weights it prints
sum to the module's parameter count (``tests/test_plots_shapes.py`` checks it for every kind).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from convlib.blocks import block_spec, describe_block, make_block
from convlib.plots.style import construction_style

__all__ = ["LayerShape", "block_layers", "plot_block", "block_figure"]

_KIND_OF_LAYER = {"depthwise": "depthwise", "pointwise": "pointwise"}


@dataclass(frozen=True)
class LayerShape:
    """One convolution of a block: its name in the module, what it does, and its weights."""

    name: str  # e.g. "conv1", "repeat2.depthwise"
    kernel: tuple[int, int]
    groups: int
    stride: int
    in_shape: tuple[int, int, int]  # (channels, height, width)
    out_shape: tuple[int, int, int]
    weights: int  # the convolution's parameters plus those of the BatchNorm that follows it

    def caption(self) -> str:
        """Two or three short lines: ``"3x3 conv" / "groups 4" / "9,216 weights"``."""
        kh, kw = self.kernel
        role = self.name.rsplit(".", 1)[-1]
        what = _KIND_OF_LAYER.get(role, "conv")
        lines = [f"{kh}x{kw} {what}"]
        if self.groups > 1 and what != "depthwise":
            lines.append(f"{self.groups} groups")
        if self.stride > 1:
            lines.append(f"stride {self.stride}")
        lines.append(f"{self.weights:,} weights")
        return "\n".join(lines)


def _out_size(size: int, conv: nn.Conv2d, axis: int) -> int:
    k, s, p, d = (conv.kernel_size[axis], conv.stride[axis], conv.padding[axis],
                  conv.dilation[axis])
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _check_size(size: Any) -> tuple[int, int]:
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
                   for s in size)):
        raise ValueError(f"size must be an int >= 1 or a pair (height, width) of them; "
                         f"got {size!r}")
    return int(size[0]), int(size[1])


def block_layers(kind: str, c_in: int, c_out: int, kernel_size: int = 3, *,
                 size: int | tuple[int, int] = 32, **options: Any) -> list[LayerShape]:
    """The convolutions of ``make_block(kind, c_in, c_out, kernel_size, **options)`` in order,
    on an input of ``size`` (``H`` or ``(H, W)``) pixels, read off the built module.

    A convolution's weights include its bias and the BatchNorm that follows it, so the sum over
    the list is the block's parameter count (:func:`convlib.blocks.block_params`).
    """
    block_spec(kind, c_in, c_out, kernel_size, **options)  # validates, naming the argument
    height, width = _check_size(size)
    module = make_block(kind, c_in, c_out, kernel_size, **options)
    named = list(module.named_modules())
    layers: list[LayerShape] = []
    shape = (c_in, height, width)
    for position, (name, conv) in enumerate(named):
        if not isinstance(conv, nn.Conv2d):
            continue
        out = (conv.out_channels, _out_size(shape[1], conv, 0), _out_size(shape[2], conv, 1))
        weights = sum(p.numel() for p in conv.parameters())
        following = next((m for _, m in named[position + 1:]
                          if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))), None)
        if isinstance(following, nn.BatchNorm2d):
            weights += sum(p.numel() for p in following.parameters())
        layers.append(LayerShape(name, tuple(conv.kernel_size), conv.groups, conv.stride[0],
                                 shape, out, weights))
        shape = out
    return layers


def _tensor_box(ax: Any, x: float, shape: tuple[int, int, int], largest: tuple[int, int],
                style: dict[str, Any]) -> float:
    """Draw one tensor as a box (height ~ sqrt(channels), width ~ sqrt(pixels)); its width."""
    from matplotlib.patches import Rectangle  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    c, h, w = shape
    box_h = 0.12 + 0.38 * math.sqrt(c / largest[0])
    box_w = 0.12 + 0.22 * math.sqrt(h * w / largest[1])
    ax.add_patch(Rectangle((x - box_w / 2, 0.45 - box_h / 2), box_w, box_h,
                           facecolor=style["color"], hatch=style["hatch"], alpha=0.55,
                           edgecolor="black", linewidth=0.8))
    ax.text(x, 0.45 - box_h / 2 - 0.04, f"{c}x{h}x{w}", ha="center", va="top", fontsize=10)
    return box_w


def plot_block(ax: Any, kind: str, c_in: int, c_out: int, kernel_size: int = 3, *,
               size: int | tuple[int, int] = 32, title: str | None = None,
               **options: Any) -> list[LayerShape]:
    """Draw the block on ``ax``, left to right: each tensor as a box labelled
    ``channels x height x width`` (box height grows with the channels, width with the pixels),
    each convolution as an arrow labelled with its kernel, groups, stride and weights.

    The title (default: :func:`convlib.blocks.describe_block` and the total weights) and the
    colour/hatch of the boxes come from the book's style map. Returns :func:`block_layers`.
    """
    layers = block_layers(kind, c_in, c_out, kernel_size, size=size, **options)
    style = construction_style(kind, kernel_size)
    shapes = [layers[0].in_shape] + [layer.out_shape for layer in layers]
    largest = (max(s[0] for s in shapes), max(s[1] * s[2] for s in shapes))
    widths = [_tensor_box(ax, i + 0.5, s, largest, style) for i, s in enumerate(shapes)]
    for i, layer in enumerate(layers):
        start, end = i + 0.5 + widths[i] / 2, i + 1.5 - widths[i + 1] / 2
        ax.annotate("", xy=(end, 0.45), xytext=(start, 0.45),
                    arrowprops=dict(arrowstyle="-|>", color="black", linewidth=1.2))
        ax.text(i + 1.0, 0.72, layer.caption(), ha="center", va="bottom", fontsize=10,
                linespacing=1.15)
    total = sum(layer.weights for layer in layers)
    if title is None:
        title = f"{describe_block(kind, c_in, c_out, kernel_size, **options)}: {total:,} weights"
    ax.set_title(title, fontsize=11)
    ax.set_xlim(0, len(shapes))
    ax.set_ylim(0, 1.2)
    ax.axis("off")
    return layers


def block_figure(blocks: Sequence[dict[str, Any]], *, size: int | tuple[int, int] = 32,
                 width: float = 7.0, suptitle: str | None = None):
    """One row per block, each a :func:`plot_block` drawing; returns the matplotlib Figure.

    ``blocks`` is a list of keyword dicts for :func:`plot_block`, e.g.
    ``[dict(kind="plain", c_in=64, c_out=64, kernel_size=5),
    dict(kind="stacked", c_in=64, c_out=64, kernel_size=5)]``. ``width`` (inches, default 7)
    keeps the text at 9 pt or more at page width.
    """
    import matplotlib.pyplot as plt  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    if isinstance(blocks, dict) or not isinstance(blocks, Sequence) or not blocks \
            or not all(isinstance(b, dict) for b in blocks):
        raise TypeError("blocks must be a non-empty list of dicts of plot_block arguments, "
                        "e.g. [dict(kind='stacked', c_in=64, c_out=64, kernel_size=5)]")
    fig, axes = plt.subplots(len(blocks), 1, figsize=(width, 2.3 * len(blocks)), squeeze=False)
    for ax, block in zip(axes[:, 0], blocks):
        plot_block(ax, **{"size": size, **block})
    if suptitle is not None:
        fig.suptitle(suptitle, fontsize=12)
    fig.tight_layout()
    return fig
