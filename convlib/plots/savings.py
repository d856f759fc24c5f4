"""Chapter 7's first figure: how many times fewer weights each construction needs than one plain
k x k convolution, for the chapter's layer and for a very wide one.

At stride 1 every weight is used once per output pixel, so the same factor is the FLOP saving.
Each construction is drawn in its colour and hatch of the book's style map
(:mod:`convlib.plots.style`), so it looks as it does in the other chapters' figures; the
chapter computes (and asserts) every number, this module only draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from convlib.plots.style import bar_style, construction_style

# compare_tricks's rows named "stacked_separable" (a stack of depthwise-separable 3x3): the
# separable colour, with the stack's hatch added to the separable one.
STACKED_SEPARABLE_HATCH = (construction_style("stacked")["hatch"]
                           + construction_style("separable")["hatch"])


def trick_bar_style(name: str, kernel_size: int | None = None) -> dict[str, Any]:
    """``ax.barh`` keywords (colour, hatch, black edge) of one construction of
    :func:`convlib.compare.compare_tricks`, from the style map; no label."""
    if name == "stacked_separable":
        style = bar_style("separable")
        style["hatch"] = STACKED_SEPARABLE_HATCH
    else:
        style = bar_style(name, kernel_size if name == "plain" else None)
    style.pop("label")
    return style


def plot_savings(ax: Any, rows: Sequence[Mapping[str, Any]], *,
                 limits: Mapping[str, float] | None = None,
                 layer_label: str = "this layer", limit_label: str = "wide-layer limit") -> None:
    """One horizontal bar per construction of ``rows`` (as :func:`convlib.compare.compare_tricks`
    returns them; the plain baseline, ratio 1, is left out), from 1 to its ``weight_ratio``, on a
    log axis, lightest at the top, with the value written at its end. ``limits`` (construction
    name: ratio) adds a hollow black diamond per row at the ratio a much wider layer reaches: on
    the bar's end where the saving does not depend on width, beyond it where it grows. A legend
    names the two series (``layer_label``, ``limit_label``)."""
    from matplotlib.lines import Line2D  # deferred: matplotlib is heavy
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator, NullLocator  # deferred: matplotlib is heavy

    shown = sorted((r for r in rows if r["name"] != "plain"), key=lambda r: -r["weight_ratio"])
    if not shown:
        raise ValueError("rows must hold at least one construction besides the plain one")
    missing = [r["name"] for r in shown if limits is not None and r["name"] not in limits]
    if missing:
        raise ValueError(f"limits has no value for {missing}")
    highest = 1.0
    for y, row in enumerate(shown):
        ratio = float(row["weight_ratio"])
        if ratio < 1:
            raise ValueError(f"{row['name']}: weight_ratio {ratio} < 1 does not fit the log axis "
                             "from 1")
        ax.barh(y, ratio - 1, left=1, height=0.62,
                **trick_bar_style(row["name"], row.get("kernel_size")))
        end = ratio
        if limits is not None:
            limit = float(limits[row["name"]])
            ax.plot([limit], [y], linestyle="none", marker="D", markersize=7, color="black",
                    markerfacecolor="white", markeredgewidth=1.3, zorder=3)
            end = max(end, limit)
        highest = max(highest, end)
        text = f"{ratio:.2f}"
        if limits is not None and abs(end / ratio - 1) > 0.005:
            text += f" (limit {end:.3g})"
        ax.text(end * 1.07, y, text, va="center", fontsize=10)
    ax.set_yticks(range(len(shown)), [r["label"] for r in shown])
    ax.set_ylim(len(shown) - 0.5, -0.5)  # lightest on top
    ax.set_xscale("log")
    ax.set_xlim(1, highest * 2.6)  # room for the values written after the bars
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= highest * 2.6]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([str(t) for t in ticks])
    ax.grid(axis="y", visible=False)
    handles = [Patch(facecolor="0.9", edgecolor="black", linewidth=0.6, label=layer_label)]
    if limits is not None:
        handles.append(Line2D([], [], linestyle="none", marker="D", markersize=7, color="black",
                              markerfacecolor="white", markeredgewidth=1.3, label=limit_label))
    ax.legend(handles=handles, loc="lower right")
