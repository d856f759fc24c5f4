"""The epoch sweep: a comparison's difference, with its 95 % interval, against the training
budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from convlib.plots import series_styles


def plot_epoch_sweep(ax: Any, sweeps: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """One line per comparison (``sweeps``: label -> rows of :func:`convlib.results.epoch_sweep`):
    the difference in the claim's favour (points) at each number of epochs, the 95 % interval as
    error bars, a dotted line at 0 (above it the claim holds, below it is contradicted). A
    comparison without rows (its set is not complete yet) is left out; without any, the axes say
    so."""
    if not sweeps:
        raise ValueError("sweeps must name at least one comparison")
    drawn = {label: rows for label, rows in sweeps.items() if rows}
    if not drawn:
        ax.text(0.5, 0.5, "reference results not available yet", ha="center",
                transform=ax.transAxes)
        ax.set_title("How the budget moves the verdict: not available yet")
        ax.set_axis_off()
        return
    for (label, rows), style in zip(drawn.items(), series_styles(len(drawn))):
        epochs = [row["epochs"] for row in rows]
        middle = [100 * row["difference"] for row in rows]
        below = [100 * (row["difference"] - row["low"]) for row in rows]
        above = [100 * (row["high"] - row["difference"]) for row in rows]
        ax.errorbar(epochs, middle, yerr=[below, above], capsize=4, label=label, **style)
    ax.axhline(0, color="0.4", linestyle=":", linewidth=1)
    ax.set_xscale("log", base=2)
    ticks = sorted({row["epochs"] for rows in drawn.values() for row in rows})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("training epochs (log scale)")
    ax.set_ylabel("difference in the claim's favour\n(points of test accuracy, 95% interval)")
    ax.set_title("How the budget moves the verdict")
    ax.legend(loc="best")
