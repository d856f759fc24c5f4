"""The four identities of convlib.identities, checked on random modules (hypothesis)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib import identities as I

SETTINGS = settings(max_examples=30, deadline=None)


@SETTINGS
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 6), st.booleans(),
       st.integers(0, 10**6))
def test_pointwise_convolution_is_a_per_pixel_linear_layer(c_in, c_out, size, bias, seed):
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in, c_out, 1, bias=bias)
    x = torch.randn(2, c_in, size, size + 1)
    assert torch.allclose(I.apply_per_pixel(I.pointwise_as_linear(conv), x), conv(x), atol=1e-5)


@SETTINGS
@given(st.sampled_from([1, 2, 4]), st.integers(1, 3), st.integers(1, 3), st.sampled_from([1, 3, 5]),
       st.integers(1, 2), st.booleans(), st.integers(0, 10**6))
def test_grouped_convolution_is_split_convolve_concatenate(g, a, b, k, stride, bias, seed):
    torch.manual_seed(seed)
    conv = nn.Conv2d(g * a, g * b, k, stride=stride, padding=k // 2, groups=g, bias=bias)
    x = torch.randn(2, g * a, 7, 6)
    assert torch.allclose(I.split_convolve_concatenate(conv, x), conv(x), atol=1e-5)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.sampled_from([1, 3, 5]),
       st.sampled_from([1, 3]), st.booleans(), st.integers(0, 10**6))
def test_two_linear_convolutions_compose_into_one(c_in, c_mid, c_out, k1, k2, bias, seed):
    torch.manual_seed(seed)
    first, second = nn.Conv2d(c_in, c_mid, k1, bias=bias), nn.Conv2d(c_mid, c_out, k2, bias=bias)
    x = torch.randn(2, c_in, 9, 10, dtype=torch.float64)
    first, second = first.double(), second.double()
    composed = I.compose_convolutions(first, second)
    assert composed.kernel_size == (k1 + k2 - 1, k1 + k2 - 1)
    assert torch.allclose(composed(x), second(first(x)), atol=1e-9)


def test_sobel_is_rank_one_and_factors_exactly():
    sobel = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    column, row, energy = I.rank1_factor(sobel)
    assert energy == pytest.approx(1.0)
    assert torch.allclose(torch.outer(column, row), sobel, atol=1e-6)
    x = torch.randn(1, 1, 8, 8)
    expected = nn.functional.conv2d(x, sobel.view(1, 1, 3, 3))
    assert torch.allclose(I.spatial_pair(column, row)(x), expected, atol=1e-5)


@SETTINGS
@given(st.integers(2, 7), st.integers(0, 10**6))
def test_rank1_energy_is_a_fraction_and_exact_for_outer_products(k, seed):
    torch.manual_seed(seed)
    kernel = torch.randn(k, k, dtype=torch.float64)
    _, _, energy = I.rank1_factor(kernel)
    # the leading term keeps at least 1/k of the energy
    assert 1.0 / k - 1e-9 <= energy <= 1.0 + 1e-9
    outer = torch.outer(torch.randn(k, dtype=torch.float64), torch.randn(k, dtype=torch.float64))
    column, row, energy = I.rank1_factor(outer)
    assert energy == pytest.approx(1.0)
    assert torch.allclose(torch.outer(column, row), outer, atol=1e-9)


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="conv"):
        I.pointwise_as_linear(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="1x1"):
        I.pointwise_as_linear(nn.Conv2d(2, 2, 3))
    with pytest.raises(ValueError, match="second.in_channels"):
        I.compose_convolutions(nn.Conv2d(1, 2, 3), nn.Conv2d(3, 1, 3))
    with pytest.raises(ValueError, match="first"):
        I.compose_convolutions(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 1, 3))
    with pytest.raises(TypeError, match="kernel"):
        I.rank1_factor(torch.zeros(3))
