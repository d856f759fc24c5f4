"""convlib.memory: the bytes autograd saves, against what each operation's backward needs."""

import pytest
import torch
from torch import nn

from convlib.memory import activation_bytes_per_image, saved_activation_bytes


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
    with pytest.raises(ValueError, match="meta"):
        saved_activation_bytes(nn.ReLU(), torch.empty(1, 2, device="meta"))
