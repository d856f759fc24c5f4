"""convlib.plots.receptive: the support box of a map, and the annotated pixel-map figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402

from convlib.plots.receptive import plot_erf_mass, plot_map, support_box  # noqa: E402
from convlib.plots.style import figure_problems, line_style  # noqa: E402
from convlib.receptive import empirical_receptive_field  # noqa: E402


@st.composite
def maps_with_a_box(draw):
    """A zero map with nonzero values somewhere inside a known box, touching its four sides."""
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    r0, c0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
    r1, c1 = draw(st.integers(r0 + 1, h)), draw(st.integers(c0 + 1, w))
    values = np.zeros((h, w))
    # The box's top-left and bottom-right corners are nonzero, so the support is exactly the box.
    values[r0, c0] = draw(st.floats(0.1, 5)) * draw(st.sampled_from([-1, 1]))
    values[r1 - 1, c1 - 1] = draw(st.floats(0.1, 5))
    return values, (r0, r1, c0, c1)


@given(maps_with_a_box(), st.integers(0, 4))
@settings(max_examples=60, deadline=None)
def test_support_box_is_the_nonzero_box_widened_and_clipped(case, margin):
    values, (r0, r1, c0, c1) = case
    h, w = values.shape
    assert support_box(values, margin) == (max(0, r0 - margin), min(h, r1 + margin),
                                           max(0, c0 - margin), min(w, c1 + margin))
    # Nothing nonzero is cut off.
    a, b, c, d = support_box(values)
    assert np.count_nonzero(values[a:b, c:d]) == np.count_nonzero(values)


def test_support_box_of_a_measured_footprint_is_the_receptive_field():
    stack = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))
    field = empirical_receptive_field(stack, 11)
    r0, r1, c0, c1 = support_box(field.footprint)
    assert (r1 - r0, c1 - c0) == field.size == (5, 5)
    assert (r0 + r1 - 1) // 2 == field.output_pixel[0]


def test_support_box_of_an_all_zero_map_is_the_whole_map():
    assert support_box(torch.zeros(3, 4)) == (0, 3, 0, 4)


@pytest.mark.parametrize("bad, error", [
    ([1, 2, 3], ValueError), (np.zeros((0, 3)), ValueError), ("abc", TypeError),
    (np.array([[1.0, np.nan]]), ValueError),
])
def test_support_box_rejects_what_is_not_a_2d_map(bad, error):
    with pytest.raises(error, match="values"):
        support_box(bad)


@pytest.mark.parametrize("margin, error", [(-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_support_box_rejects_bad_margins(margin, error):
    with pytest.raises(error, match="margin"):
        support_box(np.ones((2, 2)), margin)


def test_plot_map_draws_in_the_grid_coordinates_with_one_label_per_cell():
    fig, ax = plt.subplots()
    values = torch.arange(6, dtype=torch.float64).view(2, 3)
    image = plot_map(ax, values, title="t", colorbar_label="weight", origin=(4, 7), fmt="{:.0f}")
    assert image.get_extent() == [6.5, 9.5, 5.5, 3.5]  # columns 7..9, rows 4..5 (top to bottom)
    assert list(ax.get_xticks()) == [7, 8, 9] and list(ax.get_yticks()) == [4, 5]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0", "1", "2", "3", "4", "5"]
    # Blues: the largest value is dark, so its label is white; the smallest is light, black.
    assert ax.texts[-1].get_color() == "white" and ax.texts[0].get_color() == "black"
    assert ax.get_title() == "t" and ax.get_xlabel() and ax.get_ylabel()
    colorbar_axes = [a for a in fig.axes if a is not ax]
    assert len(colorbar_axes) == 1 and colorbar_axes[0].get_ylabel() == "weight"
    plt.close(fig)


def test_plot_map_shared_scale_and_constant_maps():
    fig, (a, b) = plt.subplots(1, 2)
    image = plot_map(a, np.full((2, 2), 0.04), title="flat", colorbar_label="w", annotate=False)
    assert image.get_clim()[0] < 0.04 < image.get_clim()[1] and not a.texts
    image = plot_map(b, np.eye(2), title="eye", colorbar_label="w", vmin=0.0, vmax=2.0)
    assert image.get_clim() == (0.0, 2.0)
    plt.close(fig)


@pytest.mark.parametrize("kwargs, error", [
    (dict(vmin=1.0, vmax=0.0), ValueError), (dict(origin=(0,)), TypeError),
    (dict(origin=(0.5, 1)), TypeError), (dict(fmt=3), TypeError), (dict(title=None), TypeError),
])
def test_plot_map_rejects_bad_arguments(kwargs, error):
    fig, ax = plt.subplots()
    arguments = dict(title="t", colorbar_label="w") | kwargs
    with pytest.raises(error):
        plot_map(ax, np.ones((2, 2)), **arguments)
    plt.close(fig)


def test_plot_map_writes_zeros_plainly_and_never_minus_zero():
    fig, ax = plt.subplots()
    plot_map(ax, np.array([[0.0, -0.004, 0.25]]), title="t", colorbar_label="w", fmt="{:.2f}")
    assert [t.get_text() for t in ax.texts] == ["0", "0.00", "0.25"]
    plt.close(fig)


def test_signed_values_sit_on_a_diverging_scale_centred_at_zero():
    from convlib.plots.receptive import shared_colorbar

    fig, (a, b) = plt.subplots(1, 2)
    image = plot_map(a, np.array([[-1.0, 3.0]]), title="a", colorbar_label=None,
                     diverging=True, fmt="{:.0f}")
    assert image.get_clim() == (-3.0, 3.0) and image.cmap.name == "RdBu_r"
    assert a.texts[1].get_color() == "white"  # +3: the darkest red
    plot_map(b, np.array([[0.0, 1.0]]), title="b", colorbar_label=None, vmin=-3, vmax=3,
             diverging=True)
    assert len(fig.axes) == 2  # no colour bar per panel
    shared_colorbar(image, [a, b], "weight (a.u.)")
    assert len(fig.axes) == 3 and fig.axes[2].get_ylabel() == "weight (a.u.)"
    with pytest.raises(TypeError, match="label"):
        shared_colorbar(image, [a, b], "")
    plt.close(fig)


def test_plot_maps_draws_each_map_cropped_on_one_scale_and_switches_the_rest_off():
    from convlib.plots.receptive import plot_maps

    wide, narrow = np.zeros((9, 9)), np.zeros((9, 9))
    wide[2:7, 1:8], narrow[4, 4] = 1.0, 3.0
    fig, axes = plt.subplots(2, 2, figsize=(7.0, 6.6))
    images = plot_maps(axes, {"wide": wide, "narrow": narrow}, colorbar_label="share (1)")
    assert [image.get_clim() for image in images] == [(0.0, 3.0), (0.0, 3.0)]
    assert images[0].get_array().shape == (5, 7) and images[1].get_array().shape == (1, 1)
    assert images[0].get_extent() == [0.5, 7.5, 6.5, 1.5]  # the input's pixel coordinates
    assert not axes[1, 0].axison and not axes[1, 1].axison and axes[0, 1].axison
    boxed = plot_maps(axes[0], {"wide": wide}, colorbar_label="share (1)", box=(0, 9, 0, 9),
                      vmax=1.0)
    assert boxed[0].get_array().shape == (9, 9) and boxed[0].get_clim() == (0.0, 1.0)
    plt.close(fig)
    with pytest.raises(ValueError, match="maps must hold 1 to 2 maps"):
        plot_maps(axes[0], {"a": wide, "b": wide, "c": wide}, colorbar_label="x")
    with pytest.raises(ValueError, match="tick_step must be"):
        plot_maps(axes[0], {"a": wide}, colorbar_label="x", tick_step=0)


def test_plot_maps_can_write_the_values_and_share_one_colour_bar():
    from convlib.plots.receptive import plot_maps

    counts = np.zeros((7, 7))
    counts[2:5, 2:5] = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 4.0), layout="constrained")
    images = plot_maps(axes, {"a": counts, "b": 2 * counts}, colorbar_label="paths (count)",
                       margin=1, fmt="{:.0f}", shared=True, tick_step=None, vmax=9)
    assert images[0].get_array().shape == (5, 5)
    assert [t.get_text() for t in axes[0].texts].count("4") == 1
    assert list(axes[0].get_xticks()) == [1, 2, 3, 4, 5]
    assert axes[0].get_ylabel() and axes[1].get_ylabel() == ""
    assert len(fig.axes) == 3  # two maps and one colour bar
    plt.close(fig)


def test_plot_kernels_centres_one_scale_at_zero_and_writes_every_weight():
    from convlib.plots.receptive import plot_kernels

    fig, axes = plt.subplots(2, 2, figsize=(7.0, 6.6), layout="constrained")
    small, large = np.array([[1.0, -2.0], [0.0, 3.0]]), np.full((3, 3), -6.0)
    bar = plot_kernels(axes, {"small": small, "large": large})
    assert bar.mappable.get_clim() == (-6.0, 6.0)
    assert sorted(t.get_text() for t in axes[0, 0].texts) == ["-2", "0", "1", "3"]
    assert not axes[1, 0].axison and not axes[1, 1].axison
    plt.close(fig)
    with pytest.raises(ValueError, match="kernels must hold"):
        plot_kernels(axes[0], {"a": small, "b": small, "c": small})


def test_the_erf_mass_figure_draws_both_stages_per_variant_and_follows_the_rules():
    radii = list(range(0, 11))
    rise = [min(1.0, r / 8) for r in radii]
    curves = {"5x5": {"init": rise, "trained": [min(1.0, r / 6) for r in radii]},
              "2x3x3": {"init": rise, "trained": [min(1.0, r / 5) for r in radii]}}
    styles = {"5x5": {k: v for k, v in line_style("plain", 5).items() if k != "label"},
              "2x3x3": {k: v for k, v in line_style("stacked").items() if k != "label"}}
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    plot_erf_mass(ax, curves, radii, styles, labels={"5x5": "one 5x5"})
    assert [line.get_label() for line in ax.get_lines()] == [
        "one 5x5, trained", "one 5x5, untrained", "2x3x3, trained", "2x3x3, untrained"]
    assert ax.get_lines()[0].get_color() == ax.get_lines()[1].get_color() == styles["5x5"]["color"]
    assert ax.get_lines()[0].get_marker() == ax.get_lines()[1].get_marker() == "^"
    assert ax.get_lines()[1].get_markerfacecolor() == "none"  # hollow: untrained
    assert list(ax.get_lines()[2].get_ydata()) == [100 * v for v in curves["2x3x3"]["trained"]]
    fig.tight_layout()
    assert figure_problems(fig) == []
    plt.close(fig)
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="missing '5x5'"):
        plot_erf_mass(ax, curves, radii, {"2x3x3": styles["2x3x3"]})
    with pytest.raises(ValueError, match="one share per radius"):
        plot_erf_mass(ax, curves, radii[:-1], styles)
    with pytest.raises(ValueError, match="'init' and/or 'trained'"):
        plot_erf_mass(ax, {"5x5": {"final": rise}}, radii, styles)
    plt.close(fig)
    fig, ax = plt.subplots()  # untrained networks only: the dotted lines alone
    plot_erf_mass(ax, {"5x5": {"init": rise}}, radii, styles)
    assert [line.get_label() for line in ax.get_lines()] == ["5x5, untrained"]
    plt.close(fig)
