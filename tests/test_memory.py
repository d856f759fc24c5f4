"""convlib.memory: the bytes autograd saves, against what each operation's backward needs."""

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet50
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import Bottleneck

from convlib.memory import (
    activation_bytes_by_width,
    activation_bytes_per_image,
    saved_activation_bytes,
    saved_tensors,
    training_costs,
)
from convlib.params import (
    batchnorm_params,
    bottleneck_params,
    conv2d_params,
    count_params,
    depthwise_separable_params,
)


def test_a_convolution_saves_its_input_and_a_relu_its_output():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    x = torch.randn(4, 3, 10, 10)
    assert saved_activation_bytes(conv, x) == x.numel() * 4
    block = nn.Sequential(conv, nn.ReLU())
    assert saved_activation_bytes(block, x) == (4 * 3 * 10 * 10 + 4 * 8 * 10 * 10) * 4


def test_a_dense_layer_saves_its_input_not_its_weights():
    dense = nn.Linear(300, 20)
    assert activation_bytes_per_image(nn.Sequential(nn.Flatten(), dense), (3, 10, 10)) == 300 * 4


def test_views_of_one_tensor_are_counted_once_and_float64_counts_double():
    model = nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 5 * 5, 3))
    x = torch.randn(2, 2, 5, 5)
    # conv input, ReLU output (the Linear's flattened input is a view of it)
    assert saved_activation_bytes(model, x) == 2 * (50 + 50) * 4
    assert saved_activation_bytes(model.double(), x.double()) == 2 * (50 + 50) * 8


def test_activations_grow_with_the_batch_and_weights_do_not_count():
    conv = nn.Conv2d(3, 64, 3)
    one, two = (saved_activation_bytes(conv, torch.randn(n, 3, 8, 8)) for n in (1, 2))
    assert two == 2 * one == 2 * 3 * 8 * 8 * 4


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="inputs must be a torch.Tensor"):
        saved_activation_bytes(nn.ReLU(), [1.0])
    with pytest.raises(ValueError, match="image_shape must be"):
        activation_bytes_per_image(nn.ReLU(), (3, 8))
    with pytest.raises(ValueError, match="batch must be"):
        activation_bytes_by_width(nn.ReLU(), (3, 8, 8), batch=1)
    with pytest.raises(ValueError, match="meta"):
        saved_activation_bytes(nn.ReLU(), torch.empty(1, 2, device="meta"))


# The two blocks of chapters 4 and 6, as torchvision builds them (weights=None: random).
def _resnet_bottleneck():
    return Bottleneck(256, 64)  # ResNet-50's layer1[1]: 256 -> 64 -> 64 -> 256, identity


def _inverted_residual(c_out=24, stride=1):
    return InvertedResidual(24, c_out, stride=stride, expand_ratio=6)  # 24 -> 144 -> c_out


def test_the_blocks_are_those_of_the_real_networks():
    assert count_params(resnet50(weights=None).layer1[1]) == count_params(_resnet_bottleneck())
    assert count_params(mobilenet_v2(weights=None).features[3]) == count_params(
        _inverted_residual())


def test_training_costs_of_resnets_bottleneck_against_the_closed_forms():
    side, c, mid = 8, 256, 64
    costs = training_costs(_resnet_bottleneck(), (c, side, side))
    conv_weights = bottleneck_params(c, mid, 3, bias=False)
    assert costs["weights"] == conv_weights + 2 * batchnorm_params(mid) + batchnorm_params(c)
    assert costs["weight_bytes"] == 4 * costs["weights"]
    assert costs["flops"] == 2 * side * side * conv_weights  # every layer at the input's size
    # kept: the input; per inner conv its output (BatchNorm's input) and its ReLU's output
    # (the next conv's input); conv3's output; the ReLU's output after the addition
    assert costs["activation_bytes"] == 4 * side * side * (c + 4 * mid + 2 * c)
    by_width = activation_bytes_by_width(_resnet_bottleneck(), (c, side, side))
    assert by_width == {c: 4 * side * side * 3 * c, mid: 4 * side * side * 4 * mid}


def test_training_costs_of_the_inverted_residual_against_the_closed_forms():
    side, c, hidden = 8, 24, 144
    costs = training_costs(_inverted_residual(), (c, side, side))
    conv_weights = conv2d_params(c, hidden, 1, bias=False) + depthwise_separable_params(
        hidden, c, 3, bias=False)
    assert costs["weights"] == conv_weights + 2 * batchnorm_params(hidden) + batchnorm_params(c)
    assert costs["flops"] == 2 * side * side * conv_weights
    # the expanded tensors: per ReLU6 (in place) the clone of its input it keeps and its
    # output, and each conv's output: six of 144 channels; the input and the projection's
    # output (the last BatchNorm's input) at 24; the identity addition keeps nothing
    assert costs["activation_bytes"] == 4 * side * side * (c + 6 * hidden + c)
    assert activation_bytes_by_width(_inverted_residual(), (c, side, side)) == {
        hidden: 4 * side * side * 6 * hidden, c: 4 * side * side * 2 * c}


def test_a_strided_inverted_residual_keeps_its_expanded_tensors_at_both_sizes():
    side, small = 8, 4
    kept = activation_bytes_per_image(_inverted_residual(32, stride=2), (24, side, side))
    assert kept == 4 * (24 * side ** 2 + 3 * 144 * side ** 2 + 3 * 144 * small ** 2
                        + 32 * small ** 2)


def test_batchnorm_statistics_do_not_count_per_image():
    block = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False), nn.BatchNorm2d(8))
    x = torch.randn(2, 3, 4, 4)
    # the conv's input, BatchNorm's input, and its mean and inverse deviation of the batch
    assert saved_activation_bytes(block, x) == 4 * (2 * 3 * 16 + 2 * 8 * 16 + 2 * 8)
    assert activation_bytes_per_image(block, (3, 4, 4)) == 4 * (3 * 16 + 8 * 16)
    made_by = [t.made_by for t in saved_tensors(block, x)]
    assert made_by[0] == "input" and made_by[1] == "ConvolutionBackward0"
