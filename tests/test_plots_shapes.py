"""Shape drawings of blocks (convlib.plots.shapes): drawn from the module make_block builds."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from convlib.blocks import block_params, make_block
from convlib.params import count_params
from convlib.plots.shapes import block_figure, block_layers, plot_block
from convlib.plots.style import figure_problems

CASES = [
    ("plain", 16, 32, 5, {}),
    ("stacked", 16, 16, 7, {"norm": "batch"}),
    ("bottleneck", 64, 64, 3, {"groups": 4}),
    ("bottleneck", 32, 48, 5, {"mid_channels": 8, "stride": 2, "norm": "batch"}),
    ("grouped", 16, 32, 3, {"groups": 8}),
    ("separable", 16, 24, 3, {"stride": 2}),
    ("separable", 16, 24, 5, {"norm": "batch", "inner_activation": True}),
    ("spatial", 8, 8, 7, {"bias": True}),
    ("plain", 8, 16, 3, {"repeats": 3, "stride": 2}),
]


@pytest.mark.parametrize("kind, c_in, c_out, k, options", CASES)
def test_the_weights_drawn_are_the_modules_parameters(kind, c_in, c_out, k, options):
    layers = block_layers(kind, c_in, c_out, k, size=(12, 10), **options)
    module = make_block(kind, c_in, c_out, k, **options)
    assert sum(layer.weights for layer in layers) == count_params(module) \
        == block_params(kind, c_in, c_out, k, **options)
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(layers) == len(convs)
    for layer, conv in zip(layers, convs):
        assert layer.weights >= conv.weight.numel()
        assert layer.kernel == tuple(conv.kernel_size) and layer.groups == conv.groups


@pytest.mark.parametrize("kind, c_in, c_out, k, options", CASES)
def test_the_shapes_drawn_are_the_modules_shapes(kind, c_in, c_out, k, options):
    layers = block_layers(kind, c_in, c_out, k, size=(12, 10), **options)
    output = make_block(kind, c_in, c_out, k, **options)(torch.zeros(1, c_in, 12, 10))
    assert layers[0].in_shape == (c_in, 12, 10)
    assert layers[-1].out_shape == tuple(output.shape[1:])
    for before, after in zip(layers, layers[1:]):
        assert before.out_shape == after.in_shape


def test_a_bottleneck_narrows_then_widens():
    shapes = [layer.out_shape for layer in block_layers("bottleneck", 256, 256, 3, size=8)]
    assert shapes == [(64, 8, 8), (64, 8, 8), (256, 8, 8)]
    captions = [layer.caption() for layer in block_layers("bottleneck", 256, 256, 3, groups=4)]
    assert "4 groups" in captions[1] and "16,448 weights" in captions[0]


def test_the_drawing_prints_each_layers_weights_and_the_total():
    fig, ax = plt.subplots(figsize=(7, 2.3))
    layers = plot_block(ax, "separable", 64, 128, 3, size=16, stride=2)
    texts = [t.get_text() for t in ax.texts]
    for layer in layers:
        assert any(f"{layer.weights:,} weights" in t for t in texts)
    assert "64x16x16" in texts and "128x8x8" in texts
    assert f"{sum(l.weights for l in layers):,} weights" in ax.get_title()
    plt.close(fig)


def test_a_figure_of_every_kind_is_legible_at_page_width():
    kinds = ["plain", "stacked", "bottleneck", "grouped", "separable", "spatial"]
    options = {"grouped": {"groups": 4}, "bottleneck": {"groups": 2}}
    fig = block_figure([dict(kind=k, c_in=32, c_out=32, kernel_size=5, **options.get(k, {}))
                        for k in kinds], size=8)
    assert figure_problems(fig) == []
    plt.close(fig)


@pytest.mark.parametrize("bad, error", [
    (dict(size=0), ValueError), (dict(size=(8,)), ValueError), (dict(size=True), ValueError),
    (dict(kernel_size=4), ValueError), (dict(groups=3, kind="grouped"), ValueError),
    (dict(c_in=1.5), TypeError),
])
def test_bad_arguments_are_named(bad, error):
    arguments = dict(kind="plain", c_in=8, c_out=8, kernel_size=3) | bad
    with pytest.raises(error, match=next(iter(k for k in bad if k != "kind"))):
        block_layers(**arguments)


def test_block_figure_wants_a_list_of_dicts():
    with pytest.raises(TypeError, match="blocks"):
        block_figure(dict(kind="plain", c_in=8, c_out=8))
