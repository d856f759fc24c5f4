"""Figures of chapters 6 and 7 (separable convolutions, the summary of the tricks).

Each helper draws on a given Axes from data the chapter computed (and asserted) itself; none of
them computes a number the text relies on. Every series has its own colour, line style and
marker (or hatch), so the figures stay readable in grayscale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from convlib.plots import series_styles
from convlib.plots.style import CONSTRUCTIONS, construction_style, line_style

HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo")


def plot_ratio_curves(ax: Any, channels: Sequence[int], curves: Mapping[str, Sequence[float]], *,
                      levels: Mapping[str, float] | None = None, markevery: int = 4,
                      styles: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """One curve per entry of ``curves`` (a ratio against the channel count ``channels``, log x),
    and a dashed horizontal line per entry of ``levels`` (e.g. the k^2 asymptotes), in the colour
    of the curve with the same index when there is one.

    ``styles`` maps a curve's name to its ``ax.plot`` keywords (e.g. :func:`trick_line_style`,
    so a construction looks as in the rest of the book); the keys it gives replace those of the
    book's series style, and curves it does not name keep the series style."""
    if not curves:
        raise ValueError("curves must hold at least one series")
    for name, values in curves.items():
        if len(values) != len(channels):
            raise ValueError(f"curves[{name!r}] has {len(values)} values "
                             f"for {len(channels)} channels")
    unknown = sorted(set(styles or {}) - set(curves))
    if unknown:
        raise ValueError(f"styles names no curve: {unknown}")
    defaults = series_styles(max(len(curves), len(levels or {})))
    chosen = styles or {}
    looks = [{**default, **chosen.get(name, {})} for name, default in zip(curves, defaults)]
    looks += defaults[len(looks):]
    for (name, values), style in zip(curves.items(), looks):
        ax.plot(channels, values, label=name, markevery=markevery, **style)
    for (name, level), style in zip((levels or {}).items(), looks):
        ax.axhline(level, color=style["color"], linestyle=(0, (4, 3)), linewidth=1.0, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(channels), max(channels))
    ax.legend(loc="best")


def trick_line_style(name: str, kernel_size: int | None = None) -> dict[str, Any]:
    """``ax.plot`` keywords (colour, line style, marker) of one construction of
    :func:`convlib.compare.compare_tricks`, from the style map; no label. ``"stacked_separable"``
    (a stack of depthwise-separable 3x3) takes the separable colour and line with the stack's
    marker, hollow (``fillstyle="none"``), as :func:`plot_tricks` draws it."""
    if name == "stacked_separable":
        style = line_style("separable")
        style.update(marker=construction_style("stacked")["marker"], fillstyle="none")
    else:
        style = line_style(name, kernel_size if name == "plain" else None)
    style.pop("label")
    return style


def _row_styles(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The style map's look for rows whose ``name`` is a construction (``"stacked"``,
    ``"bottleneck"``, ...; ``"stacked_separable"``: the separable colour, hollow), the book's
    series styles for the others."""
    styles = []
    for row, fallback in zip(rows, series_styles(len(rows))):
        name = str(row.get("name", ""))
        if name == "stacked_separable":
            styles.append(dict(construction_style("separable"),
                               marker=construction_style("stacked")["marker"],
                               fillstyle="none"))
        elif name in CONSTRUCTIONS:
            styles.append(construction_style(name, row.get("kernel_size")))
        else:
            styles.append(fallback)
    return styles


def plot_tricks(ax: Any, rows: Sequence[Mapping[str, Any]], *, pixels: int | None = None) -> None:
    """Weights (x) against FLOPs (y), log-log, one labelled marker per construction (``rows`` as
    :func:`convlib.compare.compare_tricks` returns them), in its colour and marker of the book's
    style map. With ``pixels = H * W`` the line
    ``FLOPs = 2 * pixels * weights`` (stride 1, same padding) is drawn dotted."""
    if not rows:
        raise ValueError("rows must hold at least one construction")
    for row, style in zip(rows, _row_styles(rows)):
        ax.plot([row["weights"]], [row["flops"]], linestyle="none", marker=style["marker"],
                color=style["color"], markersize=8, label=row["label"],
                fillstyle=style.get("fillstyle", "full"))
    if pixels is not None:
        low = min(r["weights"] for r in rows) / 1.5
        high = max(r["weights"] for r in rows) * 1.5
        ax.plot([low, high], [2 * pixels * low, 2 * pixels * high], color="0.5", linestyle=":",
                linewidth=1.0, marker="", label="FLOPs = 2 x H x W x weights")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter  # deferred: matplotlib is heavy

    for axis in (ax.xaxis, ax.yaxis):  # minor labels (3x10^3, 4x10^3) run into each other
        axis.set_minor_formatter(NullFormatter())
    ax.legend(loc="upper left")


def plot_shares(ax: Any, shares: Mapping[str, Mapping[str, float]], *,
                kinds: Sequence[str]) -> None:
    """Horizontal 100% stacked bars: one bar per entry of ``shares`` (e.g. "weights", "MACs"),
    split by ``kinds`` (each bar's mapping gives a fraction per kind), hatched per kind and
    labelled with the percentage where it is wide enough."""
    if not shares:
        raise ValueError("shares must hold at least one bar")
    styles = series_styles(len(kinds))
    bars = list(shares)
    for i, kind in enumerate(kinds):
        lefts = [sum(shares[b].get(k, 0.0) for k in kinds[:i]) for b in bars]
        widths = [shares[b].get(kind, 0.0) for b in bars]
        ax.barh(bars, [100 * w for w in widths], left=[100 * x for x in lefts], label=kind,
                color=styles[i]["color"], hatch=HATCHES[i % len(HATCHES)], edgecolor="black",
                linewidth=0.6)
        for y, (left, width) in enumerate(zip(lefts, widths)):
            if width >= 0.08:
                ax.text(100 * (left + width / 2), y, f"{100 * width:.0f}%", ha="center",
                        va="center", fontsize=10,
                        bbox=dict(facecolor="white", edgecolor="none", pad=1.0))
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    from matplotlib.transforms import offset_copy  # deferred: matplotlib is heavy

    # under the x label, whatever the figure's height
    below = offset_copy(ax.transAxes, fig=ax.figure, y=-_x_label_depth_pt(), units="points")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=below,
              ncol=min(len(kinds), 3))


def _x_label_depth_pt() -> float:
    """How far below its axes an x axis reaches, in points: ticks, tick labels, the label and
    their pads (rc settings), plus a small gap."""
    import matplotlib as mpl  # deferred: matplotlib is heavy (ARCHITECTURE.md)
    from matplotlib.font_manager import FontProperties  # deferred, as above

    rc = mpl.rcParams
    def line(size):
        return 1.2 * FontProperties(size=size).get_size_in_points()
    return (rc["xtick.major.size"] + rc["xtick.major.pad"] + line(rc["xtick.labelsize"])
            + rc["axes.labelpad"] + line(rc["axes.labelsize"]) + 4)
