"""Every kind of book figure, rendered with small inputs, meets the figure rules.

The rules (:func:`convlib.plots.style.figure_problems`): text shown at 9 pt or more at page
width, a title, axis labels that name their units, a legend when there are several series.
Page width: the website shows a figure at its natural size (``figure.dpi`` pixels per inch of
its tight bounding box) or, if wider, scaled down to the ~700 CSS px content column; a CSS
pixel is 1/96 inch. Each figure below is drawn as the chapters draw it (the ``convlib.plots``
function, with the titles and labels the chapter sets) at a width that fits the page.
The last tests show that the check fails on bad figures.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from convlib.census import census_summary
from convlib.compare import compare_tricks
from convlib.connectivity import connection_matrix
from convlib.dense import dense_structure
from convlib.plots import plot_curves, use_book_style
from convlib.plots.census import plot_kernel_shares
from convlib.plots.channels import connection_panels
from convlib.plots.dense import plot_sliding_window, plot_weight_index
from convlib.plots.pareto import plot_pareto
from convlib.plots.receptive import plot_map
from convlib.plots.roofline import plot_roofline, plot_speedups
from convlib.plots.separable import plot_ratio_curves, plot_shares, plot_tricks
from convlib.plots.shapes import block_figure
from convlib.plots.style import (
    bar_style,
    construction_style,
    figure_problems,
    line_style,
    shown_font_scale,
)
from convlib.roofline import Peaks

pytestmark = pytest.mark.usefixtures("book_style")  # tests/conftest.py


def _curves_figure():
    curves = {name: {"mean": [0.3, 0.4, 0.5], "std": [0.01, 0.02, 0.01], "seeds": 2}
              for name in ("mlp", "cnn")}
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    plot_curves(ax, curves, {"mlp": "MLP", "cnn": "CNN"})
    ax.set(title="Test accuracy", xlabel="epoch (passes over the data)", ylabel="accuracy (%)")
    ax.legend()
    fig.tight_layout()
    return fig


def _weight_index_figure():
    index = dense_structure(nn.Conv2d(1, 1, 3, bias=False), (4, 4)).weight_index
    fig, (ax_k, ax_d) = plt.subplots(1, 2, figsize=(7, 2.6),
                                     gridspec_kw={"width_ratios": [1, 3.2]})
    plot_weight_index(ax_k, torch.arange(9).reshape(3, 3))
    ax_k.set(title="3x3 kernel", xlabel="kernel column (index)", ylabel="kernel row (index)")
    plot_weight_index(ax_d, index, n_weights=9)
    ax_d.set(title="Dense 4x16 matrix", xlabel="input pixel (index)",
             ylabel="output pixel (index)")
    return fig


def _sliding_window_figure():
    fig, ax = plt.subplots(figsize=(7, 3.6))
    plot_sliding_window(ax)
    ax.set_title("One 3x3 kernel, the same nine weights at every position")
    return fig


def _census_figure():
    models = {"a": nn.Sequential(nn.Conv2d(3, 8, 5), nn.Conv2d(8, 8, 3)),
              "b": nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 1))}
    fig, ax = plt.subplots(figsize=(7, 2.8))
    plot_kernel_shares(ax, {name: census_summary(m) for name, m in models.items()})
    ax.set(title="Convolution weights by kernel size", xlabel="share of the weights (%)")
    fig.tight_layout()
    return fig


def _map_figure():
    fig, ax = plt.subplots(figsize=(5, 4))
    plot_map(ax, torch.arange(25.0).reshape(5, 5) / 24, title="Footprint",
             colorbar_label="gradient (a.u.)", fmt="{:.2f}")
    return fig


def _roofline_figure():
    peaks = Peaks("test CPU", 1e11, 2e10, "test")
    points = [dict(intensity=i, achieved_flops=f, group=g, tag=t) for i, f, g, t in
              [(2.0, 2e10, "grouped", "g=32"), (50.0, 6e10, "plain k x k", "3x3"),
               (9.0, 3e10, "depthwise separable", "")]]
    fig, ax = plt.subplots(figsize=(7, 4.6))
    plot_roofline(ax, points, peaks, annotate="tag", legend_loc="lower right")
    return fig


def _speedups_figure():
    claims = [dict(label=l, width=w, weight_ratio=r, speedup=s) for l, w, r, s in
              [("grouped g=8", 64, 8.0, 2.8), ("depthwise separable", 64, 7.9, 1.5),
               ("grouped g=8", 256, 8.0, 4.1), ("two stacked 3x3", 256, 1.39, 1.2)]]
    kind_of = {"grouped g=8": "grouped", "depthwise separable": "separable",
               "two stacked 3x3": "stacked"}
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    plot_speedups(ax, claims, kind_of)
    ax.set_title("Speed-up against weights saved")
    fig.tight_layout()
    return fig


def _pareto_figure():
    rows = [dict(experiment="e", variant=v, block_weights=w, ms_per_image=t, test_acc=a,
                 low=a - 0.01, high=a + 0.01, front_weights=fw, front_time=ft)
            for v, w, t, a, fw, ft in [("plain", 9000, 0.5, 0.62, False, True),
                                       ("stacked", 7000, 0.6, 0.63, True, False),
                                       ("separable", 1200, 0.4, 0.58, True, True)]]
    kinds = {("e", "plain"): ("plain", 5), ("e", "stacked"): ("stacked", None),
             ("e", "separable"): ("separable", None)}
    fig, axes = plt.subplots(1, 2, figsize=(7, 5.0), sharey=True, layout="constrained")
    plot_pareto(axes, rows, kinds)  # as chapter 7 draws it
    return fig


def _separable_figures():
    fig1, ax = plt.subplots(figsize=(6.4, 4.0))
    plot_ratio_curves(ax, [8, 16, 32, 64], {"3x3": [2.0, 4.0, 6.0, 7.0],
                                             "5x5": [3.0, 8.0, 15.0, 20.0]},
                      levels={"k^2 = 9": 9.0}, markevery=1)
    ax.set(title="Weight ratio", xlabel="channels (count)", ylabel="plain / separable (ratio)")
    fig1.tight_layout()
    fig2, ax = plt.subplots(figsize=(7, 4.4))
    rows = compare_tricks(32, 32, 5, 16)
    plot_tricks(ax, rows, pixels=16 * 16)
    ax.set(title="Weights and FLOPs", xlabel="weights (count)", ylabel="FLOPs (count)")
    fig3, ax = plt.subplots(figsize=(7, 2.8))
    plot_shares(ax, {"weights": {"a": 0.7, "b": 0.3}, "MACs": {"a": 0.4, "b": 0.6}},
                kinds=["a", "b"])
    ax.set(title="Shares", xlabel="share (%)")
    for fig in (fig2, fig3):
        fig.tight_layout()
    return [fig1, fig2, fig3]


def _connection_figure():
    matrices = {"dense": connection_matrix(nn.Conv2d(4, 4, 1)),
                "2 groups": connection_matrix(nn.Conv2d(4, 4, 1, groups=2))}
    return connection_panels(matrices, suptitle="Which inputs feed which outputs")


def _shapes_figure():
    return block_figure([dict(kind="stacked", c_in=16, c_out=16, kernel_size=5),
                         dict(kind="bottleneck", c_in=64, c_out=64, kernel_size=3, groups=2)],
                        size=8)


FIGURES = {"curves": _curves_figure, "weight index": _weight_index_figure,
           "sliding window": _sliding_window_figure,
           "census": _census_figure, "map": _map_figure, "roofline": _roofline_figure,
           "speedups": _speedups_figure, "pareto": _pareto_figure,
           "separable": _separable_figures, "connections": _connection_figure,
           "shapes": _shapes_figure}


@pytest.mark.parametrize("name", list(FIGURES))
def test_each_book_figure_meets_the_rules(name):
    figures = FIGURES[name]()
    for fig in figures if isinstance(figures, list) else [figures]:
        assert figure_problems(fig) == []


def _bad_figure(width=6.4, fontsize=6):
    fig, ax = plt.subplots(figsize=(width, 4))
    ax.plot([1, 2, 3], [1, 4, 9], label="one")
    ax.plot([1, 2, 3], [2, 3, 4], label="two")
    ax.tick_params(labelsize=fontsize)
    return fig


def test_a_bad_figure_fails_on_every_rule():
    problems = "\n".join(figure_problems(_bad_figure()))
    assert "shown at" in problems  # 6 pt tick labels
    assert "no title" in problems
    assert "x axis shows numbers but has no label" in problems
    assert "labelled series but no legend" in problems


def test_a_label_without_unit_fails():
    fig = _bad_figure(fontsize=10)
    fig.axes[0].set(title="t", xlabel="epoch", ylabel="accuracy (%)")
    fig.axes[0].legend()
    assert figure_problems(fig) == ["axes 0: the x label 'epoch' names no unit in parentheses"]


def test_legible_text_becomes_too_small_in_a_figure_wider_than_the_page():
    narrow, wide = _bad_figure(6.4, 10), _bad_figure(13, 10)
    for fig in (narrow, wide):
        fig.axes[0].set(title="t", xlabel="x (m)", ylabel="y (m)")
        fig.axes[0].legend()
    assert figure_problems(narrow) == []
    assert shown_font_scale(wide) < 0.75
    assert any("shown at" in p for p in figure_problems(wide))


def test_the_style_map_gives_each_construction_its_own_look():
    kinds = ("plain", "stacked", "bottleneck", "grouped", "separable", "spatial", "dense", "cnn")
    styles = [construction_style(k) for k in kinds]
    for key in ("color", "hatch", "marker"):
        assert len({str(s[key]) for s in styles}) == len(kinds), key
    shades = {construction_style("plain", k)["color"] for k in (1, 3, 5, 7, 9, 11)}
    assert len(shades) == 6
    assert construction_style("depthwise") == construction_style("separable")
    assert bar_style("grouped")["hatch"] == "xx" and line_style("stacked")["linestyle"] == "--"
    with pytest.raises(ValueError, match="kind"):
        construction_style("dilated")
    with pytest.raises(ValueError, match="kernel_size"):
        construction_style("plain", 0)


def test_one_legend_may_serve_panels_that_show_the_same_series():
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 6))
    for ax in (top, bottom):
        ax.plot([1, 2], [1, 2], label="a")
        ax.plot([1, 2], [2, 1], label="b")
        ax.set(title="t", xlabel="x (m)", ylabel="y (m)")
    fig.tight_layout()
    assert any("no legend" in p for p in figure_problems(fig))
    top.legend()
    assert figure_problems(fig) == []
    bottom.plot([1, 2], [0, 0], label="c")  # a series the legend does not name
    assert any("axes 1" in p and "no legend" in p for p in figure_problems(fig))


# ---- numbers typed on the book's pages: the budgets of intro.md come from convlib.profiles ---

def test_the_intro_states_the_budgets_of_convlib_profiles():
    import re
    from pathlib import Path

    from convlib.profiles import PROFILES

    intro = Path(__file__).resolve().parent.parent.joinpath("book", "intro.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \|[^|]*\| ([^|]*)\|",
                                                        intro, flags=re.MULTILINE)}
    assert set(rows) == set(PROFILES), sorted(rows)
    for name, profile in PROFILES.items():
        row = rows[name]
        size = f"{profile.train_size:,} training images" if profile.train_size else \
            "all 50,000 training images"
        test = f"{profile.test_size:,} test images" if profile.test_size else \
            "all 10,000 test images"
        assert size in row and test in row and f"{profile.epochs} epochs" in row, (name, row)
        assert f"{len(profile.seeds)} seeds" in row, (name, row)


def test_fit_to_page_brings_a_wide_figure_within_the_rules():
    import matplotlib.pyplot as plt

    from convlib.plots import fit_to_page
    from convlib.plots.style import figure_problems

    use_book_style()
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.plot([1, 2], [3, 4])
    ax.set(title="wide", xlabel="epoch (passes)", ylabel="accuracy (%)")
    assert figure_problems(fig)  # 12 inches: scaled down on the page, text below 9 pt
    fit_to_page(fig)
    assert figure_problems(fig) == [] and fig.get_size_inches()[0] < 7.3
    plt.close(fig)


# ---- planted faults: the check must fail on each ----------------------------------------------

def _clean_figure(width=6.4):
    fig, ax = plt.subplots(figsize=(width, 4))
    ax.plot([1, 2, 3], [1, 4, 9])
    ax.set(title="A clean figure", xlabel="x (m)", ylabel="y (m)")
    fig.tight_layout()
    assert figure_problems(fig) == []
    return fig, ax


def test_a_planted_overlapping_text_fails():
    fig, ax = _clean_figure()
    ax.text(2, 4, "first note", fontsize=11)
    ax.text(2.05, 4.1, "second note", fontsize=11)  # drawn over the first
    assert any("texts 'first note' and 'second note' overlap" in p for p in figure_problems(fig))


def test_cell_values_that_run_together_fail():
    fig, ax = _clean_figure()
    for column in range(3):  # "0.040.040.04": each value wider than its cell
        ax.text(1 + 0.06 * column, 6, "0.04", fontsize=11, ha="center")
    assert any("'0.04' and '0.04' overlap" in p for p in figure_problems(fig))


def test_a_planted_clipped_label_fails():
    """The page shows a figure's tight bounding box: a label pushed off the figure's size is
    still shown, one left out of the layout is cut off."""
    fig, ax = _clean_figure()
    ax.set_ylabel("a y label pushed off the figure (m)", labelpad=80)
    assert figure_problems(fig) == []  # saved tight, the page shows it whole
    fig.text(1.02, 0.5, "a label left out of the layout", in_layout=False)
    problems = figure_problems(fig)
    assert any("is clipped by the canvas" in p and "a label left out" in p
               for p in problems), problems


def test_a_text_clipped_by_its_axes_fails():
    fig, ax = _clean_figure()
    ax.text(2.9, 5, "runs past the right edge of the axes", clip_on=True)
    assert any("clipped by its axes" in p for p in figure_problems(fig))


def test_a_title_under_a_colour_bar_fails():
    fig, ax = plt.subplots(figsize=(5, 4))
    image = ax.imshow([[0, 1], [1, 0]])
    ax.set(title="A title", xlabel="column (pixels)", ylabel="row (pixels)")
    fig.colorbar(image, ax=ax, location="top", pad=0.0, label="value (a.u.)")
    problems = figure_problems(fig)
    assert any("'A title' overlaps the plotting area of another axes" in p
               for p in problems), problems


def test_text_legible_on_the_page_can_be_too_small_on_a_phone():
    from convlib.plots.style import MIN_PHONE_PX

    fig, ax = _clean_figure(width=7.0)
    ax.text(1.5, 6, "7 pt note", fontsize=7)  # 7 pt in 7 inches: 7.1 pt on the page
    problems = figure_problems(fig, min_pt=6)  # passes at page width with a 6 pt floor
    assert any("7 pt note" in p and f"< {MIN_PHONE_PX:g} px" in p for p in problems), problems
