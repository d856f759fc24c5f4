"""convlib.erf: the effective receptive field against cases whose map is known by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convlib import erf


def _ones_conv(k: int, channels: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, k, padding=k // 2, bias=False)
    nn.init.ones_(conv.weight)
    return conv


def test_one_conv_with_equal_weights_spreads_evenly_over_its_window():
    images = torch.randn(4, 1, 9, 9)
    expected = np.zeros((9, 9))
    expected[3:6, 3:6] = 1 / 9
    np.testing.assert_allclose(erf.effective_receptive_field(_ones_conv(3), images), expected)


def test_two_stacked_convs_give_the_triangle_a_5x5_kernel_composes_to():
    # the gradient of two all-ones 3x3 layers is the full 2-D convolution of two boxes: (1,2,3,2,1)²
    images = torch.randn(2, 1, 11, 11)
    features = nn.Sequential(_ones_conv(3), _ones_conv(3))
    triangle = np.outer([1, 2, 3, 2, 1], [1, 2, 3, 2, 1]).astype(float)
    expected = np.zeros((11, 11))
    expected[3:8, 3:8] = triangle / triangle.sum()
    np.testing.assert_allclose(
        erf.effective_receptive_field(features, images), expected, atol=1e-12
    )


def test_it_matches_pytorch_autograd_on_a_real_network_and_restores_training_mode():
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.Conv2d(8, 8, 5, padding=2))
    features.train()
    images = torch.randn(3, 3, 16, 16)
    got = erf.effective_receptive_field(features, images)
    assert features.training
    features.eval()
    manual = np.zeros((16, 16))
    for image in images:  # one image at a time, by hand
        x = image[None].clone().requires_grad_(True)
        features(x)[0, :, 8, 8].sum().backward()
        manual += x.grad[0].abs().sum(0).double().numpy()
    np.testing.assert_allclose(got, manual / manual.sum(), rtol=1e-5, atol=1e-9)


def test_mass_within_a_radius_and_the_radius_for_a_share():
    square = np.zeros((9, 9))
    square[3:6, 3:6] = 1 / 9
    assert erf.mass_within(square, 0) == pytest.approx(1 / 9)
    assert erf.mass_within(square, 1) == pytest.approx(5 / 9)  # the centre and its 4 neighbours
    assert erf.mass_within(square, 1.5) == pytest.approx(1.0)
    assert erf.radius_for_mass(square, 0.5) == 1 and erf.radius_for_mass(square, 1.0) == 2
    assert erf.rounded_map(square)[4][4] == round(1 / 9, erf.ERF_DECIMALS)


def test_rms_radius_is_the_root_mean_squared_distance_from_the_centre():
    square = np.zeros((9, 9))
    square[3:6, 3:6] = 1 / 9  # 4 pixels at distance 1, 4 at sqrt(2), the centre at 0
    assert erf.rms_radius(square) == pytest.approx(np.sqrt((4 * 1 + 4 * 2) / 9))
    point = np.zeros((5, 5))
    point[2, 2] = 1.0
    assert erf.rms_radius(point) == 0.0
    # a sampled Gaussian of standard deviation s per axis: R = s * sqrt(2), to sampling error
    rows, cols = np.indices((41, 41)) - 20
    gauss = np.exp(-(rows**2 + cols**2) / (2 * 3.0**2))
    assert erf.rms_radius(gauss) == pytest.approx(3.0 * np.sqrt(2), rel=1e-3)
    # the spread of a real network's map grows when a second 3x3 is stacked on the first
    images = torch.randn(2, 1, 11, 11)
    one = erf.effective_receptive_field(_ones_conv(3), images)
    two = erf.effective_receptive_field(nn.Sequential(_ones_conv(3), _ones_conv(3)), images)
    assert erf.rms_radius(two) > erf.rms_radius(one)
    with pytest.raises(ValueError, match="non-negative"):
        erf.rms_radius(-square)
    with pytest.raises(ValueError, match="2-D"):
        erf.rms_radius(np.ones(3))


def test_bad_input_is_refused_with_the_argument_named():
    with pytest.raises(TypeError, match="images must be a float tensor"):
        erf.effective_receptive_field(_ones_conv(3), torch.zeros(1, 1, 5, 5, dtype=torch.uint8))
    with pytest.raises(TypeError, match="features"):
        erf.effective_receptive_field("conv", torch.zeros(1, 1, 5, 5))
    with pytest.raises(ValueError, match="feature maps"):
        erf.effective_receptive_field(
            nn.Sequential(_ones_conv(3), nn.Flatten()), torch.zeros(1, 1, 5, 5)
        )
    zero = _ones_conv(3)
    nn.init.zeros_(zero.weight)
    with pytest.raises(ValueError, match="zero gradient"):
        erf.effective_receptive_field(zero, torch.randn(1, 1, 5, 5))
    with pytest.raises(ValueError, match="radius"):
        erf.mass_within(np.ones((3, 3)), -1)
    with pytest.raises(ValueError, match="2-D"):
        erf.mass_within(np.ones(3), 1)
    with pytest.raises(ValueError, match="share"):
        erf.radius_for_mass(np.ones((3, 3)), 0)
