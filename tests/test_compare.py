"""convlib.compare: every construction's weights, FLOPs and receptive field, checked against
PyTorch modules, the closed forms of the module docstring and the reference experiments."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib.chapter import experiment_networks
from convlib.compare import (
    CONSTRUCTIONS,
    REFERENCE_VARIANTS,
    compare_tricks,
    construction_params,
    constructions,
    cost_by_layer_kind,
    layer_kind,
    reference_accuracy,
    weight_ratio,
)
from convlib.flops import count_flops, count_macs
from convlib.params import count_params
from convlib.receptive import empirical_receptive_field
from convlib.results import load_reference

SETTINGS = settings(max_examples=15, deadline=None)


@st.composite
def layer_shapes(draw):
    """(c_in, c_out, k, input_size, groups, mid_channels) with groups dividing both widths."""
    groups = draw(st.sampled_from((1, 2, 4)))
    c_in = groups * draw(st.integers(1, 24 // groups))
    c_out = groups * draw(st.integers(1, 24 // groups))
    k = draw(st.sampled_from((3, 5, 7)))
    size = draw(st.integers(k, 12))
    mid = draw(st.one_of(st.none(), st.integers(1, 8)))
    return c_in, c_out, k, size, groups, mid


# ---------------------------------------------------------------------------- against PyTorch


@SETTINGS
@given(layer_shapes())
def test_rows_match_real_modules(shape):
    c_in, c_out, k, size, groups, mid = shape
    rows = compare_tricks(c_in, c_out, k, size, groups=groups, mid_channels=mid)
    built = constructions(c_in, c_out, k, groups=groups, mid_channels=mid)
    assert [r["name"] for r in rows] == [c.name for c in built]
    for row, construction in zip(rows, built):
        block = construction.build(c_in, c_out)  # real CPU weights, not meta
        assert row["weights"] == count_params(block)
        assert all(isinstance(m, (nn.Conv2d, nn.ReLU, nn.Sequential)) for m in block.modules())
        assert not any(m.bias is not None for m in block.modules() if isinstance(m, nn.Conv2d))
        assert row["flops"] == count_flops(block, (1, c_in, size, size))
        # stride 1, same padding, no bias: every weight is used once per output pixel
        assert row["flops"] == 2 * size * size * row["weights"]
        assert row["macs"] * 2 == row["flops"]
        assert row["receptive_field"] == k
        assert block(torch.zeros(1, c_in, size, size)).shape == (1, c_out, size, size)
    assert rows[0]["name"] == "plain" and rows[0]["weight_ratio"] == 1.0
    for row in rows:
        assert row["weight_ratio"] == pytest.approx(rows[0]["weights"] / row["weights"])
        assert row["flops_ratio"] == pytest.approx(row["weight_ratio"])


@pytest.mark.parametrize("k", [3, 5, 7])
def test_measured_receptive_field_is_k_for_every_construction(k):
    for construction in constructions(4, 4, k):
        block = construction.build(4, 4)
        measured = empirical_receptive_field(block, 2 * k + 5)
        assert tuple(measured.size) == (k, k), construction.name


def test_non_square_input_size():
    rows = compare_tricks(8, 8, 5, (6, 10))
    assert all(r["flops"] == 2 * 60 * r["weights"] for r in rows)


# ---------------------------------------------------------------------------- closed forms


@SETTINGS
@given(
    st.integers(1, 64).map(lambda n: 4 * n),
    st.sampled_from((3, 5, 7, 9)),
    st.sampled_from((1, 2, 4)),
)
def test_docstring_closed_forms_for_equal_widths(c, k, g):
    n, m = (k - 1) // 2, c // 4
    expected = {
        "plain": k * k * c * c,
        "stacked": 9 * n * c * c,
        "bottleneck": 2 * c * m + k * k * m * m,
        "grouped": k * k * c * c // g,
        "separable": k * k * c + c * c,
        "spatial": 2 * k * c * c,
        "stacked_separable": n * (9 * c + c * c),
    }
    names = [x.name for x in constructions(c, c, k, groups=g)]
    for name in names:
        assert construction_params(name, c, c, k, groups=g) == expected[name], name
    assert weight_ratio("separable", c, c, k) == Fraction(k * k * c, k * k + c)
    if k == 5:
        assert weight_ratio("stacked_separable", c, c, 5) == Fraction(25 * c, 2 * (9 + c))
        assert weight_ratio("bottleneck", c, c, 5) == Fraction(400, 33)  # 25 / (1/2 + 25/16)
    assert weight_ratio("grouped", c, c, k, groups=g) == g


def test_k3_leaves_out_the_duplicates():
    assert [c.name for c in constructions(8, 8, 3)] == [
        "plain",
        "bottleneck",
        "grouped",
        "separable",
        "spatial",
    ]
    assert [c.name for c in constructions(8, 8, 5)] == list(CONSTRUCTIONS)
    for name in ("stacked", "stacked_separable"):
        with pytest.raises(ValueError, match="kernel_size >= 5"):
            construction_params(name, 8, 8, 3)


def test_labels_are_unique_and_readable():
    labels = [c.label for c in constructions(256, 256, 5)]
    assert len(set(labels)) == len(labels)
    assert "two separable 3x3" in labels and "one 5x5" in labels and "two stacked 3x3" in labels


@pytest.mark.parametrize("bad, error", [
    (dict(c_in=True), TypeError), (dict(c_in=0), ValueError), (dict(c_out=2.0), TypeError),
    (dict(kernel_size=4), ValueError), (dict(kernel_size=1), ValueError),
    (dict(groups=3), ValueError), (dict(mid_channels=0), ValueError),
])
def test_bad_arguments_name_themselves(bad, error):
    args = dict(c_in=8, c_out=8, kernel_size=5, groups=2, mid_channels=None) | bad
    name = next(iter(bad))
    with pytest.raises(error, match=name):
        constructions(args.pop("c_in"), args.pop("c_out"), args.pop("kernel_size"), **args)


def test_bad_names_and_flags():
    with pytest.raises(ValueError, match="name must be one of"):
        construction_params("dense", 8, 8, 3)
    with pytest.raises(TypeError, match="name"):
        construction_params(3, 8, 8, 3)
    with pytest.raises(TypeError, match="accuracy"):
        compare_tricks(8, 8, 3, 8, accuracy=1)
    with pytest.raises(ValueError, match="input_size"):
        compare_tricks(8, 8, 3, 0)
    with pytest.raises(ValueError, match="name must be one of"):
        reference_accuracy("dense", 3)


# ---------------------------------------------------------------------------- reference results


def _conv_geometry(module: nn.Module) -> list[tuple]:
    return [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.groups)
            for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_reference_variants_train_exactly_their_construction():
    # the committed reference sets (format 1) trained the article's frame: chapter 7's table
    # reads them, so each construction is checked against the network they trained
    for (name, k, groups), sources in REFERENCE_VARIANTS.items():
        for experiment, variant_name in sources:
            net = experiment_networks(experiment, load_reference(experiment))[variant_name]
            c_in, c_out = (_conv_geometry(net.features.block2)[0][0],
                           _conv_geometry(net.features.block2)[-1][1])
            construction = {c.name: c for c in constructions(c_in, c_out, k, groups=groups or 2)}[
                name
            ]
            expected = construction.build(c_in, c_out)
            assert _conv_geometry(net.features.block2) == _conv_geometry(expected), (
                experiment,
                variant_name,
            )


def _fake_results(experiment: str, accuracies: dict[str, list[float]]) -> dict:
    return {
        "format": 1,
        "experiment": experiment,
        "provenance": {"profile": "smoke", "dataset": "CIFAR-10 (JPEG copy)", "device": "CPU"},
        "variants": {v: {"label": v, "block_weights": 1, "total_params": 1} for v in accuracies},
        "runs": [
            {"variant": v, "seed": s, "history": {"test_acc": [0.1, a], "train_acc": [0.1, a]}}
            for v, values in accuracies.items()
            for s, a in enumerate(values)
        ],
    }


def test_reference_accuracy_reads_the_results_file(tmp_path):
    (tmp_path / "separable.json").write_text(json.dumps(_fake_results(
        "separable", {"2x3x3": [0.6, 0.7], "2xsep3x3": [0.5, 0.55]})))
    found = reference_accuracy("stacked_separable", 5, folder=tmp_path)
    assert found["experiment"] == "separable" and found["variant"] == "2xsep3x3"
    assert found["mean"] == pytest.approx(0.525) and found["seeds"] == 2
    assert found["std"] == pytest.approx((2 * 0.025 ** 2) ** 0.5)
    # stacking.json is absent: the stacked 5x5 falls back on the separable experiment's 2x3x3
    assert reference_accuracy("stacked", 5, folder=tmp_path)["experiment"] == "separable"
    assert reference_accuracy("plain", 5, folder=tmp_path) is None
    assert reference_accuracy("spatial", 5, folder=tmp_path) is None
    rows = {
        r["name"]: r for r in compare_tricks(16, 16, 5, 8, accuracy=True, results_folder=tmp_path)
    }
    assert rows["stacked_separable"]["accuracy"] == pytest.approx(0.525)
    assert rows["stacked_separable"]["experiment"] == "separable/2xsep3x3"
    assert rows["plain"]["accuracy"] is None and rows["plain"]["experiment"] is None


def test_grouped_accuracy_depends_on_groups(tmp_path):
    (tmp_path / "grouped.json").write_text(json.dumps(_fake_results(
        "grouped", {"g1": [0.6, 0.6], "g2": [0.5, 0.5], "g4": [0.4, 0.4]})))
    assert reference_accuracy("grouped", 3, groups=2, folder=tmp_path)["mean"] == pytest.approx(0.5)
    assert reference_accuracy("grouped", 3, groups=4, folder=tmp_path)["mean"] == pytest.approx(0.4)
    assert reference_accuracy("grouped", 3, groups=8, folder=tmp_path) is None
    assert reference_accuracy("grouped", 5, groups=2, folder=tmp_path) is None
    assert reference_accuracy("plain", 3, folder=tmp_path)["variant"] == "g1"


# ---------------------------------------------------------------------------- layer kinds


def test_layer_kind():
    assert layer_kind(nn.Conv2d(8, 8, 3, groups=8)) == "depthwise"
    assert layer_kind(nn.Conv2d(8, 16, 3, groups=8)) == "depthwise"  # depth multiplier 2
    assert layer_kind(nn.Conv2d(8, 8, 3, groups=2)) == "grouped convolution"
    assert layer_kind(nn.Conv2d(8, 8, 1)) == "pointwise"
    assert layer_kind(nn.Conv2d(1, 1, 3, groups=1)) == "full convolution"
    assert layer_kind(nn.Conv2d(8, 8, (3, 1))) == "full convolution"
    assert layer_kind(nn.Linear(4, 2)) == "dense"
    assert layer_kind(nn.BatchNorm2d(4)) is None and layer_kind(nn.ReLU()) is None
    with pytest.raises(TypeError, match="module"):
        layer_kind("conv")


def test_cost_by_layer_kind_adds_up():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 16, 1),
                          nn.Conv2d(16, 16, 3, padding=1, groups=4),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    table = cost_by_layer_kind(model, (1, 3, 8, 8))
    assert list(table) == ["depthwise", "pointwise", "full convolution", "grouped convolution",
                           "dense", "other"]
    assert table["depthwise"] == {"layers": 1, "weights": 8 * 9 + 8, "macs": 8 * 9 * 64}
    assert table["pointwise"] == {"layers": 1, "weights": 8 * 16 + 16, "macs": 8 * 16 * 64}
    assert table["full convolution"]["macs"] == 3 * 8 * 9 * 64
    assert table["grouped convolution"]["weights"] == 16 * 4 * 9 + 16
    assert table["dense"] == {"layers": 1, "weights": 170, "macs": 160}
    assert table["other"] == {"layers": 1, "weights": 16, "macs": 0}
    assert sum(e["weights"] for e in table.values()) == count_params(model)
    assert sum(e["macs"] for e in table.values()) == count_macs(model, (1, 3, 8, 8))


def test_cost_by_layer_kind_mobilenet_v2():
    from convlib.zoo import build_model

    model = build_model("mobilenet_v2", device="meta")
    table = cost_by_layer_kind(model, (1, 3, 224, 224))
    assert table["depthwise"]["layers"] == 17 and table["pointwise"]["layers"] == 34
    assert table["full convolution"]["layers"] == 1 and "grouped convolution" not in table
    assert sum(e["weights"] for e in table.values()) == 3_504_872
    assert sum(e["macs"] for e in table.values()) == count_macs(model, (1, 3, 224, 224))
    assert table["pointwise"]["macs"] > 0.85 * sum(e["macs"] for e in table.values())


# ---------------------------------------------------------------------------- figures


def test_figure_helpers_draw_and_refuse_bad_data():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convlib.plots.separable import plot_ratio_curves, plot_shares, plot_tricks

    fig, axes = plt.subplots(1, 3)
    plot_ratio_curves(axes[0], [8, 16, 32], {"3x3": [4.2, 5.7, 7.0]}, levels={"9": 9})
    assert len(axes[0].get_lines()) == 2 and axes[0].get_xscale() == "log"
    rows = compare_tricks(16, 16, 5, 8)
    plot_tricks(axes[1], rows, pixels=64)
    assert len(axes[1].get_lines()) == len(rows) + 1
    plot_shares(axes[2], {"weights": {"a": 0.25, "b": 0.75}}, kinds=["a", "b"])
    assert len(axes[2].patches) == 2
    with pytest.raises(ValueError, match="curves"):
        plot_ratio_curves(axes[0], [8, 16], {"3x3": [1.0]})
    with pytest.raises(ValueError, match="rows"):
        plot_tricks(axes[1], [])
    with pytest.raises(ValueError, match="shares"):
        plot_shares(axes[2], {}, kinds=["a"])
    plt.close(fig)
