"""convlib.plots.separable: the weight-ratio curves take the style map's look per construction
(``styles=``, :func:`trick_line_style`), as chapter 7's "13 times" figure draws them, and keep
the book's series styles otherwise."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_hex

from convlib.compare import constructions, weight_ratio
from convlib.plots import series_styles
from convlib.plots.savings import trick_bar_style
from convlib.plots.separable import plot_ratio_curves, trick_line_style
from convlib.plots.style import construction_style, figure_problems

TRICKS = ("stacked", "bottleneck", "grouped", "separable", "spatial", "stacked_separable")


pytestmark = pytest.mark.usefixtures("book_style")  # tests/conftest.py


def test_trick_line_style_follows_the_style_map_and_the_savings_bars():
    looks = {name: trick_line_style(name) for name in TRICKS}
    for name, look in looks.items():
        assert "label" not in look
        assert look["color"] == trick_bar_style(name)["color"], name  # as in the first figure
        kind = "separable" if name == "stacked_separable" else name
        assert look["linestyle"] == construction_style(kind)["linestyle"], name
    assert looks["stacked"]["marker"] == construction_style("stacked")["marker"]
    assert looks["stacked_separable"]["marker"] == construction_style("stacked")["marker"]
    assert looks["stacked_separable"]["fillstyle"] == "none"
    assert "fillstyle" not in looks["separable"]
    # no two constructions look alike, even in grayscale (line, marker, fill)
    shapes = {(str(v["linestyle"]), v["marker"], v.get("fillstyle", "full"))
              for v in looks.values()}
    assert len(shapes) == len(TRICKS)
    assert trick_line_style("plain", 5)["color"] == construction_style("plain", 5)["color"]


def test_ratio_curves_take_the_given_styles_and_pass_the_figure_rules():
    channels = [8, 16, 32, 64, 128]
    labels = {c.name: c.label for c in constructions(64, 64, 5) if c.name in TRICKS}
    curves = {labels[name]: [float(weight_ratio(name, c, c, 5)) for c in channels]
              for name in labels}
    styles = {labels[name]: trick_line_style(name) for name in labels}
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    plot_ratio_curves(ax, channels, curves, styles=styles, markevery=2)
    ax.set(title="One 5x5 over each construction", xlabel="channels c (count, log scale)",
           ylabel="times fewer weights (ratio)")
    assert figure_problems(fig) == []
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == set(curves)
    for label, style in styles.items():
        line = lines[label]
        assert to_hex(line.get_color()) == to_hex(style["color"]), label
        assert line.get_marker() == style["marker"], label
        assert line.get_fillstyle() == style.get("fillstyle", "full"), label
    assert list(lines[labels["stacked"]].get_ydata()) == curves[labels["stacked"]]


def test_ratio_curves_without_styles_keep_the_series_styles():
    fig, ax = plt.subplots()
    plot_ratio_curves(ax, [8, 16, 32], {"3x3": [4.2, 5.7, 7.0], "5x5": [6.0, 9.0, 14.0]},
                      levels={"9": 9.0}, styles={"5x5": {"color": "#CC79A7"}})
    first, second, level = ax.get_lines()
    default = series_styles(2)
    assert to_hex(first.get_color()) == to_hex(default[0]["color"])
    assert first.get_marker() == default[0]["marker"]
    assert to_hex(second.get_color()) == "#cc79a7"  # only the colour given: the rest as before
    assert second.get_marker() == default[1]["marker"]
    assert to_hex(level.get_color()) == to_hex(default[0]["color"])  # the first curve's colour
    with pytest.raises(ValueError, match="styles names no curve"):
        plot_ratio_curves(ax, [8, 16], {"3x3": [1.0, 2.0]}, styles={"7x7": {"color": "red"}})
