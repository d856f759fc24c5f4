"""convlib.dense: a convolution is exactly a dense layer with tied and structurally zero weights."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib.dense import LocallyConnected2d, conv_as_dense, dense_structure

# PyTorch warns that even kernels with padding='same' pad a copy of the input: expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
SETTINGS = settings(max_examples=50, deadline=None)


@st.composite
def convs_and_sizes(draw):
    """A random nn.Conv2d (float32) and an input size it accepts."""
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding_kind = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    stride = 1 if padding_kind == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if padding_kind == "int":
        padding = draw(st.integers(0, 2))
    elif padding_kind == "pair":
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    else:
        padding = padding_kind
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation,
                     groups=groups, bias=draw(st.booleans()))
    # Smallest input the dilated kernel fits in (padding included), plus a random margin.
    pads = (0, 0) if isinstance(padding, str) else conv.padding
    size = tuple(max(1, dilation[a] * (kernel[a] - 1) + 1 - 2 * pads[a]) + draw(st.integers(0, 4))
                 for a in range(2))
    return conv, size


@SETTINGS
@given(convs_and_sizes(), st.integers(0, 2**16))
def test_dense_layer_computes_the_convolution(conv_and_size, seed):
    conv, size = conv_and_size
    torch.manual_seed(seed)
    x = torch.randn(2, conv.in_channels, *size)
    linear = conv_as_dense(conv, size)
    with torch.no_grad():
        expected = conv(x).flatten(1)
        got = linear(x.flatten(1))
    assert isinstance(linear, nn.Linear)
    assert linear.weight.dtype == conv.weight.dtype and (linear.bias is None) == (conv.bias is None)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@SETTINGS
@given(convs_and_sizes())
def test_structure_counts_and_weight_index(conv_and_size):
    conv, size = conv_and_size
    structure = dense_structure(conv, size)
    linear = conv_as_dense(conv, size)
    index = structure.weight_index
    assert index.shape == linear.weight.shape and index.dtype == torch.int64
    total = structure.structural_zeros + structure.tied_entries
    assert total == structure.total_entries == index.numel()
    assert structure.free_weights == conv.weight.numel()
    # Each dense entry is the kernel weight its index names, and 0 at structural zeros.
    flat = conv.weight.detach().flatten()
    expected = torch.where(index >= 0, flat[index.clamp(min=0)], torch.zeros(()))
    assert torch.equal(linear.weight.detach(), expected)
    # A conv weight is missing from the index only if its tap never sees the input (only padding):
    # exactly the weights with zero gradient when the conv is applied to an all-ones image.
    probe = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=False)
    probe(torch.ones(1, conv.in_channels, *size)).sum().backward()
    seen = probe.weight.grad.flatten() != 0
    assert torch.equal(structure.ties_per_weight > 0, seen)
    assert structure.used_weights == int(seen.sum())


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(0, 5),
       st.integers(0, 5))
def test_every_weight_is_tied_without_padding(c_in, c_out, k, extra_h, extra_w):
    conv = nn.Conv2d(c_in, c_out, k)
    structure = dense_structure(conv, (k + extra_h, k + extra_w))
    assert structure.used_weights == structure.free_weights
    assert set(structure.weight_index.unique().tolist()) - {-1} == set(range(conv.weight.numel()))
    # Every output entry sees k*k*c_in inputs, each tap once.
    assert structure.tied_entries == c_out * (1 + extra_h) * (1 + extra_w) * c_in * k * k


def test_article_example_4x4_input_3x3_kernel():
    conv = nn.Conv2d(1, 1, 3, bias=False)
    structure = dense_structure(conv, (4, 4))
    assert structure.weight_index.shape == (4, 16)
    assert structure.total_entries == 64
    assert structure.tied_entries == 36 and structure.structural_zeros == 28
    assert structure.free_weights == 9 and structure.used_weights == 9
    assert structure.ties_per_weight.tolist() == [4] * 9  # each weight copied once per output pixel
    # The first row is the kernel laid over the top-left 3x3 window of the 4x4 image.
    first_row = [0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, -1, -1, -1, -1]
    assert structure.weight_index[0].tolist() == first_row


def test_zero_weights_are_ties_not_structural_zeros():
    conv = nn.Conv2d(1, 1, 3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
    assert dense_structure(conv, 4).structural_zeros == 28


def test_bias_is_repeated_over_output_pixels_and_dtype_is_kept():
    conv = nn.Conv2d(2, 3, 3, padding=1).to(torch.float64)
    linear = conv_as_dense(conv, (5, 4))
    assert linear.weight.dtype == torch.float64
    assert torch.equal(linear.bias.detach(), conv.bias.detach().repeat_interleave(20))
    assert dense_structure(conv, (5, 4)).bias_index.tolist() == [0] * 20 + [1] * 20 + [2] * 20


def test_chunked_basis_gives_the_same_matrix(monkeypatch):
    import convlib.dense

    conv = nn.Conv2d(2, 2, 3, padding=1)
    whole = conv_as_dense(conv, (6, 5)).weight
    monkeypatch.setattr(convlib.dense, "_CHUNK_ELEMENTS", 7 * 60)  # 7 basis images per chunk
    torch.testing.assert_close(conv_as_dense(conv, (6, 5)).weight, whole, atol=0, rtol=0)


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: conv_as_dense(nn.Linear(3, 3), (4, 4)), TypeError, "conv"),
        (lambda: conv_as_dense(nn.Conv1d(1, 1, 3), (4, 4)), TypeError, "conv"),
        (lambda: dense_structure("conv", (4, 4)), TypeError, "conv"),
        (lambda: conv_as_dense(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), (4, 4)),
         ValueError, "padding_mode"),
        (lambda: dense_structure(nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"), 4),
         ValueError, "padding_mode"),
        (lambda: conv_as_dense(nn.Conv2d(1, 1, 5), (4, 4)), ValueError, "kernel_size"),
        (lambda: conv_as_dense(nn.Conv2d(1, 1, 3, dilation=2), (4, 8)), ValueError,
         "larger than the padded"),
        (lambda: conv_as_dense(nn.Conv2d(1, 1, 3), (0, 4)), ValueError, "input_size"),
        (lambda: conv_as_dense(nn.Conv2d(1, 1, 3), (4, -4)), ValueError, "input_size"),
        (lambda: conv_as_dense(nn.Conv2d(1, 1, 3), (4, True)), TypeError, "input_size"),
        (lambda: conv_as_dense(nn.Conv2d(1, 1, 3), (4, 4, 4)), ValueError, "input_size"),
        (lambda: conv_as_dense(nn.LazyConv2d(1, 3), (4, 4)), ValueError, "lazy"),
    ],
)
def test_bad_inputs_name_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_a_locally_connected_layer_with_tied_copies_is_the_convolution():
    torch.manual_seed(3)
    conv = torch.nn.Conv2d(4, 6, 5, padding=2)
    layer = LocallyConnected2d.untied(conv, (7, 9))
    x = torch.randn(2, 4, 7, 9)
    torch.testing.assert_close(layer(x), conv(x), rtol=1e-5, atol=1e-5)
    assert layer.weight.numel() == 7 * 9 * conv.weight.numel()
    with torch.no_grad():  # untied: one pixel's kernel changes one output pixel only
        layer.weight[0].zero_()
    changed = (layer(x) - conv(x)).abs().sum(dim=(0, 1)) > 1e-3
    assert changed.sum() == 1 and changed[0, 0]
    with pytest.raises(ValueError, match="stride 1"):
        LocallyConnected2d.untied(torch.nn.Conv2d(4, 6, 3, stride=2, padding=1), 8)
    with pytest.raises(ValueError, match="x must be 7x9"):
        layer(torch.randn(1, 4, 8, 8))
