"""Figure of chapter 6: MobileNetV2's costs as a share of ResNet-50's, for one block and for
the whole network: weights, FLOPs, and the activation memory a training step keeps.

The helper draws on a given Axes from counts the chapter made itself (``convlib.memory.
training_costs``); the shares it draws are their ratios, computed nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convlib.plots.style import bar_style

# what each bar compares, in the keys of convlib.memory.training_costs
METRICS = {"weights": "weights", "flops": "FLOPs (forward)",
           "activation_bytes": "activation bytes kept"}
HATCHES = ("//", "..")


def plot_cost_shares(ax: Any, pairs: Mapping[str, tuple[Mapping[str, int], Mapping[str, int]]],
                     *, reference: str, compared: str) -> None:
    """Horizontal bars, one group per cost of :data:`METRICS`, one bar per entry of ``pairs``
    (``{label: (reference costs, compared costs)}``): the compared design's cost as a % of the
    reference's, labelled with its value, with the reference's 100 % as a dashed line. The bars
    take the depthwise-separable construction's colour (the compared design's family), one
    hatch per pair."""
    if not pairs or len(pairs) > len(HATCHES):
        raise ValueError(f"pairs must hold 1 to {len(HATCHES)} entries; got {len(pairs)}")
    colour = bar_style("separable")["color"]
    height = 0.8 / len(pairs)
    for j, (label, (ref, other)) in enumerate(pairs.items()):
        shares = [100 * other[key] / ref[key] for key in METRICS]
        rows = [i + (j - (len(pairs) - 1) / 2) * height for i in range(len(METRICS))]
        ax.barh(rows, shares, height=height, color=colour, hatch=HATCHES[j],
                edgecolor="black", linewidth=0.6, label=label)
        for y, share in zip(rows, shares):
            ax.text(share + 2, y, f"{share:.0f}%", va="center", fontsize=10,  # over the line
                    bbox=dict(facecolor="white", edgecolor="none", pad=1.0))
    ax.axvline(100, color="0.3", linestyle="--", linewidth=1.0, label=f"{reference} = 100%")
    ax.set_yticks(range(len(METRICS)), labels=list(METRICS.values()))
    ax.invert_yaxis()
    ax.set_xlim(0, 185)  # room right of the 100% line for the labels and the legend
    ax.set_xticks(range(0, 101, 25))
    ax.set_xlabel(f"{compared} as a share of {reference} (%)")
    ax.legend(loc="center right")
