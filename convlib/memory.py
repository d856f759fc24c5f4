"""Memory a layer costs: its weights, and the activations a training step keeps for backward.

A forward pass with autograd on stores, for each operation, the tensors its backward needs (a
convolution keeps its input, a ReLU its output, ...). PyTorch hands each of them to
``torch.autograd.graph.saved_tensors_hooks``' pack hook as it is saved; :func:`saved_activation_bytes`
adds up their sizes. That is the activation memory of a training step, the part that grows with
the batch; the weights (and their gradients and optimiser state) do not.
"""

from __future__ import annotations

import torch
from torch import nn

from convlib._checks import as_int, as_module, as_shape


def _storage_key(tensor: torch.Tensor) -> tuple[str, int, int]:
    """Identifies the memory behind a tensor: views of one storage are counted once."""
    storage = tensor.untyped_storage()
    return (str(tensor.device), storage.data_ptr(), storage.nbytes())


def saved_activation_bytes(model: nn.Module, inputs: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward during ``model(inputs)``, each storage
    once, the model's parameters and buffers left out (they are memory of the weights, present
    whatever the batch). ``inputs`` needs no gradient: the weights' gradients need the saved
    activations anyway. The model's training flags are kept (BatchNorm in training mode saves
    more than in eval mode)."""
    as_module("model", model)
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor; got {type(inputs).__name__}")
    if inputs.device.type == "meta":
        raise ValueError("inputs must hold data (not the meta device): saved tensors are "
                         "identified by their storage")
    weights = {_storage_key(t) for t in (*model.parameters(), *model.buffers())}
    saved: dict[tuple[str, int, int], int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = _storage_key(tensor)
        if key not in weights:
            saved[key] = key[2]
        return tensor

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(inputs)
    return sum(saved.values())


def activation_bytes_per_image(model: nn.Module, image_shape: tuple[int, int, int],
                               batch: int = 2) -> int:
    """:func:`saved_activation_bytes` for a batch of ``batch`` random float32 images of
    ``image_shape`` (C, H, W), divided by ``batch``. A batch of 2 or more makes sure no layer
    saves something of batch size 1 only."""
    shape = as_shape("image_shape", image_shape)
    if len(shape) != 3:
        raise ValueError(f"image_shape must be (channels, height, width); got {shape}")
    batch = as_int("batch", batch, minimum=2)
    generator = torch.Generator().manual_seed(0)
    total = saved_activation_bytes(model, torch.randn(batch, *shape, generator=generator))
    if total % batch:
        raise RuntimeError(f"saved {total} bytes for {batch} images: not a whole number per image")
    return total // batch
