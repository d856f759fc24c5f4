"""convlib.params: every formula equals count_params of the PyTorch modules it describes."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib import params
from convlib.params import count_params

SETTINGS = settings(max_examples=40, deadline=None)
channels = st.integers(1, 12)
kernels = st.integers(1, 7)
biases = st.booleans()


@st.composite
def kernel_sizes(draw):
    """An int or a non-square (kh, kw) pair."""
    if draw(st.booleans()):
        return draw(kernels)
    return (draw(kernels), draw(kernels))


@st.composite
def grouped_convs(draw):
    """(c_in, c_out, groups) with groups dividing both channel counts."""
    groups = draw(st.integers(1, 4))
    return groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 4)), groups


@SETTINGS
@given(grouped_convs(), kernel_sizes(), biases)
def test_conv2d_params_matches_nn_conv2d(shape, kernel, bias):
    c_in, c_out, groups = shape
    conv = nn.Conv2d(c_in, c_out, kernel, groups=groups, bias=bias)
    assert params.conv2d_params(c_in, c_out, kernel, groups=groups, bias=bias) == count_params(conv)
    assert params.grouped_params(c_in, c_out, kernel, groups, bias=bias) == count_params(conv)


@SETTINGS
@given(st.integers(1, 64), st.integers(1, 64), biases)
def test_dense_params_matches_nn_linear(n_in, n_out, bias):
    linear = nn.Linear(n_in, n_out, bias=bias)
    assert params.dense_params(n_in, n_out, bias=bias) == count_params(linear)


@SETTINGS
@given(channels, channels, kernel_sizes(), biases)
def test_depthwise_separable_params(c_in, c_out, kernel, bias):
    block = nn.Sequential(nn.Conv2d(c_in, c_in, kernel, groups=c_in, bias=bias),
                          nn.Conv2d(c_in, c_out, 1, bias=bias))
    assert params.depthwise_separable_params(c_in, c_out, kernel, bias=bias) == count_params(block)


@SETTINGS
@given(channels, channels, kernel_sizes(), biases)
def test_bottleneck_params(c, c_mid, kernel, bias):
    block = nn.Sequential(nn.Conv2d(c, c_mid, 1, bias=bias),
                          nn.Conv2d(c_mid, c_mid, kernel, bias=bias),
                          nn.Conv2d(c_mid, c, 1, bias=bias))
    assert params.bottleneck_params(c, c_mid, kernel, bias=bias) == count_params(block)


@SETTINGS
@given(channels, channels, st.sampled_from([3, 5, 7, 9, 11]), biases)
def test_stacked_params(c_in, c_out, k, bias):
    n = (k - 1) // 2
    layers = [nn.Conv2d(c_in, c_out, 3, bias=bias)] + [nn.Conv2d(c_out, c_out, 3, bias=bias)
                                                      for _ in range(n - 1)]
    assert params.stacked_depth(k) == n
    assert params.stacked_params(c_in, c_out, k, bias=bias) == count_params(nn.Sequential(*layers))


@SETTINGS
@given(channels, channels, kernels, biases)
def test_spatially_separable_params(c_in, c_out, k, bias):
    block = nn.Sequential(nn.Conv2d(c_in, c_out, (k, 1), bias=bias),
                          nn.Conv2d(c_out, c_out, (1, k), bias=bias))
    assert params.spatially_separable_params(c_in, c_out, k, bias=bias) == count_params(block)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), biases)
def test_dense_equivalent_params_is_the_dense_layer_of_a_same_conv(c_in, c_out, h, w, bias):
    from convlib.dense import conv_as_dense

    conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=bias)
    dense = conv_as_dense(conv, (h, w))
    assert params.dense_equivalent_params(c_in, c_out, h, w, bias=bias) == count_params(dense)


def test_count_params_counts_shared_parameters_once():
    conv = nn.Conv2d(2, 3, 3)
    assert count_params(nn.Sequential(conv, nn.ReLU(), conv)) == 2 * 3 * 9 + 3


@SETTINGS
@given(st.integers(1, 64), st.integers(1, 9), st.integers(1, 8))
def test_article_ratios(side, k, c):
    dense_weights = params.dense_equivalent_params(c, c, side, bias=False)
    conv_weights = params.conv2d_params(c, c, k, bias=False)
    ratio = params.dense_to_conv_weight_ratio(side, k)
    assert ratio == Fraction(dense_weights, conv_weights) == Fraction(side**4, k**2)
    # Dense compute: one multiply-add per weight; naive conv: k^2 c^2 for each of the l^2 pixels.
    compute = params.dense_to_conv_compute_ratio(side, k)
    assert compute == Fraction(dense_weights, side**2 * conv_weights)
    assert isinstance(compute, Fraction)


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: params.conv2d_params(0, 4, 3), ValueError, "c_in"),
        (lambda: params.conv2d_params(4, -1, 3), ValueError, "c_out"),
        (lambda: params.conv2d_params(True, 4, 3), TypeError, "c_in"),
        (lambda: params.conv2d_params(4, 4, 3.0), TypeError, "kernel_size"),
        (lambda: params.conv2d_params(4, 4, (3, 0)), ValueError, r"kernel_size\[1\]"),
        (lambda: params.conv2d_params(4, 4, (3, 3, 3)), ValueError, "kernel_size"),
        (lambda: params.conv2d_params(4, 6, 3, groups=4), ValueError, "groups"),
        (lambda: params.conv2d_params(4, 4, 3, groups=0), ValueError, "groups"),
        (lambda: params.conv2d_params(4, 4, 3, bias=1), TypeError, "bias"),
        (lambda: params.dense_params(3, 0), ValueError, "n_out"),
        (lambda: params.depthwise_separable_params(3, 4, 0), ValueError, "kernel_size"),
        (lambda: params.bottleneck_params(8, 0), ValueError, "c_mid"),
        (lambda: params.bottleneck_params(8, 6, groups=4), ValueError, "groups must divide c_mid"),
        (lambda: params.bottleneck_params(8, 4, c_out=0), ValueError, "c_out"),
        (lambda: params.dense_equivalent_params(3, 3, 4, width=True), TypeError, "width"),
        (lambda: params.dense_params(3, 4, bias=None), TypeError, "bias"),
        (lambda: params.stacked_params(3, 4, 4), ValueError, "kernel_size"),
        (lambda: params.stacked_params(3, 4, 1), ValueError, "kernel_size"),
        (lambda: params.spatially_separable_params(3, 4, (3, 3)), TypeError, "kernel_size"),
        (lambda: params.count_params(torch.zeros(3)), TypeError, "module"),
        (lambda: params.dense_equivalent_params(3, 3, 0), ValueError, "height"),
        (lambda: params.dense_to_conv_weight_ratio(32, False), TypeError, "kernel_size"),
        (lambda: params.dense_to_conv_compute_ratio(0, 3), ValueError, "image_size"),
    ],
)
def test_bad_inputs_name_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_checked_arguments_are_converted_and_optional_ones_may_be_none():
    """The checks run before the formula: numpy ints become ints, None stays where it is the
    default, and the function keeps its own name, docstring and signature."""
    import inspect

    import numpy as np

    count = params.conv2d_params(np.int64(4), np.int32(8), (np.int64(3), 3))
    assert count == 4 * 8 * 9 + 8 and type(count) is int
    assert params.bottleneck_params(8, 2, 3, c_out=None) == params.bottleneck_params(8, 2, 3)
    square = params.dense_equivalent_params(2, 3, 4, 4)
    assert params.dense_equivalent_params(2, 3, 4, None) == square
    assert params.conv2d_params.__name__ == "conv2d_params"
    assert list(inspect.signature(params.conv2d_params).parameters) == [
        "c_in", "c_out", "kernel_size", "groups", "bias"]
