"""Chapter 5's experiment figure: what grouping the 3x3 convolutions of the book's small network
costs in test accuracy (1, 2, 4 and 8 groups, the reference results of the ``grouped``
experiment).

Left, each g-group network against the 1-group one with the verdict's own interval (the paired
t interval over seeds and test images of :func:`convlib.experiments.verdicts.compare_variants`,
never a second, unpaired one); right, the test accuracy per epoch of every network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from convlib.experiments.verdicts import compare_variants
from convlib.plots import plot_curves, series_styles
from convlib.results import curves


def group_differences(results: dict, groups: Mapping[str, int]) -> list[dict]:
    """Per variant of ``results`` after the first of ``groups`` (``{variant: number of
    groups}``, the 1-group network first), the first's test accuracy minus the variant's, in
    points, with its interval: ``{"variant", "groups", "difference", "low", "high",
    "block_weights"}``, the paired comparison the verdict uses."""
    done = [v for v in groups if v in results["variants"]]
    if not done:
        raise ValueError(f"groups must name variants of the results; got {sorted(groups)}")
    rows = []
    for variant in done[1:]:
        versus = compare_variants(results, done[0], results, variant)
        rows.append({"variant": variant, "groups": groups[variant],
                     "difference": 100 * versus.difference, "low": 100 * versus.low,
                     "high": 100 * versus.high,
                     "block_weights": results["variants"][variant]["block_weights"]})
    return rows


def plot_grouped_experiment(axes: Any, results: dict | None, groups: Mapping[str, int]) -> None:
    """Chapter 5's two panels on ``axes``: the accuracy each number of groups loses against one
    group (:func:`group_differences`, each tick naming the groups and its network's convolution
    weights) and the test accuracy per epoch, one line per number of groups; "not available
    yet" on both without ``results``."""
    if len(axes) != 2:
        raise ValueError(f"axes must be two panels (differences, curves); got {len(axes)}")
    fig = axes[0].figure
    axes[1].set_xlabel("epoch (passes over the data)")
    if results is None:
        for ax in axes:
            ax.text(0.5, 0.5, "reference results not available yet", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_ylabel("test accuracy (%)")
        axes[0].set_xlabel("groups g per 3x3 convolution (count)")
        fig.suptitle("Grouped experiment: reference results not available yet")
        return
    _plot_differences(axes[0], group_differences(results, groups))
    plot_curves(axes[1], curves(results, "test_acc"),  # short labels: the title says the rest
                {name: f"{g} group{'s' if g > 1 else ''}" for name, g in groups.items()
                 if name in results["variants"]})
    axes[1].set_ylabel("test accuracy (%)\nmean and 95% interval")
    axes[1].set_title("Test accuracy per epoch")
    axes[1].legend(loc="lower right")
    from matplotlib.ticker import MaxNLocator  # deferred: matplotlib is heavy (ARCHITECTURE.md)

    axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"CIFAR-10 (JPEG copy), profile '{results['provenance']['profile']}': "
                 "grouped 3x3 blocks")


def _plot_differences(ax: Any, rows: list[dict]) -> None:
    xs = [row["groups"] for row in rows]
    diffs = [row["difference"] for row in rows]
    errors = [[row["difference"] - row["low"] for row in rows],
              [row["high"] - row["difference"] for row in rows]]
    ax.axhline(0, color="0.4", linewidth=1, linestyle=":", label="no difference")
    ax.errorbar(xs, diffs, yerr=errors, capsize=4, label="1 group - g groups",
                **series_styles(1)[0])
    ax.set_xscale("log", base=2)  # each tick: the groups, then the network's weights
    ax.set_xticks(xs, labels=[f"{row['groups']}\n{row['block_weights']:,}" for row in rows])
    ax.set_xlabel("groups g per 3x3 convolution (log2 scale)\nand the network's convolution "
                  "weights")
    ax.set_xlim(1.4, 16)
    ax.set_ylabel("1 group minus g groups\n(test accuracy, points)")
    ax.set_title("Accuracy lost to grouping")
    ax.legend(loc="lower right")  # clear of the intervals, which lie above 0
