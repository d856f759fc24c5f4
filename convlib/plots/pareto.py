"""Chapter 7's evidence figure: test accuracy against weights and against measured time, for
every convolutional variant of the reference experiments, with the Pareto front marked and every
point numbered, the key naming each number's network.

The points come from :func:`convlib.results.pareto_points` (intervals from
:func:`convlib.stats.accuracy_interval`); this module only draws them, in the book's style map
(one colour and marker per construction, :mod:`convlib.plots.style`). A point's number sits
beside it where it covers no other number, marker or interval (:func:`place_labels` tries the
places around it, nearest first, and draws a thin leader line to a farther one).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from convlib.plots.style import construction_style

PANELS = (("block_weights", "front_weights", "convolution weights (count, log scale)"),
          ("ms_per_image", "front_time", "training time per image (ms, log scale)"))
MARKER_PT = 8.0  # marker size of a point, in points
CAP_PT = 3.0  # half the width of an interval's caps, in points
# Where a number may go around its point, nearest first: (dx, dy) directions, then distances (pt)
# from the marker's edge; beyond the first distance a leader line joins number and point.
DIRECTIONS = ((1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1), (0, 1), (0, -1))
DISTANCES_PT = (2.0, 8.0, 14.0, 22.0, 32.0)
GAP_PX = 2.0  # the least space between a number and anything else


def plot_pareto(axes: Sequence[Any], rows: Sequence[Mapping[str, Any]],
                constructions: Mapping[tuple[str, str], tuple[str, int | None]]) -> None:
    """Two panels on ``axes``: test accuracy (%, with its 95 % interval) against convolution
    weights, then against training time per image; points on each panel's Pareto front are filled
    and joined by a step line, the others hollow. ``constructions`` maps ``(experiment, variant)``
    of each row to its ``(kind, kernel_size)`` for the style map. Every point carries its number
    (:func:`point_numbers`, placed by :func:`place_labels`), and the figure's legend is the key:
    each number with its construction's marker and its network's label (:func:`key_label`).
    Without ``rows`` (no complete reference set yet), both panels say so.
    The accuracy axis spans the points' means ±5 points, within 0-100 %: an interval wider
    than that runs off the panel."""
    if len(axes) != 2:
        raise ValueError(f"axes must be two panels (weights, time); got {len(axes)}")
    if not rows:  # no complete reference set yet: both panels say so
        for ax in axes:
            ax.text(0.5, 0.5, "reference results not available yet", ha="center",
                    transform=ax.transAxes)
            ax.set_title("not available yet")
            ax.set_axis_off()
        return
    styles = [construction_style(*constructions[(row["experiment"], row["variant"])])
              for row in rows]
    for ax, (cost, front, xlabel) in zip(axes, PANELS):
        _draw_panel(ax, rows, styles, cost, front)
        ax.set_xlabel(xlabel)
    means = [100 * row["test_acc"] for row in rows]  # the points set the range, not a wild interval
    for ax in axes:
        ax.set_ylim(max(0.0, min(means) - 5), min(100.0, max(means) + 5))
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_title("accuracy against weights")
    axes[1].set_title("accuracy against measured time")
    from matplotlib.lines import Line2D  # deferred: matplotlib is heavy (ARCHITECTURE.md)
    from matplotlib.ticker import NullFormatter, ScalarFormatter  # deferred: as above

    axes[1].xaxis.set_major_formatter(ScalarFormatter())  # 1, 2, 5 ms rather than 2 x 10^0
    for ax in axes:  # minor labels of a short log axis (3x10^3, 4x10^3) run into each other
        ax.xaxis.set_minor_formatter(NullFormatter())
    key = [Line2D([], [], color="black", linewidth=1.0, alpha=0.6)]
    key += [Line2D([], [], linestyle="none", marker=s["marker"], color=s["color"],
                   markerfacecolor="white", markersize=7) for s in styles]
    labels = ["Pareto front (filled: on it)"]
    labels += [key_label(i, row) for i, row in enumerate(rows, start=1)]
    axes[1].figure.legend(key, labels, loc="outside lower center", ncols=2,
                          handletextpad=0.3, columnspacing=1.2)
    texts = point_numbers(rows)
    for ax, (cost, _, _) in zip(axes, PANELS):
        place_labels(ax, [(row[cost], 100 * row["test_acc"], 100 * row["low"], 100 * row["high"])
                          for row in rows], texts)


def _draw_panel(ax: Any, rows: Sequence[Mapping[str, Any]], styles: Sequence[Mapping[str, Any]],
                cost: str, front: str) -> None:
    """One panel's points (filled on its Pareto front, hollow elsewhere), intervals and the
    front's step line, on log-scaled costs."""
    for row, style in zip(rows, styles):
        on = row[front]
        ax.errorbar(row[cost], 100 * row["test_acc"],
                    yerr=[[100 * (row["test_acc"] - row["low"])],
                          [100 * (row["high"] - row["test_acc"])]],
                    fmt=style["marker"], color=style["color"], markersize=MARKER_PT,
                    capsize=CAP_PT, markerfacecolor=style["color"] if on else "white")
    best = sorted((r for r in rows if r[front]), key=lambda r: r[cost])
    ax.step([r[cost] for r in best], [100 * r["test_acc"] for r in best], where="post",
            color="black", linewidth=1.0, alpha=0.6)
    ax.set_xscale("log")
    ax.margins(x=0.12)  # room for the numbers of the outermost points
    ax.grid(alpha=0.3)


