"""convlib.plots.dense: the drawing of a convolution's dense matrix (chapter 1)."""

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

from convlib.dense import dense_structure  # noqa: E402
from convlib.plots.dense import (  # noqa: E402
    plot_weight_index,
    weight_index_array,
    weight_index_colors,
)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_article_example_is_drawn_cell_by_cell(ax):
    s = dense_structure(nn.Conv2d(1, 1, 3, bias=False), 4)
    image = plot_weight_index(ax, s.weight_index)
    rgba = image.get_array()
    assert rgba.shape == (4, 16, 4)
    white = np.all(np.asarray(rgba) == 1.0, axis=-1)
    assert int(white.sum()) == s.structural_zeros == 28
    texts = sorted(t.get_text() for t in ax.texts)
    assert len(texts) == s.tied_entries == 36
    assert sorted(set(texts)) == [f"w{i}" for i in range(9)]
    # every kernel weight is copied once per output pixel
    assert all(texts.count(f"w{i}") == 4 for i in range(9))


def test_same_weight_same_colour_distinct_weights_distinct_colours(ax):
    index = np.array([[0, 1, -1], [2, 0, 1]])
    rgba = np.asarray(plot_weight_index(ax, index, annotate=False).get_array())
    assert not ax.texts
    assert np.array_equal(rgba[0, 0], rgba[1, 1])
    assert np.array_equal(rgba[0, 1], rgba[1, 2])
    assert len({tuple(rgba[0, 0]), tuple(rgba[0, 1]), tuple(rgba[1, 0])}) == 3
    assert np.all(rgba[0, 2] == 1.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 40))
def test_colours_are_distinct(n):
    colors = weight_index_colors(n)
    assert len(colors) == n
    assert len(set(colors)) == n
    assert all(len(c) == 4 and all(0.0 <= v <= 1.0 for v in c) for c in colors)


def test_n_weights_keeps_colours_across_panels(ax):
    full = np.asarray(plot_weight_index(ax, np.arange(9).reshape(3, 3)).get_array())
    part = np.asarray(plot_weight_index(ax, np.array([[4, -1]]), n_weights=9).get_array())
    assert np.array_equal(part[0, 0], full[1, 1])


def test_accepts_tensors_and_lists():
    assert weight_index_array(torch.tensor([[0, -1]])).dtype == np.int64
    assert weight_index_array([[1, 2], [-1, 0]]).shape == (2, 2)


@pytest.mark.parametrize("bad, error", [
    (np.arange(4), ValueError),
    (np.array([[0.0, 1.0]]), TypeError),
    (np.array([[True, False]]), TypeError),
    (np.array([[0, -2]]), ValueError),
])
def test_bad_matrices_are_refused(bad, error):
    with pytest.raises(error, match="weight_index"):
        weight_index_array(bad)


def test_bad_options_are_refused(ax):
    with pytest.raises(ValueError, match="n_weights"):
        plot_weight_index(ax, [[0, 3]], n_weights=3)
    with pytest.raises(TypeError, match="annotate"):
        plot_weight_index(ax, [[0, 1]], annotate="yes")
    with pytest.raises(ValueError, match="n must be"):
        weight_index_colors(-1)


def test_the_sliding_window_labels_the_same_weights_at_every_position():
    import matplotlib.pyplot as plt

    from convlib.plots.dense import plot_sliding_window

    fig, ax = plt.subplots()
    assert plot_sliding_window(ax, in_size=5, kernel_size=3, positions=((0, 0), (2, 2))) == 3
    labels = [t.get_text() for t in ax.texts if t.get_text().startswith("w")]
    assert sorted(labels) == sorted([f"w{i}" for i in range(9)] * 2)
    plt.close(fig)


@pytest.mark.parametrize("bad, match", [
    (dict(kernel_size=7), "kernel_size"), (dict(in_size=0), "in_size"),
    (dict(positions=((4, 0),)), "positions")])
def test_the_sliding_window_refuses_impossible_windows(bad, match):
    import matplotlib.pyplot as plt

    from convlib.plots.dense import plot_sliding_window

    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=match):
        plot_sliding_window(ax, **bad)
    plt.close(fig)


def _curve(values):
    return {"mean": values, "low": [v - 0.01 for v in values], "high": [v + 0.01 for v in values],
            "seeds": 2}


def test_plot_train_test_draws_train_and_test_per_variant_in_its_colour():
    from convlib.plots.dense import plot_train_test
    from convlib.plots.style import line_style

    train = {"mlp": _curve([0.5, 0.8, 0.99]), "cnn": _curve([0.4, 0.7, 0.9])}
    test = {"mlp": _curve([0.3, 0.35, 0.33]), "cnn": _curve([0.35, 0.45, 0.5])}
    styles = {"mlp": line_style("dense"), "cnn": line_style("cnn")}
    fig, axes = plt.subplots(1, 2, sharey=True)
    plot_train_test(axes, train, test, {"mlp": "MLP", "cnn": "CNN"}, styles)
    for ax, name in zip(axes, ("mlp", "cnn")):
        train_line, test_line = ax.get_lines()
        assert list(train_line.get_ydata()) == pytest.approx([100 * v for v in train[name]["mean"]])
        assert list(test_line.get_ydata()) == pytest.approx([100 * v for v in test[name]["mean"]])
        assert train_line.get_color() == test_line.get_color() == styles[name]["color"]
        assert train_line.get_linestyle() == "-" and test_line.get_linestyle() == "--"
        assert ax.get_title() == {"mlp": "MLP", "cnn": "CNN"}[name]
    plt.close(fig)
    with pytest.raises(ValueError, match="labels and styles"):
        plot_train_test(axes, train, test, {"mlp": "MLP"}, styles)
