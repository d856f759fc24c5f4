"""Figures of chapter 2: how real architectures spend their convolution weights, by kernel size.

:func:`kernel_share_matrix` turns per-model :func:`convlib.census.census_summary` results into
one table (models x kernel sizes) of the share of each model's convolution weights held by each
kernel size; :func:`plot_kernel_shares` draws it as horizontal stacked bars, one bar per model,
each kernel size with its own colour *and* hatch so that the figure reads in grayscale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from convlib.census import LAYER_KINDS, KernelCount, kernel_label
from convlib.plots import COLORS
from convlib.plots.style import PLAIN_KERNEL_COLORS, construction_style

__all__ = ["KERNEL_HATCHES", "KIND_LABELS", "kernel_order", "kernel_share_matrix",
           "kernel_styles", "plot_kernel_shares", "plot_kind_shares"]

KERNEL_HATCHES = ("", "//", "\\\\", "xx", "..", "oo", "--", "||", "++", "**")
# The book's colours without black (a black fill would hide its hatch), and three more.
_PALETTE = tuple(c for c in COLORS if c != "#000000") + ("#B3DE69", "#999999", "#8C510A")


def kernel_order(kernel_sizes: Any) -> list[tuple[int, int]]:
    """Distinct ``(kh, kw)`` kernel sizes, largest area first, as ``census_summary`` sorts them
    (ties: the taller kernel first, so 7x1 before 1x7)."""
    sizes = {tuple(k) for k in kernel_sizes}
    return sorted(sizes, key=lambda k: (-k[0] * k[1], -k[0], -k[1]))


def kernel_share_matrix(
    summaries: Mapping[str, Sequence[KernelCount]],
) -> tuple[list[str], list[str], list[list[float]]]:
    """``(models, kernels, shares)``: ``shares[m][j]`` is the share of model ``models[m]``'s
    convolution weights held by its kernels of size ``kernels[j]``,
    ``params(kernel j) / sum of params over all kernel sizes`` (0.0 where the model has none).

    ``summaries`` maps a model name to its ``census_summary``; models keep the mapping's order,
    kernels are every size any model uses, largest area first. Each row sums to 1 (up to
    rounding) for a model with at least one weight.
    """
    if not isinstance(summaries, Mapping) or not summaries:
        raise ValueError("summaries must be a non-empty mapping of model name -> "
                         "census_summary(model)")
    for name, summary in summaries.items():
        if not isinstance(summary, (list, tuple)) \
                or not all(isinstance(c, KernelCount) for c in summary):
            raise TypeError(f"summaries[{name!r}] must be a list of KernelCount, as census_summary "
                            f"returns; got {type(summary).__name__}")
        if not summary:
            raise ValueError(f"summaries[{name!r}] is empty: the model has no nn.Conv2d")
    order = kernel_order(c.kernel_size for summary in summaries.values() for c in summary)
    shares = []
    for summary in summaries.values():
        total = sum(c.params for c in summary)
        by_kernel = {tuple(c.kernel_size): c.params for c in summary}
        shares.append([by_kernel.get(k, 0) / total if total else 0.0 for k in order])
    return list(summaries), [kernel_label(k) for k in order], shares


def kernel_styles(kernels: Sequence[str]) -> dict[str, dict[str, str]]:
    """A fill colour and a hatch per kernel label, in order (at most 10 kernel sizes): a square
    kernel gets the colour of a plain convolution of that size in the book's style map
    (:data:`convlib.plots.style.PLAIN_KERNEL_COLORS`), other kernels one of the book's colours."""
    if len(kernels) > len(KERNEL_HATCHES):
        raise ValueError(f"at most {len(KERNEL_HATCHES)} kernel sizes can be told apart; "
                         f"got {len(kernels)}")
    styles = {}
    for j, kernel in enumerate(kernels):
        side = kernel.split("x")
        square = len(side) == 2 and side[0] == side[1] and side[0].isdigit()
        # Square kernels take the book's colour of a plain k x k convolution (the style map).
        color = PLAIN_KERNEL_COLORS.get(int(side[0])) if square else None
        styles[kernel] = {"color": color or _PALETTE[j], "hatch": KERNEL_HATCHES[j]}
    return styles



