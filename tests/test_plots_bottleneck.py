"""convlib.plots.bottleneck: chapter 4's middle-width figure draws what it is given, legibly."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from convlib.params import bottleneck_params
from convlib.plots.bottleneck import plot_mid_width
from convlib.plots.style import figure_problems

pytestmark = pytest.mark.usefixtures("book_style")  # tests/conftest.py


def test_the_figure_draws_curve_plain_marks_and_break_even_legibly():
    mids = list(range(8, 257))
    weights = [bottleneck_params(256, m, 3, bias=False) for m in mids]
    fig, ax = plt.subplots(figsize=(7, 4.4))
    plot_mid_width(ax, mids, weights, plain=9 * 256 ** 2, break_even=229.13,
                   marks={"the article, 32": (32, weights[24])}, channels=256)
    fig.tight_layout()
    assert [list(line.get_xdata()) for line in ax.lines][0] == mids
    assert list(ax.lines[1].get_ydata()) == [9 * 256 ** 2] * 2
    labels = ax.get_legend_handles_labels()[1]
    assert "the article, 32: 25,600 weights, 23.0x lighter" in labels
    assert "break-even c_mid = 229.1" in labels
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "16", "32", "64", "128", "256"]
    assert figure_problems(fig) == []
    plt.close(fig)


def test_mismatched_series_are_refused():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="mids and weights"):
        plot_mid_width(ax, [8, 16], [1], plain=10, break_even=9.0, marks={}, channels=16)
    plt.close(fig)
