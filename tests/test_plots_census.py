"""convlib.plots.census: kernel-size shares of convolution weights (chapter 2)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402

from convlib.census import census_summary  # noqa: E402
from convlib.params import conv2d_params  # noqa: E402
from convlib.plots.census import (  # noqa: E402
    kernel_order,
    kernel_share_matrix,
    kernel_styles,
    plot_kernel_shares,
)


def small_models():
    a = nn.Sequential(nn.Conv2d(3, 8, 11), nn.Conv2d(8, 16, 3), nn.Conv2d(16, 16, 3))
    b = nn.Sequential(nn.Conv2d(3, 8, (7, 1)), nn.Conv2d(8, 8, (1, 7)), nn.Conv2d(8, 4, 1))
    return {"a": census_summary(a), "b": census_summary(b)}


def test_share_matrix_against_hand_counts():
    models, kernels, shares = kernel_share_matrix(small_models())
    assert models == ["a", "b"]
    assert kernels == ["11x11", "3x3", "7x1", "1x7", "1x1"]  # by area, taller first
    total_a = conv2d_params(3, 8, 11) + conv2d_params(8, 16, 3) + conv2d_params(16, 16, 3)
    assert shares[0][0] == conv2d_params(3, 8, 11) / total_a
    assert shares[0][1] == (conv2d_params(8, 16, 3) + conv2d_params(16, 16, 3)) / total_a
    assert shares[0][2] == shares[0][3] == shares[0][4] == 0.0
    assert shares[1][0] == shares[1][1] == 0.0
    for row in shares:
        assert sum(row) == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4),
                          st.integers(1, 4)), min_size=1, max_size=5))
def test_shares_sum_to_one(layers):
    model = nn.Sequential(*[nn.Conv2d(ci, co, (kh, kw)) for kh, kw, ci, co in layers])
    _, kernels, shares = kernel_share_matrix({"m": census_summary(model)})
    assert sum(shares[0]) == pytest.approx(1.0)
    assert len(kernels) == len({(kh, kw) for kh, kw, _, _ in layers})


def test_kernel_order():
    sizes = [(1, 1), (3, 3), (1, 7), (7, 1), (3, 3)]
    assert kernel_order(sizes) == [(3, 3), (7, 1), (1, 7), (1, 1)]


def test_plot_draws_one_segment_per_model_and_kernel():
    fig, ax = plt.subplots()
    try:
        models, kernels, shares = plot_kernel_shares(ax, small_models(), {"a": "model A"})
        assert len(ax.patches) == len(models) * len(kernels)
        widths = {}
        for patch in ax.patches:
            y = round(patch.get_y() + patch.get_height() / 2)
            widths[y] = widths.get(y, 0.0) + patch.get_width()
        assert widths == {0: pytest.approx(100.0), 1: pytest.approx(100.0)}
        hatches = {p.get_hatch() or "" for p in ax.patches}
        assert len(hatches) == len(kernels)
        assert [t.get_text() for t in ax.get_yticklabels()] == ["model A", "b"]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == kernels
    finally:
        plt.close(fig)


def test_styles_are_distinct():
    styles = kernel_styles([f"k{i}" for i in range(10)])
    assert len({s["hatch"] for s in styles.values()}) == 10
    assert len({s["color"] for s in styles.values()}) == 10
    with pytest.raises(ValueError, match="kernel sizes"):
        kernel_styles([f"k{i}" for i in range(11)])


@pytest.mark.parametrize("bad, error", [({}, ValueError), ([1], ValueError),
                                        ({"m": [1, 2]}, TypeError), ({"m": []}, ValueError)])
def test_bad_summaries_are_refused(bad, error):
    with pytest.raises(error, match="summaries"):
        kernel_share_matrix(bad)


def test_kind_shares_follow_the_style_map_and_sum_to_one():
    from convlib.census import LAYER_KINDS, weights_and_macs_by_kind
    from convlib.plots.census import plot_kind_shares
    from convlib.plots.style import construction_style

    models = {"separable": nn.Sequential(nn.Conv2d(4, 4, 7, padding=3, groups=4),
                                         nn.Conv2d(4, 8, 1)),
              "plain": nn.Sequential(nn.Conv2d(4, 8, 3, padding=1))}
    totals = {name: weights_and_macs_by_kind(m, (1, 4, 8, 8)) for name, m in models.items()}
    fig, ax = plt.subplots()
    shares = plot_kind_shares(ax, totals, "weights")
    depthwise, pointwise = 4 * 49 + 4, 4 * 8 + 8
    assert shares[0][LAYER_KINDS.index("depthwise")] == depthwise / (depthwise + pointwise)
    assert shares[1][LAYER_KINDS.index("full")] == 1.0
    assert all(abs(sum(row) - 1) < 1e-12 for row in shares)
    colours = {text.get_text(): handle.get_facecolor()
               for text, handle in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    separable = construction_style("separable")["color"].lower()
    assert matplotlib.colors.to_hex(colours["depthwise k x k"]) == separable
    with pytest.raises(ValueError, match="what must be"):
        plot_kind_shares(ax, totals, "bytes")
    plt.close(fig)
