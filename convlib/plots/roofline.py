"""Roofline figures (chapter 8): measured layers against the machine's compute and memory roofs,
and the speed-up of each trick against the weights it saves."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from convlib.plots import series_styles
from convlib.plots.style import CONSTRUCTION_LABELS, construction_style

LABEL_MARGIN_PT = 3.0  # room around a point label, kept through a later tight_layout

GIGA = 1e9
_KIND_OF_LABEL = {label: kind for kind, label in CONSTRUCTION_LABELS.items()}


def _group_styles(groups: Sequence[str]) -> list[dict[str, Any]]:
    """The style map's look for groups named after a construction (``"grouped"``,
    ``"depthwise separable"``, ...), the book's series styles for any other name."""
    styles = []
    for name, other in zip(groups, series_styles(len(groups))):
        kind = _KIND_OF_LABEL.get(str(name), str(name))
        styles.append(construction_style(kind) if kind in CONSTRUCTION_LABELS else other)
    return styles


def _check_points(points: Sequence[dict[str, Any]], group: str) -> None:
    if not points:
        raise ValueError("points must not be empty")
    for i, point in enumerate(points):
        for key in ("intensity", "achieved_flops", group):
            if key not in point:
                raise ValueError(f"points[{i}] has no {key!r}")
        if not (point["intensity"] > 0 and point["achieved_flops"] > 0):
            raise ValueError(f"points[{i}] must have positive intensity and achieved_flops")


def roofline_limits(points: Sequence[dict[str, Any]], peaks: Any
                    ) -> tuple[tuple[float, float], tuple[float, float]]:
    """``((x_low, x_high), (y_low, y_high))`` holding every point, the roof and the ridge
    (x in FLOP/byte, y in GFLOP/s): pass them to several panels so that they share axes."""
    _check_points(points, "intensity")
    xs = [p["intensity"] for p in points]
    ys = [p["achieved_flops"] / GIGA for p in points]
    low = 10 ** math.floor(math.log10(min(min(xs), peaks.ridge) / 2))
    high = 10 ** math.ceil(math.log10(max(max(xs) * 2, peaks.ridge * 4)))
    top = max(max(ys), peaks.flops / GIGA) * 3
    bottom = min(min(ys), low * peaks.bandwidth / GIGA) / 3
    return (low, high), (bottom, top)


def label_points(ax: Any, points: Sequence[dict[str, Any]], key: str) -> None:
    """Write ``p[key]`` next to each point of a roofline (``intensity``, ``achieved_flops``),
    at the first of 24 offsets (right above, right below, left above, left below, then further
    out, with a thin leader line) where the label, as the renderer draws it, overlaps no marker
    and no label already written: first with a margin of :data:`LABEL_MARGIN_PT`, then without.
    Call it once the figure's layout is done (``tight_layout``): the labels are placed for the
    axes' final size."""
    from matplotlib.transforms import Bbox  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    get = getattr(ax.figure.canvas, "get_renderer", None)  # a base canvas has none of its own
    renderer = get() if get is not None else ax.figure._get_renderer()
    half = 4 * ax.figure.dpi / 72  # a marker, as an 8 pt square
    taken = [Bbox.from_extents(x - half, y - half, x + half, y + half) for x, y in
             (ax.transData.transform((p["intensity"], p["achieved_flops"] / GIGA))
              for p in points)]
    for p in sorted(points, key=lambda p: p["intensity"]):
        if str(p.get(key, "")) != "":
            taken.append(_place_label(ax, renderer, p, str(p[key]), taken))


_AROUND = ((6, 7), (6, -7), (-6, 7), (-6, -7), (9, 14), (9, -14), (-9, 14), (-9, -14))
LABEL_OFFSETS = tuple((dx * reach, dy * reach) for reach in (1, 2, 3) for dx, dy in _AROUND)


def _place_label(ax: Any, renderer: Any, point: dict[str, Any], text: str,
                 taken: list[Any]) -> Any:
    """Annotate ``point`` with ``text`` at the first free offset of :data:`LABEL_OFFSETS`
    (with the margin, then without; else the first offset, where the figure check names the
    overlap); returns the label's box in display pixels."""
    from matplotlib.text import Text  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    where = (point["intensity"], point["achieved_flops"] / GIGA)
    margin = LABEL_MARGIN_PT * ax.figure.dpi / 72
    for pad in (margin, 0.0, None):
        for offset in LABEL_OFFSETS if pad is not None else LABEL_OFFSETS[:1]:
            far = max(abs(offset[0]), abs(offset[1])) > 12  # a thin leader line to its point
            label = ax.annotate(text, where, textcoords="offset points", xytext=offset,
                                fontsize=10, ha="right" if offset[0] < 0 else "left",
                                va="center",
                                arrowprops=dict(arrowstyle="-", color="0.5", linewidth=0.6,
                                                shrinkA=1, shrinkB=4) if far else None)
            label.update_positions(renderer)  # where the offset puts it, before any draw
            box = Text.get_window_extent(label, renderer)  # the text, not its leader line
            if pad is None or not any(box.padded(pad).overlaps(other) for other in taken):
                return box
            label.remove()
    raise AssertionError("unreachable: the last pass keeps its label")


def _log_axes(ax: Any) -> None:
    # deferred: matplotlib is heavy (ARCHITECTURE.md)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0,), numticks=12))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())


