"""convlib.receptive: the analytic recurrence agrees with the field measured from gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib.receptive import (
    ReceptiveField,
    empirical_receptive_field,
    receptive_field,
    receptive_field_by_layer,
)

# PyTorch warns that even kernels with padding='same' pad a copy of the input: expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def layer_stacks(draw):
    """A Sequential of 1-4 convolutions / poolings (kernels 1-7, strides 1-2, dilation 1-2,
    padding at most half the dilated kernel), with per-pixel modules sprinkled in."""
    layers: list[nn.Module] = []
    channels = draw(st.integers(1, 2))
    first_channels = channels
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "max", "avg"]))
        kernel = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
        stride = draw(st.integers(1, 2))
        if kind == "avg":
            padding = draw(st.integers(0, min(kernel) // 2))
            layers.append(nn.AvgPool2d(kernel, stride, padding, ceil_mode=draw(st.booleans())))
            continue
        dilation = draw(st.integers(1, 2))
        if kind == "max":
            padding = draw(st.integers(0, min(kernel) // 2))
            ceil_mode = draw(st.booleans())
            layers.append(nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode))
            continue
        out_channels = draw(st.integers(1, 2))
        span = min(dilation * (k - 1) + 1 for k in kernel)
        padding = draw(st.sampled_from(["same", "valid"]) | st.integers(0, span // 2))
        if padding == "same":
            stride = 1
        layers.append(nn.Conv2d(channels, out_channels, kernel, stride, padding, dilation))
        channels = out_channels
        layers.append(draw(st.sampled_from([nn.ReLU(), nn.Identity(), nn.BatchNorm2d(channels),
                                            nn.Tanh(), nn.Dropout(0.5)])))
    return nn.Sequential(*layers), first_channels


@SETTINGS
@given(layer_stacks())
def test_analytic_and_empirical_fields_agree(stack_and_channels):
    stack, in_channels = stack_and_channels
    field = receptive_field(stack)
    # Large enough that the central output pixel's field lies inside the image.
    size = tuple(2 * field.size[a] + 4 * field.jump[a] + 16 for a in range(2))
    measured = empirical_receptive_field(stack, size)
    assert not measured.clipped
    assert measured.size == field.size
    assert measured.footprint.shape == size and measured.footprint.dtype == torch.float64
    assert bool((measured.footprint >= 0).all())


@SETTINGS
@given(layer_stacks())
def test_start_is_the_centre_of_the_first_output_pixels_field(stack_and_channels):
    stack, _ = stack_and_channels
    field = receptive_field(stack)
    size = tuple(2 * field.size[a] + 4 * field.jump[a] + 16 for a in range(2))
    measured = empirical_receptive_field(stack, size)
    rows = torch.nonzero(measured.footprint.sum(dim=1)).flatten()
    cols = torch.nonzero(measured.footprint.sum(dim=0)).flatten()
    # Field centre of output pixel (i, j) = start + (i, j) * jump.
    centre = ((rows[0] + rows[-1]).item() / 2, (cols[0] + cols[-1]).item() / 2)
    expected = tuple(field.start[a] + measured.output_pixel[a] * field.jump[a] for a in range(2))
    assert centre == pytest.approx(expected)


@pytest.mark.parametrize("n", range(1, 8))
def test_n_stacked_3x3_see_2n_plus_1(n):
    stack = nn.Sequential(*[nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU())
                            for _ in range(n)])
    assert receptive_field(stack).size[0] == 2 * n + 1
    assert empirical_receptive_field(stack, 4 * n + 8).size == (2 * n + 1, 2 * n + 1)
    fives = nn.Sequential(*[nn.Conv2d(1, 1, 5, padding=2) for _ in range(n)])
    assert receptive_field(fives).size == (4 * n + 1, 4 * n + 1)  # n (k - 1) + 1


def test_known_values():
    # Two 3x3 convs then a 2x2 max pool, then a 3x3 conv: 5, then 6 with jump 2, then 10.
    stack = [nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.MaxPool2d(2),
             nn.Conv2d(8, 8, 3, padding=1)]
    assert receptive_field(stack) == ReceptiveField((10, 10), (2, 2), (0.5, 0.5))
    assert [f.size[0] for f in receptive_field_by_layer(stack)] == [1, 3, 5, 6, 10]
    # Non-square kernels are reported per axis.
    assert receptive_field(nn.Conv2d(1, 1, (3, 7), dilation=(1, 2))).size == (3, 13)
    conv = nn.Conv2d(1, 1, (3, 7), dilation=(1, 2))
    assert empirical_receptive_field(conv, (9, 30)).size == (3, 13)


def test_max_pool_field_is_its_whole_window():
    # A plain gradient through max pooling reaches one pixel per window; the measurement must not.
    pool = nn.MaxPool2d(3, stride=1)
    assert empirical_receptive_field(pool, 9).size == (3, 3)


def test_measurement_does_not_change_the_model():
    stack = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2))
    before = [p.clone() for p in stack.parameters()]
    empirical_receptive_field(stack, 12)
    assert all(torch.equal(a, b) for a, b in zip(before, stack.parameters(), strict=True))
    assert isinstance(stack[2], nn.MaxPool2d) and isinstance(stack[1], nn.ReLU)


def test_clipped_fields_are_flagged():
    stack = [nn.Conv2d(1, 1, 3, padding=1) for _ in range(4)]
    measured = empirical_receptive_field(stack, 5)
    assert measured.clipped and measured.size == (5, 5)


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: receptive_field([nn.Conv2d(1, 1, 3), nn.Linear(3, 3)]), TypeError, "Linear"),
        (lambda: receptive_field(nn.Sequential(nn.Sequential(nn.Flatten()))), TypeError, "Flatten"),
        (lambda: receptive_field("conv"), TypeError, "layers"),
        (lambda: receptive_field(3), TypeError, "layers"),
        (lambda: empirical_receptive_field(nn.Conv2d(1, 1, 3), 0), ValueError, "input_size"),
        (lambda: empirical_receptive_field(nn.Conv2d(1, 1, 5), 3), ValueError, "input_size"),
        (lambda: empirical_receptive_field(nn.Conv2d(1, 1, 3), 8, in_channels=0), ValueError,
         "in_channels"),
        (lambda: empirical_receptive_field("model", 8), TypeError, "model"),
        (lambda: empirical_receptive_field([nn.Conv2d(1, 1, 3), "relu"], 8), TypeError,
         r"model\[1\]"),
        (lambda: empirical_receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten()), 8),
         ValueError, "feature maps"),
    ],
)
def test_bad_inputs_name_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


@pytest.mark.parametrize("dilations", [(1,), (2,), (1, 2, 4), (1, 2, 4, 8), (2, 2, 2), (3, 3),
                                       (1, 2, 5)])
def test_dilated_stacks_grow_by_d_times_k_minus_1(dilations):
    """Each dilated 3x3 adds d (k - 1) = 2 d pixels (effective kernel d (k - 1) + 1), with
    no extra weight; the gradient measurement agrees."""
    stack = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=d, dilation=d) for d in dilations])
    expected = 1 + sum(2 * d for d in dilations)
    assert receptive_field(stack).size == (expected, expected)
    measured = empirical_receptive_field(stack, expected + 8)
    assert measured.size == (expected, expected) and not measured.clipped
    assert sum(p.numel() for p in stack.parameters()) == 10 * len(dilations)


def test_equal_dilations_leave_holes_and_mixed_ones_do_not():
    """The gridding artefact: three 3x3 with dilation 2 read only pixels at even offsets from the
    centre, a quarter of a 13x13 field's 169 pixels but 7 x 7 = 49 of them; dilations 1, 2, 3
    (no common factor) cover their whole 13x13 field."""
    def stack(dilations):
        return nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=d, dilation=d) for d in dilations])

    gridded = empirical_receptive_field(stack((2, 2, 2)), 21)
    assert gridded.size == (13, 13) and gridded.coverage == pytest.approx(49 / 169)
    centre = gridded.output_pixel
    offsets = torch.nonzero(gridded.footprint) - torch.tensor(centre)
    assert bool((offsets % 2 == 0).all())
    solid = empirical_receptive_field(stack((1, 2, 3)), 21)
    assert solid.size == (13, 13) and solid.coverage == 1.0
    assert empirical_receptive_field(nn.Conv2d(1, 1, 3), 7).coverage == 1.0
