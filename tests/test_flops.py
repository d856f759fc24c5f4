"""convlib.flops: PyTorch's own FLOP counter agrees with the closed forms and published numbers."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib import flops

# PyTorch warns that even kernels with padding='same' pad a copy of the input: expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
SETTINGS = settings(max_examples=40, deadline=None)
ENTRY_2 = r"input_shape\[2\]"  # messages name the bad entry of a shape


@st.composite
def convs_and_shapes(draw):
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", 0, 1, 2, (1, 0)]))
    bias = draw(st.booleans())
    conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, groups, bias)
    size = (draw(st.integers(10, 16)), draw(st.integers(10, 16)))
    return conv, (draw(st.integers(1, 2)), c_in, *size)


@SETTINGS
@given(convs_and_shapes())
def test_counted_conv_flops_equal_the_closed_form(conv_and_shape):
    conv, shape = conv_and_shape
    out = flops.conv2d_output_size(shape[2:], conv.kernel_size, conv.stride, conv.padding,
                                   conv.dilation)
    assert out == tuple(conv(torch.zeros(shape)).shape[2:])
    expected = shape[0] * flops.conv2d_flops(conv.in_channels, conv.out_channels,
                                             conv.kernel_size, out, groups=conv.groups)
    assert flops.count_flops(conv, shape) == expected  # bias not counted, by PyTorch or by us
    assert flops.count_macs(conv, shape) == expected // 2


@SETTINGS
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 3), st.booleans())
def test_counted_linear_flops_equal_the_closed_form(n_in, n_out, batch, bias):
    counted = flops.count_flops(nn.Linear(n_in, n_out, bias=bias), (batch, n_in))
    assert counted == batch * flops.dense_flops(n_in, n_out)


@SETTINGS
@given(st.integers(1, 20), st.integers(1, 7), st.integers(1, 2))
def test_same_padding_keeps_the_size(n, k, d):
    assert flops.conv2d_output_size((n, n + 1), k, padding="same", dilation=d) == (n, n + 1)
    conv = nn.Conv2d(1, 1, k, padding="same", dilation=d)
    assert tuple(conv(torch.zeros(1, 1, n, n + 1)).shape[2:]) == (n, n + 1)


def test_resnet50_matches_torchvision_published_count():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet50(weights=None)
    # torchvision's model table says "GFLOPS 4.09" for ResNet-50, but the number is GMACs
    # (multiply-accumulates): PyTorch's counter gives 8.18e9 FLOPs = 4.09e9 MACs.
    macs = flops.count_macs(model, (1, 3, 224, 224))
    assert macs == pytest.approx(4.09e9, rel=0.01)
    assert flops.count_flops(model, (1, 3, 224, 224)) == pytest.approx(2 * 4.09e9, rel=0.01)
    assert model.training  # the flag is restored


def test_training_flags_are_restored_and_meta_models_cost_nothing():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout()).to("meta")
    model[1].eval()
    assert flops.count_flops(model, (1, 3, 8, 8)) == flops.conv2d_flops(3, 4, 3, 6)
    assert model.training and not model[1].training and model[2].training


def test_flops_by_layer_sums_to_the_total():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    by_layer = flops.flops_by_layer(model, (2, 3, 8, 8))
    assert by_layer == {"0": 2 * flops.conv2d_flops(3, 8, 3, 8),
                        "2": 2 * flops.conv2d_flops(8, 8, 3, 6, groups=2),
                        "5": 2 * flops.dense_flops(8, 10)}
    assert sum(by_layer.values()) == flops.count_flops(model, (2, 3, 8, 8))


def test_output_size_formula():
    assert flops.conv2d_output_size(224, 7, stride=2, padding=3) == (112, 112)
    size = flops.conv2d_output_size((5, 9), (3, 1), stride=(2, 1), padding="valid",
                                    dilation=(2, 1))
    assert size == (1, 9)


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: flops.count_flops("resnet", (1, 3, 8, 8)), TypeError, "model"),
        (lambda: flops.count_flops(nn.Conv2d(3, 3, 3), 8), TypeError, "input_shape"),
        (lambda: flops.count_flops(nn.Conv2d(3, 3, 3), ()), TypeError, "input_shape"),
        (lambda: flops.count_flops(nn.Conv2d(3, 3, 3), (1, 3, 0, 8)), ValueError, ENTRY_2),
        (lambda: flops.count_flops(nn.Conv2d(3, 3, 3), (1, 3, 8.0, 8)), TypeError, ENTRY_2),
        (lambda: flops.count_flops(nn.Conv2d(3, 3, 3), (1, 4, 8, 8)), ValueError, "input_shape"),
        (lambda: flops.count_macs(nn.Conv2d(3, 3, 3), "1,3,8,8"), TypeError, "input_shape"),
        (lambda: flops.flops_by_layer(nn.Conv2d(3, 3, 3), (1, True, 8, 8)), TypeError,
         "input_shape"),
        (lambda: flops.conv2d_flops(4, 6, 3, 8, groups=4), ValueError, "groups"),
        (lambda: flops.conv2d_flops(4, 4, 3, 0), ValueError, "output_size"),
        (lambda: flops.dense_flops(0, 3), ValueError, "n_in"),
        (lambda: flops.conv2d_output_size(4, 5), ValueError, "kernel_size"),
        (lambda: flops.conv2d_output_size(4, 3, padding="full"), ValueError, "padding"),
        (lambda: flops.conv2d_output_size(4, 3, stride=2, padding="same"), ValueError, "same"),
        (lambda: flops.conv2d_output_size(4, 3, padding=-1), ValueError, "padding"),
        (lambda: flops.conv2d_output_size(4, 3, stride=0), ValueError, "stride"),
    ],
)
def test_bad_inputs_name_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()