def _draw_roof(ax: Any, peaks: Any, low: float, high: float, shade: bool) -> None:
    grid = [low * (high / low) ** (i / 200) for i in range(201)]
    ax.plot(grid, [x * peaks.bandwidth / GIGA for x in grid], color="0.6", linestyle=":",
            linewidth=1, marker="")
    ax.axhline(peaks.flops / GIGA, color="0.6", linestyle=":", linewidth=1)
    ax.plot(grid, [peaks.bound(x) / GIGA for x in grid], color="black", linestyle="-",
            linewidth=2, marker="", label=(f"roof: {peaks.flops / GIGA:,.0f} GFLOP/s, "
                                           f"{peaks.bandwidth / GIGA:,.1f} GB/s"))
    ax.axvline(peaks.ridge, color="0.4", linestyle="--", linewidth=1,
               label=f"ridge point: {peaks.ridge:,.1f} FLOP/byte")
    if shade:
        ax.axvspan(low, peaks.ridge, color="0.92", zorder=0, label="memory-bound side")


def plot_roofline(
    ax: Any,
    points: Sequence[dict[str, Any]],
    peaks: Any,
    *,
    group: str = "group",
    annotate: str | None = None,
    title: str | None = None,
    legend_loc: str | None = "lower right",
    limits: tuple[tuple[float, float], tuple[float, float]] | None = None,
    shade_memory_bound: bool = True,
) -> None:
    """Log-log roofline on ``ax``: x = arithmetic intensity (FLOP/byte), y = achieved GFLOP/s.

    ``points`` are dicts with ``intensity`` (FLOP/byte), ``achieved_flops`` (FLOP/s) and a
    ``group`` key (e.g. the layer kind): each group gets one marker style and one legend entry
    (a group named after a construction, e.g. ``"grouped"``, its look in the style map).
    ``annotate``, if given, names a key whose value is written next to each point
    (:func:`label_points`; a figure laid out later had better call it after its layout).
    ``peaks`` is a :class:`convlib.roofline.Peaks`; the roof ``min(P, I * M)`` is drawn solid,
    with its two pieces extended as thin dotted lines, the ridge point dashed, and
    (``shade_memory_bound``) the memory-bound side shaded. ``limits`` (from
    :func:`roofline_limits` over all panels' points) gives several panels the same axes.
    ``legend_loc=None`` draws no legend.
    """
    _check_points(points, group)
    (low, high), (bottom, top) = limits or roofline_limits(points, peaks)
    _draw_roof(ax, peaks, low, high, shade_memory_bound)
    groups = list(dict.fromkeys(p[group] for p in points))
    for name, style in zip(groups, _group_styles(groups)):
        members = [p for p in points if p[group] == name]
        ax.plot([p["intensity"] for p in members], [p["achieved_flops"] / GIGA for p in members],
                linestyle="none", marker=style["marker"], color=style["color"], markersize=7,
                markeredgecolor="black", markeredgewidth=0.6, label=str(name))
    _log_axes(ax)
    ax.set_xlim(low, high)
    ax.set_ylim(bottom, top)
    if annotate is not None:  # after the limits: the overlap test works in screen space
        label_points(ax, points, annotate)
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("achieved (GFLOP/s)")
    ax.set_title(title or f"Roofline of {peaks.device}")
    if legend_loc is not None:
        ax.legend(loc=legend_loc)


__all__ = ["label_points", "plot_roofline", "plot_speedups", "roofline_limits"]


def plot_speedups(ax: Any, claims: Sequence[dict[str, Any]], kind_of: dict[str, str], *,
                  series: str = "width", markers: dict[Any, str] | None = None) -> None:
    """Speed-up (y) against weight ratio (x), log-log, one point per trick, with ``y = x``
    (as many times faster as lighter) and ``y = 1`` (no faster) drawn.

    ``claims`` are dicts with ``label``, ``weight_ratio``, ``speedup`` (e.g.
    :func:`convlib.roofline.time_claims`) and the ``series`` key (default: the width); a point's
    colour is its construction's in the style map (``kind_of`` maps a label to a
    ``make_block`` kind), its fill tells the series apart (``markers``: series value -> marker
    fill, ``"full"`` or ``"none"``; default: first series filled, the others hollow). Adds a
    legend of constructions and series.
    """
    from matplotlib.lines import Line2D  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    if not claims:
        raise ValueError("claims must not be empty")
    values = list(dict.fromkeys(c[series] for c in claims))
    fills = markers or {v: ("full" if i == 0 else "none") for i, v in enumerate(values)}
    ratios = [c["weight_ratio"] for c in claims] + [c["speedup"] for c in claims]
    low, high = min(ratios + [1.0]) / 1.5, max(ratios) * 1.5
    ax.plot([low, high], [low, high], color="black", linestyle="--", linewidth=1, marker="",
            label="y = x: as many times faster as lighter")
    ax.axhline(1, color="0.4", linestyle=":", linewidth=1, label="y = 1: no faster")
    kinds = list(dict.fromkeys(kind_of[c["label"]] for c in claims))
    for c in claims:
        style = construction_style(kind_of[c["label"]])
        ax.plot([c["weight_ratio"]], [c["speedup"]], linestyle="none", marker=style["marker"],
                markersize=8, color=style["color"], markeredgecolor=style["color"],
                markeredgewidth=1.5, fillstyle=fills.get(c[series], "full"))
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], linestyle="none", color=construction_style(k)["color"],
                       marker=construction_style(k)["marker"], label=CONSTRUCTION_LABELS[k])
                for k in kinds]
    handles += [Line2D([], [], linestyle="none", color="0.3", marker="o", fillstyle=fill,
                       label=f"{series} {value}") for value, fill in fills.items()]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(min(low, min(c["speedup"] for c in claims) / 1.5), high)
    ax.set_xlabel("x fewer weights than the plain convolution (ratio)")
    ax.set_ylabel("x faster than the plain convolution (ratio)")
    ax.legend(handles=handles, loc="upper left")
