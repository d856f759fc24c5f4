"""Memory a layer costs: its weights, and the activations a training step keeps for backward.

A forward pass with autograd on stores, for each operation, the tensors its backward needs (a
convolution keeps its input, a ReLU its output, ...). PyTorch hands each of them to
``torch.autograd.graph.saved_tensors_hooks``' pack hook as it is saved; :func:`saved_tensors`
lists them and :func:`saved_activation_bytes` adds up their sizes. The part that grows with the
batch is the activation memory of a training step (:func:`activation_bytes_per_image`); the
weights (and their gradients and optimiser state) do not grow with it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from convlib._checks import as_int, as_module, as_shape
from convlib.flops import count_flops


class SavedTensor(NamedTuple):
    """One storage autograd keeps for backward: the node that made it (``"input"`` for a
    tensor no operation of the pass made), its shape and its bytes."""

    made_by: str
    shape: tuple[int, ...]
    nbytes: int


def _storage_key(tensor: torch.Tensor) -> tuple[str, int, int]:
    """Identifies the memory behind a tensor: views of one storage are counted once."""
    storage = tensor.untyped_storage()
    return (str(tensor.device), storage.data_ptr(), storage.nbytes())


def _checked_inputs(model: nn.Module, inputs: torch.Tensor) -> None:
    as_module("model", model)
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor; got {type(inputs).__name__}")
    if inputs.device.type == "meta":
        raise ValueError("inputs must hold data (not the meta device): saved tensors are "
                         "identified by their storage")


def saved_tensors(model: nn.Module, inputs: torch.Tensor) -> list[SavedTensor]:
    """The tensors autograd saves for backward during ``model(inputs)``, in the order saved,
    each storage once, the model's parameters and buffers left out (they are memory of the
    weights, present whatever the batch). ``inputs`` needs no gradient: the weights' gradients
    need the saved activations anyway. The model's training flags are kept (BatchNorm in
    training mode saves more than in eval mode)."""
    _checked_inputs(model, inputs)
    weights = {_storage_key(t) for t in (*model.parameters(), *model.buffers())}
    saved: dict[tuple[str, int, int], SavedTensor] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = _storage_key(tensor)
        if key not in weights and key not in saved:
            made_by = type(tensor.grad_fn).__name__ if tensor.grad_fn is not None else "input"
            saved[key] = SavedTensor(made_by, tuple(tensor.shape), key[2])
        return tensor

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(inputs)
    return list(saved.values())


def saved_activation_bytes(model: nn.Module, inputs: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward during ``model(inputs)``
    (:func:`saved_tensors`: each storage once, weights and buffers left out)."""
    return sum(tensor.nbytes for tensor in saved_tensors(model, inputs))


def _random_images(batch: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))


def _image_shape(image_shape: tuple[int, int, int]) -> tuple[int, ...]:
    shape = as_shape("image_shape", image_shape)
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (channels, height, width); got {shape}")
    return shape


def activation_bytes_per_image(model: nn.Module, image_shape: tuple[int, int, int],
                               batch: int = 1) -> int:
    """The bytes a training step keeps per image of ``image_shape`` (C, H, W), float32: what
    :func:`saved_activation_bytes` adds when the batch grows from ``batch`` random images to
    twice as many, divided by ``batch``. What does not grow with the batch (BatchNorm's
    per-channel statistics of the batch) is left out, so the count is exact."""
    shape = _image_shape(image_shape)
    batch = as_int("batch", batch, minimum=1)
    small, large = (saved_activation_bytes(model, _random_images(n, shape))
                    for n in (batch, 2 * batch))
    if (large - small) % batch:
        raise RuntimeError(f"{large - small} more bytes for {batch} more images: not a whole "
                           "number per image")
    return (large - small) // batch


def activation_bytes_by_width(model: nn.Module, image_shape: tuple[int, int, int],
                              batch: int = 2) -> dict[int, int]:
    """``{width: bytes per image}`` of the tensors a training step keeps for a batch of
    ``batch`` images of ``image_shape``, by their width (the size of their second axis: a
    feature map's channels, a dense layer's features), widest first. Only tensors with one
    row per image count (BatchNorm's per-channel statistics do not), so the values add up
    to :func:`activation_bytes_per_image`."""
    shape = _image_shape(image_shape)
    batch = as_int("batch", batch, minimum=2)  # a leading axis of 1 could be anything
    widths: dict[int, int] = {}
    for tensor in saved_tensors(model, _random_images(batch, shape)):
        if len(tensor.shape) >= 2 and tensor.shape[0] == batch:
            widths[tensor.shape[1]] = widths.get(tensor.shape[1], 0) + tensor.nbytes // batch
    return dict(sorted(widths.items(), reverse=True))


def training_costs(model: nn.Module, image_shape: tuple[int, int, int]) -> dict[str, int]:
    """What ``model`` costs for one float32 image of ``image_shape``: its ``weights``
    (parameters), their ``weight_bytes``, the ``flops`` of a forward pass (PyTorch's counter,
    2 per multiply-add) and the ``activation_bytes`` a training step keeps for it
    (:func:`activation_bytes_per_image`)."""
    shape = _image_shape(image_shape)
    parameters = list(as_module("model", model).parameters())
    return {"weights": sum(p.numel() for p in parameters),
            "weight_bytes": sum(p.numel() * p.element_size() for p in parameters),
            "flops": count_flops(model, (1, *shape)),
            "activation_bytes": activation_bytes_per_image(model, shape)}
