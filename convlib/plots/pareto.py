"""Chapter 7's evidence figure: test accuracy against weights and against measured time, for
every convolutional variant of the reference experiments, with the Pareto front marked.

The points come from :func:`convlib.results.pareto_points` (intervals from
:func:`convlib.stats.accuracy_interval`); this module only draws them, in the book's style map
(one colour and marker per construction, :mod:`convlib.plots.style`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from convlib.plots.style import CONSTRUCTIONS, construction_style, line_style

PANELS = (("conv_params", "front_weights", "convolution weights (count, log scale)"),
          ("ms_per_image", "front_time", "training time per image (ms, log scale)"))


def construction_of(spec: tuple) -> tuple[str, int | None]:
    """The style map's construction of a variant's builder spec (``Variant.build.spec``, an
    ``ArticleNet`` or a ``FrameNet``): ``("plain", k)`` for a plain k x k network (with or
    without the frame's 1x1 depth control), ``(kind, None)`` for the other block kinds of the
    style map, ``("cnn", None)`` for anything else."""
    if not isinstance(spec, tuple) or len(spec) < 3 or spec[0] not in ("ArticleNet", "FrameNet"):
        return ("cnn", None)
    kind, kernel_size = spec[1], spec[2]
    if kind in ("plain", "plain-1x1"):
        return ("plain", kernel_size)
    return (kind, None) if kind in CONSTRUCTIONS else ("cnn", None)


def variant_styles(variants: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """``{variant name: line style}`` from the style map, for an experiment's ``variants``, so that
    a construction has the same colour, line and marker in every figure of the book."""
    return {v.name: {k: val for k, val in line_style(*construction_of(getattr(v.build, "spec", None))).items()
                     if k != "label"} for v in variants}


def plot_pareto(axes: Sequence[Any], rows: Sequence[Mapping[str, Any]],
                constructions: Mapping[tuple[str, str], tuple[str, int | None]]) -> None:
    """Two panels on ``axes``: test accuracy (%, with its 95 % interval) against convolution
    weights, then against training time per image; points on each panel's Pareto front are filled
    and joined by a step line, the others hollow. ``constructions`` maps ``(experiment, variant)``
    of each row to its ``(kind, kernel_size)`` for the style map. The accuracy axis spans the
    points' means ±5 points, within 0-100 %: an interval wider than that runs off the panel."""
    if len(axes) != 2:
        raise ValueError(f"axes must be two panels (weights, time); got {len(axes)}")
    if not rows:
        raise ValueError("rows must hold at least one variant (convlib.results.pareto_points)")
    for panel, (ax, (cost, front, xlabel)) in enumerate(zip(axes, PANELS)):
        labelled = set() if panel == 1 else None  # one legend, on the second panel
        for row in rows:
            style = construction_style(*constructions[(row["experiment"], row["variant"])])
            on = row[front]
            ax.errorbar(row[cost], 100 * row["test_acc"],
                        yerr=[[100 * (row["test_acc"] - row["low"])], [100 * (row["high"] - row["test_acc"])]],
                        fmt=style["marker"], color=style["color"], markersize=8, capsize=3,
                        markerfacecolor=style["color"] if on else "white",
                        label=None if labelled is None or style["label"] in labelled else style["label"])
            if labelled is not None:
                labelled.add(style["label"])
        best = sorted((r for r in rows if r[front]), key=lambda r: r[cost])
        ax.step([r[cost] for r in best], [100 * r["test_acc"] for r in best], where="post",
                color="black", linewidth=1.0, alpha=0.6, label="Pareto front" if panel else None)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    means = [100 * row["test_acc"] for row in rows]  # the points set the range, not a wild interval
    for ax in axes:
        ax.set_ylim(max(0.0, min(means) - 5), min(100.0, max(means) + 5))
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_title("accuracy against weights")
    axes[1].set_title("accuracy against measured time")
    from matplotlib.ticker import NullFormatter, ScalarFormatter  # deferred: matplotlib is heavy

    axes[1].xaxis.set_major_formatter(ScalarFormatter())  # 1, 2, 5 ms rather than 2 x 10^0
    for ax in axes:  # minor labels of a short log axis (3x10^3, 4x10^3) run into each other
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[1].figure.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncols=3)
