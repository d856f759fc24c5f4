"""Roofline figures (chapter 8): measured layers against the machine's compute and memory roofs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from convlib.plots import series_styles

GIGA = 1e9


def plot_roofline(
    ax: Any,
    points: Sequence[dict[str, Any]],
    peaks: Any,
    *,
    group: str = "group",
    annotate: str | None = None,
    title: str | None = None,
    legend_loc: str | None = "lower right",
) -> None:
    """Log-log roofline on ``ax``: x = arithmetic intensity (FLOP/byte), y = achieved GFLOP/s.

    ``points`` are dicts with ``intensity`` (FLOP/byte), ``achieved_flops`` (FLOP/s) and a
    ``group`` key (e.g. the layer kind): each group gets one marker style and one legend entry.
    ``annotate``, if given, names a key whose value is written next to each point. ``peaks`` is a
    :class:`convlib.roofline.Peaks`; the roof ``min(P, I * M)`` is drawn solid, with its two
    pieces extended as thin dotted lines and the ridge point marked. ``legend_loc=None`` draws no
    legend (e.g. to draw one legend for several panels).
    """
    if not points:
        raise ValueError("points must not be empty")
    for i, point in enumerate(points):
        for key in ("intensity", "achieved_flops", group):
            if key not in point:
                raise ValueError(f"points[{i}] has no {key!r}")
        if not (point["intensity"] > 0 and point["achieved_flops"] > 0):
            raise ValueError(f"points[{i}] must have positive intensity and achieved_flops")
    xs = [p["intensity"] for p in points]
    ys = [p["achieved_flops"] / GIGA for p in points]
    low = 10 ** math.floor(math.log10(min(xs) / 2))
    high = 10 ** math.ceil(math.log10(max(max(xs) * 2, peaks.ridge * 4)))
    grid = [low * (high / low) ** (i / 200) for i in range(201)]
    roof = [peaks.bound(x) / GIGA for x in grid]
    ax.plot(grid, [x * peaks.bandwidth / GIGA for x in grid], color="0.6", linestyle=":",
            linewidth=1, marker="")
    ax.axhline(peaks.flops / GIGA, color="0.6", linestyle=":", linewidth=1)
    ax.plot(grid, roof, color="black", linestyle="-", linewidth=2, marker="",
            label=(f"roof: {peaks.flops / GIGA:,.0f} GFLOP/s, "
                   f"{peaks.bandwidth / GIGA:,.1f} GB/s"))
    ax.axvline(peaks.ridge, color="0.4", linestyle="--", linewidth=1,
               label=f"ridge point: {peaks.ridge:,.1f} FLOP/byte")
    groups = list(dict.fromkeys(p[group] for p in points))
    for name, style in zip(groups, series_styles(len(groups))):
        members = [p for p in points if p[group] == name]
        ax.plot([p["intensity"] for p in members], [p["achieved_flops"] / GIGA for p in members],
                linestyle="none", marker=style["marker"], color=style["color"], markersize=7,
                markeredgecolor="black", markeredgewidth=0.6, label=str(name))
        if annotate is not None:
            for p in members:
                if str(p[annotate]) == "":
                    continue
                ax.annotate(str(p[annotate]), (p["intensity"], p["achieved_flops"] / GIGA),
                            textcoords="offset points", xytext=(4, 3), fontsize=9)
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlim(low, high)
    top = max(max(ys), peaks.flops / GIGA) * 3
    bottom = min(min(ys), low * peaks.bandwidth / GIGA) / 3
    ax.set_ylim(bottom, top)
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("achieved (GFLOP/s)")
    ax.set_title(title or f"Roofline of {peaks.device}")
    if legend_loc is not None:
        ax.legend(loc=legend_loc)


__all__ = ["plot_roofline"]
