"""Figure of chapter 4: a bottleneck's weights against its middle width.

The helper draws on a given Axes from numbers the chapter computed itself; it computes none
that the text relies on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from convlib.plots import series_styles


def plot_mid_width(ax: Any, mids: Sequence[int], weights: Sequence[int], *, plain: int,
                   break_even: float, marks: Mapping[str, tuple[int, int]],
                   channels: int) -> None:
    """The weights of the bottleneck ``channels -> c_mid -> channels`` for each middle width of
    ``mids`` (a solid line, log-log), the ``plain`` 3x3's weights (dashed), the
    ``break_even`` width (dotted) and a marker per entry of ``marks`` (``{label: (c_mid,
    weights)}``), each with its weights and how many times lighter than the plain layer."""
    if len(mids) != len(weights) or not mids:
        raise ValueError(f"mids and weights must be as long as each other and not empty; got "
                         f"{len(mids)} and {len(weights)}")
    styles = series_styles(2 + len(marks))
    ax.plot(mids, weights, color=styles[0]["color"], linestyle="-", marker="none",
            label=f"bottleneck {channels} -> c_mid -> {channels}")
    ax.axhline(plain, color=styles[1]["color"], linestyle="--",
               label=f"plain 3x3 {channels} -> {channels}")
    for (label, (mid, w)), style in zip(marks.items(), styles[2:]):
        ax.plot([mid], [w], linestyle="none", marker=style["marker"], color=style["color"],
                markersize=8, label=f"{label}: {w:,} weights, {plain / w:.1f}x lighter")
    ax.axvline(break_even, color="0.3", linestyle=":", label=f"break-even c_mid = {break_even:.1f}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks = [t for t in (8, 16, 32, 64, 128, 256, 512, 1024) if min(mids) <= t <= max(mids)]
    ax.set_xticks(ticks, labels=[str(t) for t in ticks])
    ax.set_xlabel("middle width c_mid (channels, log2 scale)")
    ax.set_ylabel("weights (log scale)")
    ax.set_title(f"Bottleneck against plain 3x3, {channels} channels in and out")
    ax.legend(loc="upper left")