def point_numbers(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The text beside each row's point on both panels: its number in the key (1, 2, ...). Rows
    drawn at the very same place (one network trained once and shown by two experiments) share
    one text, ``"2, 6"``, given to the first of them; the others get ``""`` (no second text)."""
    places = [(row["block_weights"], row["ms_per_image"], row["test_acc"]) for row in rows]
    texts = []
    for index, place in enumerate(places):
        same = [i for i, other in enumerate(places) if other == place]
        texts.append(", ".join(str(i + 1) for i in same) if same[0] == index else "")
    return texts


KEY_WIDTH = 38  # characters of a key entry's line: two columns of keys fit a 7 inch figure


def key_label(number: int, row: Mapping[str, Any]) -> str:
    """A point's entry in the key: its number and its network's label (else its variant's name),
    without the words every network of the figure shares ("per block"), wrapped at
    :data:`KEY_WIDTH` characters with the next lines indented under the label."""
    label = str(row.get("label") or row["variant"]).replace(" per block", "")
    head = f"{number}  "
    lines = textwrap.wrap(label, KEY_WIDTH - len(head)) or [""]
    return head + ("\n" + " " * (2 * len(head))).join(lines)


def _boxes_of_points(ax: Any, points: Sequence[tuple[float, float, float, float]]) -> list[Any]:
    """Display boxes of each ``(x, y, low, high)`` point's marker and interval."""
    from matplotlib.transforms import Bbox  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    px = ax.figure.dpi / 72
    boxes = []
    for x, y, low, high in points:
        (cx, cy), (_, y_low), (_, y_high) = ax.transData.transform([(x, y), (x, low), (x, high)])
        half = MARKER_PT / 2 * px
        boxes.append(Bbox.from_extents(cx - half, cy - half, cx + half, cy + half))
        boxes.append(Bbox.from_extents(cx - CAP_PT * px, min(y_low, cy - half),
                                       cx + CAP_PT * px, max(y_high, cy + half)))
    return boxes


def _free(box: Any, area: Any, taken: Sequence[Any]) -> bool:
    """Whether ``box`` lies inside ``area`` and at least :data:`GAP_PX` from every box of
    ``taken``."""
    inside = (box.x0 >= area.x0 + GAP_PX and box.x1 <= area.x1 - GAP_PX
              and box.y0 >= area.y0 + GAP_PX and box.y1 <= area.y1 - GAP_PX)
    return inside and all(box.x1 + GAP_PX <= o.x0 or o.x1 + GAP_PX <= box.x0
                          or box.y1 + GAP_PX <= o.y0 or o.y1 + GAP_PX <= box.y0 for o in taken)


def _candidates(distance: float) -> list[tuple[tuple[float, float], str, str]]:
    """``((dx, dy) in points, ha, va)`` of each direction at ``distance`` from the marker."""
    out = []
    for dx, dy in DIRECTIONS:
        reach = MARKER_PT / 2 + distance
        ha = {1: "left", -1: "right", 0: "center"}[dx]
        va = {1: "bottom", -1: "top", 0: "center"}[dy]
        out.append(((dx * reach, dy * reach), ha, va))
    return out


def _best_place(label: Any, renderer: Any, area: Any,
                taken: Sequence[Any]) -> tuple[tuple[float, float], str, str, float]:
    """The nearest place of :func:`_candidates` where ``label`` (an annotation, moved there to be
    measured) is free (:func:`_free`), else the one whose box meets the fewest boxes of
    ``taken``: ``(offset, ha, va, distance)``."""
    best, fewest = None, None
    for distance in DISTANCES_PT:
        for offset, ha, va in _candidates(distance):
            label.xyann = offset
            label.set_ha(ha)
            label.set_va(va)
            box = label.get_window_extent(renderer)
            if _free(box, area, taken):
                return offset, ha, va, distance
            clashes = sum(not _free(box, area, [other]) for other in taken) + (
                not _free(box, area, []))
            if fewest is None or clashes < fewest:
                best, fewest = (offset, ha, va, distance), clashes
    return best


def place_labels(ax: Any, points: Sequence[tuple[float, float, float, float]],
                 texts: Sequence[str], *, fontsize: float = 10) -> list[Any]:
    """Write ``texts[i]`` (unless empty) beside ``points[i]`` (``(x, y, low, high)`` in data
    coordinates) on ``ax``: at the nearest place around the point (:data:`DIRECTIONS` x
    :data:`DISTANCES_PT`) where it stays inside the axes and clear of every marker, interval
    and text placed before, with a leader line beyond the nearest distance. A text that fits
    nowhere takes the place that meets the fewest others (the book's figure check then reports
    an overlap). Call it once the figure's layout and limits are final. Returns the
    annotations."""
    if len(points) != len(texts):
        raise ValueError(f"texts must have one entry per point ({len(points)}); got {len(texts)}")
    fig = ax.figure
    fig.draw_without_rendering()  # the final layout: display coordinates are fixed from here
    renderer = fig.canvas.get_renderer()
    taken = _boxes_of_points(ax, points)
    placed = []
    for (x, y, _, _), text in zip(points, texts):
        if not text:
            continue
        probe = ax.annotate(text, (x, y), xytext=(0, 0), textcoords="offset points",
                            fontsize=fontsize)
        offset, ha, va, distance = _best_place(probe, renderer, ax.bbox, taken)
        probe.remove()
        leader = dict(arrowstyle="-", color="0.45", linewidth=0.7, shrinkA=1,
                      shrinkB=MARKER_PT / 2) if distance > DISTANCES_PT[0] else None
        label = ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", ha=ha,
                            va=va, fontsize=fontsize, arrowprops=leader)
        label.set_in_layout(False)  # inside the axes: the layout needs no room for it
        taken.append(label.get_window_extent(renderer) if leader is None
                     else _text_box(label, renderer))
        placed.append(label)
    return placed


def _text_box(label: Any, renderer: Any) -> Any:
    """The box of an annotation's text alone (its window extent also holds its leader line)."""
    from matplotlib.text import Text  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    label.update_positions(renderer)
    return Text.get_window_extent(label, renderer)
