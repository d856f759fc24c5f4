"""convlib.plots.savings: chapter 7's first figure (times fewer weights per construction) follows
the figure rules and the style map, and no construction hides under another."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_hex

from convlib.compare import compare_tricks, weight_ratio
from convlib.plots.savings import STACKED_SEPARABLE_HATCH, plot_savings, trick_bar_style
from convlib.plots.style import construction_style, figure_problems

pytestmark = pytest.mark.usefixtures("book_style")  # tests/conftest.py


def _limits(rows, c_in, c_out, k, scale=2**20):
    return {r["name"]: float(weight_ratio(r["name"], c_in * scale, c_out * scale, k)) for r in rows}


def test_the_savings_figure_follows_the_figure_rules_and_the_style_map():
    rows = compare_tricks(256, 256, 5, 8)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    plot_savings(ax, rows, limits=_limits(rows, 256, 256, 5), layer_label="this layer",
                 limit_label="wide-layer limit")
    ax.set(title="Times fewer weights than one 5x5",
           xlabel="one 5x5 / construction (ratio, log scale)")
    assert figure_problems(fig) == []
    shown = [r for r in rows if r["name"] != "plain"]
    bars = ax.patches
    assert len(bars) == len(shown)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [r["label"] for r in sorted(shown, key=lambda r: -r["weight_ratio"])]
    by_label = {r["label"]: r for r in shown}
    ys = set()
    for bar, label in zip(bars, labels):
        name = by_label[label]["name"]
        kind = "separable" if name == "stacked_separable" else name
        assert to_hex(bar.get_facecolor()) == construction_style(kind)["color"].lower(), name
        assert bar.get_hatch() == (STACKED_SEPARABLE_HATCH if name == "stacked_separable"
                                   else construction_style(kind)["hatch"]), name
        assert bar.get_width() + 1 == pytest.approx(by_label[label]["weight_ratio"])
        ys.add(round(bar.get_y(), 6))
    assert len(ys) == len(bars)  # one row each: the bottleneck and two separable 3x3 stay apart
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["this layer", "wide-layer limit"]
    # the depthwise-based constructions carry their limit in the value written after the bar
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "(limit 25)" in texts and "(limit 12.5)" in texts


def test_the_hatches_stay_distinct_and_the_plain_baseline_is_left_out():
    names = ["stacked", "bottleneck", "grouped", "separable", "spatial", "stacked_separable"]
    hatches = [trick_bar_style(n)["hatch"] for n in names]
    assert len(set(hatches)) == len(names)
    assert "label" not in trick_bar_style("plain", 5)
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="besides the plain one"):
        plot_savings(ax, [{"name": "plain", "label": "one 5x5", "weight_ratio": 1.0}])
    rows = compare_tricks(16, 16, 5, 8)
    with pytest.raises(ValueError, match="limits has no value"):
        plot_savings(ax, rows, limits={"stacked": 1.4})
    plot_savings(ax, rows)  # without limits: bars only, one legend entry
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["this layer"]