def _stacked_bars(ax, shares: Sequence[Sequence[float]], series: Sequence[tuple[str, Any, str]],
                  label_min: float) -> None:
    """One horizontal bar per row of ``shares`` (fractions), stacked by column; ``series``: each
    column's (legend label, colour, hatch). Segments of at least ``label_min`` show their %."""
    positions = list(range(len(shares)))
    left = [0.0] * len(shares)
    for j, (label, color, hatch) in enumerate(series):
        widths = [100.0 * row[j] for row in shares]
        bars = ax.barh(positions, widths, left=left, label=label, color=color, hatch=hatch,
                       edgecolor="black", linewidth=0.6, height=0.7)
        for bar, width, start in zip(bars, widths, left):
            if width >= 100.0 * label_min:
                ax.text(start + width / 2, bar.get_y() + bar.get_height() / 2, f"{width:.0f}%",
                        ha="center", va="center", fontsize=9,
                        bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none",
                                  alpha=0.85))
        left = [a + w for a, w in zip(left, widths)]

def plot_kernel_shares(ax, summaries: Mapping[str, Sequence[KernelCount]],
                       labels: Mapping[str, str] | None = None, *, label_min: float = 0.1):
    """Horizontal stacked bars on ``ax``: one bar per model (first model on top), its length
    split by the share of its convolution weights per kernel size, in percent.

    Segments of at least ``label_min`` (a share) are labelled with their percentage. Adds the
    legend (one entry per kernel size). Returns ``(models, kernels, shares)`` as
    :func:`kernel_share_matrix` computes them, for the caller to assert.
    """
    models, kernels, shares = kernel_share_matrix(summaries)
    labels = dict(labels or {})
    styles = kernel_styles(kernels)
    _stacked_bars(ax, shares, [(kernel, styles[kernel]["color"], styles[kernel]["hatch"])
                               for kernel in kernels], label_min)
    ax.set_yticks(list(range(len(models))), [labels.get(m, m) for m in models])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.legend(title="kernel", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return models, kernels, shares


# Layer kinds (convlib.census.LAYER_KINDS) drawn as the constructions of the style map: a
# depthwise layer as the depthwise-separable construction, a 1x1 as a plain 1x1, a full kxk as
# a plain convolution (its base colour, which stands out from the 1x1's), a grouped layer as
# grouped, the classifier as a dense layer.
_KIND_STYLES = {"depthwise": ("separable", None), "pointwise": ("plain", 1),
                "full": ("plain", None), "grouped": ("grouped", None),
                "classifier": ("dense", None)}
KIND_LABELS = {"depthwise": "depthwise k x k", "pointwise": "pointwise 1x1",
               "full": "full k x k (k > 1)", "grouped": "grouped k x k",
               "classifier": "classifier (dense)"}


def plot_kind_shares(ax, totals: Mapping[str, Mapping[str, Mapping[str, int]]], what: str,
                     labels: Mapping[str, str] | None = None, *, label_min: float = 0.1,
                     legend: bool = True) -> list[list[float]]:
    """Horizontal stacked bars on ``ax``: one bar per model (first on top), split by the share
    of its ``what`` (``"weights"`` or ``"macs"``) held by each kind of layer, in percent.

    ``totals`` maps a model name to :func:`convlib.census.weights_and_macs_by_kind`'s result.
    Each kind takes its construction's colour and hatch from the style map. Segments of at
    least ``label_min`` are labelled. Returns the shares (rows: models, columns: kinds in
    :data:`convlib.census.LAYER_KINDS` order), each row summing to 1.
    """
    if what not in ("weights", "macs"):
        raise ValueError(f"what must be 'weights' or 'macs'; got {what!r}")
    if not isinstance(totals, Mapping) or not totals:
        raise ValueError("totals must be a non-empty mapping of model name -> "
                         "weights_and_macs_by_kind(model, input_shape)")
    shares = []
    for name, kinds in totals.items():
        if set(kinds) != set(LAYER_KINDS):
            raise ValueError(f"totals[{name!r}] must have the kinds {LAYER_KINDS}; "
                             f"got {sorted(kinds)}")
        total = sum(kinds[k][what] for k in LAYER_KINDS)
        shares.append([kinds[k][what] / total if total else 0.0 for k in LAYER_KINDS])
    labels = dict(labels or {})
    kind_styles = [construction_style(*_KIND_STYLES[kind]) for kind in LAYER_KINDS]
    _stacked_bars(ax, shares, [(KIND_LABELS[kind], style["color"], style["hatch"])
                               for kind, style in zip(LAYER_KINDS, kind_styles)], label_min)
    ax.set_yticks(list(range(len(shares))), [labels.get(m, m) for m in totals])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    if legend:
        ax.legend(title="kind of layer", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False)
    return shares
