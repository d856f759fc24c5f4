"""convlib.plots.inverted: chapter 6's cost-share figure draws the ratios it is given, legibly."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_hex

from convlib.plots.inverted import plot_cost_shares
from convlib.plots.style import bar_style, figure_problems

pytestmark = pytest.mark.usefixtures("book_style")  # tests/conftest.py

BIG = {"weights": 200, "flops": 1000, "activation_bytes": 400}
SMALL = {"weights": 20, "flops": 100, "activation_bytes": 380}


def test_bars_are_the_shares_in_the_separable_colour_one_hatch_per_pair():
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    plot_cost_shares(ax, {"one block": (BIG, SMALL), "network": (BIG, BIG)},
                     reference="ResNet-50", compared="MobileNetV2")
    ax.set_title("MobileNetV2 against ResNet-50")
    fig.tight_layout()
    bars = ax.patches
    assert [round(b.get_width(), 6) for b in bars] == [10, 10, 95, 100, 100, 100]
    assert {to_hex(b.get_facecolor()) for b in bars} == {to_hex(bar_style("separable")["color"])}
    assert [b.get_hatch() for b in bars] == ["//"] * 3 + [".."] * 3
    assert [t.get_text() for t in ax.texts] == ["10%", "10%", "95%", "100%", "100%", "100%"]
    assert ax.get_legend_handles_labels()[1] == ["ResNet-50 = 100%", "one block", "network"]
    assert figure_problems(fig) == []
    plt.close(fig)


def test_no_pair_or_too_many_are_refused():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="pairs must hold"):
        plot_cost_shares(ax, {}, reference="a", compared="b")
    with pytest.raises(ValueError, match="pairs must hold"):
        plot_cost_shares(ax, {str(i): (BIG, SMALL) for i in range(3)}, reference="a",
                         compared="b")
    plt.close(fig)
