"""convlib.blocks: the built blocks match their closed-form weight counts, shapes and layouts."""

from __future__ import annotations

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib.blocks import (
    BLOCK_KINDS,
    ConvNeXtBlock,
    block_params,
    describe_block,
    make_block,
    make_frame_block,
    stacked_depth,
)

SETTINGS = settings(max_examples=60, deadline=None)


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


@st.composite
def block_args(draw, strides=(1,)):
    """(kind, c_in, c_out, k, options) that make_block accepts, channels 1-64."""
    kind = draw(st.sampled_from(BLOCK_KINDS))
    k = draw(st.sampled_from((3, 5, 7) if kind == "stacked" else (1, 3, 5, 7)))
    options: dict = {
        "stride": draw(st.sampled_from(strides)),
        "repeats": draw(st.integers(1, 2)),
        "activation": draw(st.sampled_from((None, "relu", "gelu", "silu"))),
        "norm": draw(st.sampled_from((None, "batch"))),
        "bias": draw(st.sampled_from((None, True, False))),
    }
    if kind == "grouped":
        groups = draw(st.sampled_from((1, 2, 4, 8)))
        c_in = groups * draw(st.integers(1, 64 // groups))
        c_out = groups * draw(st.integers(1, 64 // groups))
        options["groups"] = groups
    else:
        c_in, c_out = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    if kind == "bottleneck":
        groups = draw(st.sampled_from((1, 2, 4)))
        options["groups"] = groups
        options["mid_channels"] = groups * draw(st.integers(1, 16 // groups))
    if kind in ("separable", "spatial"):
        options["inner_activation"] = draw(st.booleans())
    return kind, c_in, c_out, k, options


# ---------------------------------------------------------------------------- properties


@SETTINGS
@given(block_args())
def test_block_params_equals_the_built_parameter_count(args):
    kind, c_in, c_out, k, options = args
    assert block_params(kind, c_in, c_out, k, **options) == numel(
        make_block(kind, c_in, c_out, k, **options)
    )


@SETTINGS
@given(block_args(strides=(1, 2, 3)), st.integers(1, 9), st.integers(1, 9))
def test_output_shape_is_same_padded_and_strided(args, h, w):
    kind, c_in, c_out, k, options = args
    block = make_block(kind, c_in, c_out, k, **options).eval()  # eval: BatchNorm takes batch 1
    with torch.no_grad():
        out = block(torch.randn(1, c_in, h, w))
    s = options["stride"]
    assert out.shape == (1, c_out, math.ceil(h / s), math.ceil(w / s))


@SETTINGS
@given(block_args())
def test_bias_defaults_to_no_norm_and_applies_to_every_conv(args):
    kind, c_in, c_out, k, options = args
    expected = options["norm"] is None if options["bias"] is None else options["bias"]
    block = make_block(kind, c_in, c_out, k, **options)
    assert all((c.bias is not None) == expected for c in convs(block))


# ---------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("k", [3, 5, 7, 9])
def test_stacked_has_k_minus_1_over_2_convs_all_3x3(k):
    block = make_block("stacked", 4, 6, k)
    found = convs(block)
    assert len(found) == stacked_depth(k) == (k - 1) // 2
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in found)
    channels = [(c.in_channels, c.out_channels) for c in found]
    assert channels == [(4, 6)] + [(6, 6)] * (len(found) - 1)


@pytest.mark.parametrize("c_in", [1, 3, 16])
def test_separable_is_depthwise_then_pointwise(c_in):
    block = make_block("separable", c_in, 8, 5)
    depthwise = block.depthwise
    assert depthwise.groups == c_in == depthwise.in_channels == depthwise.out_channels
    assert block.depthwise.kernel_size == (5, 5)
    assert block.pointwise.kernel_size == (1, 1) and block.pointwise.out_channels == 8


def test_spatial_is_kx1_then_1xk():
    block = make_block("spatial", 3, 8, 7)
    assert block.vertical.kernel_size == (7, 1) and block.vertical.padding == (3, 0)
    assert block.horizontal.kernel_size == (1, 7) and block.horizontal.padding == (0, 3)
    assert (block.horizontal.in_channels, block.horizontal.out_channels) == (8, 8)


@pytest.mark.parametrize("c_out, mid", [(64, 16), (8, 2), (3, 1), (1, 1)])
def test_bottleneck_defaults_to_a_quarter_of_c_out(c_out, mid):
    block = make_block("bottleneck", 5, c_out)
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs(block)] == [
        (5, mid, (1, 1)), (mid, mid, (3, 3)), (mid, c_out, (1, 1))
    ]


def test_numpy_integers_are_accepted():
    np = pytest.importorskip("numpy")
    block = make_block("plain", np.int64(4), np.int32(8), np.int64(3))
    assert block.conv1.weight.shape == (8, 4, 3, 3)
    assert block_params("plain", np.int64(4), 8) == numel(block)


def test_grouped_uses_the_number_of_groups():
    block = make_block("grouped", 8, 16, 3, groups=4)
    assert block.conv1.groups == 4 and block.conv1.weight.shape == (16, 2, 3, 3)


@pytest.mark.parametrize("kind, options, names", [
    ("plain", {}, ["conv1", "act1"]),
    ("plain", {"norm": "batch"}, ["conv1", "bn1", "act1"]),
    ("grouped", {"groups": 2, "activation": None}, ["conv1"]),
    ("stacked", {"kernel_size": 5}, ["conv1", "act1", "conv2", "act2"]),
    ("bottleneck", {"norm": "batch"},
     ["conv1", "bn1", "act1", "conv2", "bn2", "act2", "conv3", "bn3", "act3"]),
    ("separable", {}, ["depthwise", "pointwise", "act2"]),
    ("separable", {"norm": "batch"}, ["depthwise", "pointwise", "bn2", "act2"]),
    ("separable", {"norm": "batch", "inner_activation": True},
     ["depthwise", "bn1", "act1", "pointwise", "bn2", "act2"]),
    ("spatial", {"norm": "batch"}, ["vertical", "horizontal", "bn2", "act2"]),
    ("spatial", {"inner_activation": True}, ["vertical", "act1", "horizontal", "act2"]),
])
def test_norm_and_activation_placement(kind, options, names):
    block = make_block(kind, 4, 8, **options)
    assert [name for name, _ in block.named_children()] == names


def test_repeats_are_named_children_and_only_the_first_strides():
    block = make_block("separable", 4, 8, stride=2, repeats=2)
    assert [name for name, _ in block.named_children()] == ["repeat1", "repeat2"]
    assert block.repeat1.depthwise.stride == (2, 2) and block.repeat2.depthwise.stride == (1, 1)
    assert block.repeat2.depthwise.in_channels == 8


@pytest.mark.parametrize("kind, strided", [
    ("plain", "conv1"), ("grouped", "conv1"), ("stacked", "conv1"), ("bottleneck", "conv2"),
    ("separable", "depthwise"), ("spatial", "vertical"),
])
def test_stride_sits_on_the_first_spatial_conv(kind, strided):
    block = make_block(kind, 4, 8, 5, stride=2)
    assert {name for name, m in block.named_children()
            if isinstance(m, nn.Conv2d) and m.stride != (1, 1)} == {strided}


@pytest.mark.parametrize("activation, layer",
                         [("relu", nn.ReLU), ("gelu", nn.GELU), ("silu", nn.SiLU)])
def test_activation_layers(activation, layer):
    assert isinstance(make_block("plain", 2, 2, activation=activation).act1, layer)


def test_without_activation_and_norm_a_block_is_linear_and_two_3x3_compose_into_a_5x5():
    torch.manual_seed(0)
    stacked = make_block("stacked", 1, 1, 5, activation=None, bias=False)
    x, y = torch.randn(2, 1, 1, 12, 12)
    with torch.no_grad():
        assert torch.allclose(stacked(2 * x - 3 * y), 2 * stacked(x) - 3 * stacked(y), atol=1e-5)
        # The 5x5 kernel is the flipped impulse response (PyTorch convolutions are correlations).
        impulse = torch.zeros(1, 1, 9, 9)
        impulse[..., 4, 4] = 1
        kernel = stacked(impulse)[..., 2:7, 2:7].flip(-1, -2)
        plain = make_block("plain", 1, 1, 5, activation=None, bias=False)
        plain.conv1.weight.copy_(kernel)
        # Equal away from the border, where the intermediate map's zero padding does not reach.
        assert torch.allclose(stacked(x)[..., 1:-1, 1:-1], plain(x)[..., 1:-1, 1:-1], atol=1e-5)


# ---------------------------------------------------------------------------- formulas


@pytest.mark.parametrize("kind, args, options, expected", [
    ("plain", (64, 64, 5), {}, 64 * 64 * 25 + 64),
    ("stacked", (64, 64, 5), {}, 2 * (64 * 64 * 9 + 64)),
    ("stacked", (64, 64, 7), {"norm": "batch"}, 3 * (64 * 64 * 9 + 2 * 64)),
    ("separable", (32, 64, 3), {}, 32 * 9 + 32 * 64 + 32 + 64),
    ("separable", (32, 64, 3), {"repeats": 2},
     (32 * 9 + 32 * 64 + 32 + 64) + (64 * 9 + 64 * 64 + 64 + 64)),
    ("grouped", (64, 128, 3), {"groups": 32, "bias": False}, 2 * 128 * 9),
    ("bottleneck", (256, 256, 3), {"norm": "batch"},
     256 * 64 + 64 * 64 * 9 + 64 * 256 + 2 * (64 + 64 + 256)),
    ("bottleneck", (256, 256, 3), {"groups": 32, "mid_channels": 128, "bias": False},
     256 * 128 + 4 * 128 * 9 + 128 * 256),
    ("spatial", (16, 16, 7), {"bias": False}, 7 * 16 * 16 * 2),
])
def test_hand_counted_examples(kind, args, options, expected):
    built = make_block(kind, *args, **options)
    assert block_params(kind, *args, **options) == expected == numel(built)


@pytest.mark.parametrize("kind, args, options, text", [
    ("plain", (3, 8, 5), {}, "one 5x5 convolution"),
    ("stacked", (3, 8, 5), {}, "two stacked 3x3 convolutions (5x5 receptive field)"),
    ("stacked", (3, 8, 3), {}, "one stacked 3x3 convolution (3x3 receptive field)"),
    ("bottleneck", (64, 64, 3), {"groups": 4},
     "bottleneck 1x1, 3x3 in 4 groups, 1x1 through 16 channels"),
    ("grouped", (8, 8, 3), {"groups": 2}, "one 3x3 convolution in 2 groups"),
    ("separable", (8, 8, 3), {"repeats": 2},
     "2 x [depthwise 3x3 + pointwise 1x1 (depthwise separable)]"),
    ("spatial", (8, 8, 7), {"stride": 2},
     "7x1 then 1x7 convolutions (spatially separable), stride 2"),
])
def test_describe_block(kind, args, options, text):
    assert describe_block(kind, *args, **options) == text


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("args, options, error, match", [
    (("dilated", 4, 4), {}, ValueError,
     "kind must be one of .*plain.*stacked.*bottleneck.*grouped.*separable.*spatial"),
    ((3, 4, 4), {}, TypeError, "kind must be one of"),
    (("grouped", 6, 8), {"groups": 4}, ValueError, "groups must divide c_in and c_out.*c_in=6"),
    (("grouped", 8, 6), {"groups": 4}, ValueError, "groups must divide c_in and c_out.*c_out=6"),
    (("bottleneck", 8, 64), {"groups": 3}, ValueError, "groups must divide mid_channels"),
    (("plain", 8, 8), {"groups": 2}, ValueError, "groups applies only to kinds"),
    (("stacked", 4, 4, 4), {}, ValueError, "kernel_size must be odd"),
    (("plain", 4, 4, 4), {}, ValueError, "kernel_size must be odd"),
    (("stacked", 4, 4, 1), {}, ValueError, "kernel_size must be odd and >= 3 for 'stacked'"),
    (("plain", 0, 4), {}, ValueError, "c_in must be an int >= 1"),
    (("plain", 4, -2), {}, ValueError, "c_out must be an int >= 1"),
    (("plain", True, 4), {}, TypeError, "c_in must be an int"),
    (("plain", 4, 4.0), {}, TypeError, "c_out must be an int"),
    (("plain", 4, 4, (3, 3)), {}, TypeError, "kernel_size must be an int"),
    (("plain", 4, 4), {"stride": 0}, ValueError, "stride must be an int >= 1"),
    (("plain", 4, 4), {"repeats": True}, TypeError, "repeats must be an int"),
    (("bottleneck", 4, 4), {"mid_channels": 0}, ValueError, "mid_channels must be an int >= 1"),
    (("plain", 4, 4), {"mid_channels": 2}, ValueError, "mid_channels applies only to kind"),
    (("plain", 4, 4), {"activation": "tanh"}, ValueError, "activation must be one of .*relu.*silu"),
    (("plain", 4, 4), {"norm": "layer"}, ValueError, "norm must be one of .*batch"),
    (("plain", 4, 4), {"bias": 1}, TypeError, "bias must be True, False or None"),
    (("plain", 4, 4), {"inner_activation": True}, ValueError, "inner_activation applies only"),
])
def test_bad_input_names_the_argument(args, options, error, match):
    for function in (make_block, block_params, describe_block):
        with pytest.raises(error, match=match):
            function(*args, **options)


def test_residual_adds_identity_shortcuts_without_weights():
    from convlib.blocks import Residual

    plain = make_block("bottleneck", 64, 64, repeats=3, norm="batch")
    shortcut = make_block("bottleneck", 64, 64, repeats=3, norm="batch", residual=True)
    assert numel(shortcut) == numel(plain) == block_params(
        "bottleneck", 64, 64, repeats=3, norm="batch")
    assert all(isinstance(unit, Residual) for unit in shortcut)
    widening = make_block("bottleneck", 32, 64, repeats=2, residual=True)  # 32 -> 64: no identity
    assert not isinstance(widening.repeat1, Residual) and isinstance(widening.repeat2, Residual)
    x = torch.randn(2, 64, 8, 8)
    shortcut.eval()
    assert torch.allclose(shortcut.repeat1(x), x + shortcut.repeat1.body(x))
    with pytest.raises(TypeError, match="residual must be True or False"):
        make_block("plain", 8, 8, residual=1)


# ---------------------------------------------------------------------------- the registry


def test_a_new_kind_is_one_block_class(monkeypatch):
    """A dilated 3x3 (here just its weights) needs one Block subclass: its convolutions, its
    closed form from convlib.params and its description; make_block, block_params,
    describe_block and the option checks pick it up once BLOCKS names it."""
    from convlib import blocks, params

    class DilatedBlock(blocks.Block):
        kind = "dilated"

        @staticmethod
        def convolutions(s):
            return [("conv1", nn.Conv2d(s.c_in, s.c_out, 3, s.stride, 2, dilation=2,
                                        bias=s.bias), True)]

        @staticmethod
        def weights(s):
            return params.conv2d_params(s.c_in, s.c_out, 3, bias=s.bias) + (
                params.batchnorm_params(s.c_out) if s.norm == "batch" else 0)

        @staticmethod
        def describe(s):
            return "one dilated 3x3 convolution"

    monkeypatch.setitem(blocks.BLOCKS, "dilated", DilatedBlock)
    block = make_block("dilated", 4, 8, norm="batch", repeats=2)
    assert isinstance(block.repeat2, DilatedBlock)
    assert numel(block) == block_params("dilated", 4, 8, norm="batch", repeats=2)
    assert block(torch.zeros(1, 4, 9, 9)).shape == (1, 8, 9, 9)
    assert describe_block("dilated", 4, 8, stride=2) == "one dilated 3x3 convolution, stride 2"
    with pytest.raises(ValueError, match="groups applies only to kinds"):
        make_block("dilated", 4, 8, groups=2)


def test_every_registered_class_is_what_make_block_builds_and_counts():
    from convlib import blocks

    assert BLOCK_KINDS == tuple(blocks.BLOCKS)
    for kind, cls in blocks.BLOCKS.items():
        assert cls.kind == kind and issubclass(cls, blocks.Block)
        assert re.search(r"\b(19|20)\d\d\b", cls.__doc__) and "Weights" in cls.__doc__, kind
        options = {"groups": 2} if "groups" in cls.options else {}
        if "inner_activation" in cls.options:
            options["inner_activation"] = True
        assert type(make_block(kind, 8, 16, 5, **options)) is cls
        for norm in (None, "batch"):
            block = make_block(kind, 8, 16, 5, norm=norm, repeats=2, **options)
            assert all(type(unit) is cls for unit in block), kind
            assert block_params(kind, 8, 16, 5, norm=norm, repeats=2, **options) == numel(
                block), (kind, norm)
    with pytest.raises(ValueError, match="repeats"):
        blocks.PlainBlock(4, 8, repeats=2)


def test_the_depth_control_counts_its_docstring_formula():
    from convlib.blocks import DepthControlBlock

    for c_in, c_out, k in ((3, 8, 5), (30, 60, 5), (16, 16, 7)):
        block = make_frame_block("plain-1x1", c_in, c_out, k)
        assert isinstance(block, DepthControlBlock)
        assert numel(block) == c_in * c_out * k * k + c_out * c_out + 2 * 2 * c_out


def test_the_frame_networks_keep_the_layouts_their_weights_were_trained_with():
    """The reference results were trained by commit 1160485 and the book checks the weights it
    stored: every frame network of the experiments must keep its state_dict keys, order and
    shapes (so that the same seed also gives the same initial weights). Recorded from that
    commit's code in tests/frame_state_dicts.json."""
    import json
    from pathlib import Path

    from convlib.models import FrameNet

    recorded = json.loads((Path(__file__).parent / "frame_state_dicts.json").read_text())
    assert len(recorded) == 18
    for name, network in recorded.items():
        options = {key: tuple(value) if isinstance(value, list) else value
                   for key, value in network["options"].items()}
        built = FrameNet(*network["args"], **options).state_dict()
        layout = [f"{key} {'x'.join(map(str, value.shape)) or 'scalar'}"
                  for key, value in built.items()]
        assert layout == network["state_dict"], name


def test_a_residual_unit_starts_as_the_identity():
    """Zero scale on the body's last BatchNorm: at initialisation y = x exactly, so a deep chain of
    residual units trains from a stable start."""
    import torch

    block = make_block("bottleneck", 16, 16, repeats=4, norm="batch", residual=True).train()
    x = torch.randn(2, 16, 5, 5)
    assert torch.equal(block(x), x)


def test_convnext_block_counts_what_it_builds_and_starts_as_the_identity():
    for c, k, e in ((8, 7, 4), (12, 13, 2), (5, 3, 1)):
        block = ConvNeXtBlock(c, k, e)
        assert numel(block) == c * k * k + 2 * e * c * c + (4 + e) * c  # its docstring's formula
        x = torch.randn(2, c, 9, 9)
        block.eval()
        torch.testing.assert_close(block(x), x)  # zero projection: the identity at the start
    projected = make_frame_block("convnext", 16, 24, 7)
    assert projected(torch.randn(1, 16, 8, 8)).shape == (1, 24, 8, 8)
    assert projected.convnext.depthwise.groups == 24


def test_the_depth_control_is_a_large_kernel_then_a_1x1_with_their_norms():
    block = make_frame_block("plain-1x1", 8, 16, 5)
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5), (1, 1)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in block.modules()) == 2
    with pytest.raises(ValueError, match="kind must be one of"):
        make_frame_block("dilated", 8, 16, 5)
    with pytest.raises(ValueError, match="options of 'convnext'"):
        make_frame_block("convnext", 8, 8, 7, groups=2)
