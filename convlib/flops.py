"""FLOPs and MACs, counted by PyTorch itself, and the closed forms they must agree with.

Units: a *FLOP* here is what ``torch.utils.flop_counter.FlopCounterMode`` counts, where one
multiply-add is 2 FLOPs (a convolution is ``2 * output elements * (c_in / groups) * kh * kw``).
A *MAC* (multiply-accumulate) is half of that. PyTorch's counter only counts the matrix products
and convolutions (mm, addmm, bmm, convolution, attention, ...): it does not count bias additions,
activations, normalisation, pooling or residual additions, and neither do the closed forms here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convlib._checks import as_groups, as_int, as_module, as_pair, as_shape

_PADDING_STRINGS = ("same", "valid")


def conv2d_output_size(
    input_size: int | tuple[int, int],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, int]:
    """The (height, width) of ``nn.Conv2d``'s output, per axis
    ``floor((n + 2 p - d (k - 1) - 1) / s) + 1``.

    ``padding`` may be an int, a pair, ``'valid'`` (p = 0) or ``'same'`` (output size = input
    size; PyTorch only allows it with stride 1). Always returns a pair, even for int input.
    Raises ``ValueError`` when the dilated kernel is larger than the padded input.
    """
    size = as_pair("input_size", input_size)
    kernel = as_pair("kernel_size", kernel_size)
    strides = as_pair("stride", stride)
    dilations = as_pair("dilation", dilation)
    if isinstance(padding, str):
        if padding not in _PADDING_STRINGS:
            raise ValueError(f"padding must be an int, a pair, 'same' or 'valid'; got {padding!r}")
        if padding == "same":
            if strides != (1, 1):
                raise ValueError(f"padding='same' needs stride 1 (as in nn.Conv2d); "
                                 f"got stride={stride!r}")
            return size
        pads = (0, 0)
    else:
        pads = as_pair("padding", padding, minimum=0)
    out = []
    for n, k, s, p, d in zip(size, kernel, strides, pads, dilations, strict=True):
        span = d * (k - 1) + 1  # the dilated kernel's extent
        if n + 2 * p < span:
            raise ValueError(f"kernel_size {kernel} with dilation {dilations} spans {span} pixels, "
                             f"larger than the padded input ({n} + 2*{p}); input_size={size}")
        out.append((n + 2 * p - span) // s + 1)
    return (out[0], out[1])


def conv2d_flops(
    c_in: int,
    c_out: int,
    kernel_size: int | tuple[int, int],
    output_size: int | tuple[int, int],
    groups: int = 1,
) -> int:
    """FLOPs of one ``nn.Conv2d`` on one image, as PyTorch counts them (bias not counted):
    ``2 * c_out * H_out * W_out * (c_in / groups) * kh * kw``."""
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    groups = as_groups(groups, c_in, c_out)
    kh, kw = as_pair("kernel_size", kernel_size)
    h_out, w_out = as_pair("output_size", output_size)
    return 2 * c_out * h_out * w_out * (c_in // groups) * kh * kw


def dense_flops(n_in: int, n_out: int) -> int:
    """FLOPs of one ``nn.Linear(n_in, n_out)`` on one vector, as PyTorch counts them:
    ``2 * n_in * n_out`` (the bias addition is not counted)."""
    return 2 * as_int("n_in", n_in) * as_int("n_out", n_out)


def _probe_input(model: nn.Module, input_shape: tuple[int, ...]) -> torch.Tensor:
    """Zeros of ``input_shape`` on the model's device, in its floating dtype (float32 if none)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return torch.zeros(input_shape, dtype=tensor.dtype, device=tensor.device)
    return torch.zeros(input_shape)


def _run_counted(model: nn.Module, input_shape: tuple[int, ...], hooks: Any = None) -> int:
    """One eval-mode, no-grad forward pass under ``FlopCounterMode``; returns the total FLOPs.

    Every module's training flag is restored afterwards (a model may mix train and eval parts).
    ``hooks``, if given, is called with the counter before the pass and returns hook handles.
    """
    # Deferred: keeps `import convlib.flops` cheap.

    flags = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        model.eval()
        x = _probe_input(model, input_shape)
        counter = FlopCounterMode(display=False)
        if hooks is not None:
            handles = hooks(counter)
        with torch.no_grad(), counter:
            try:
                model(x)
            except RuntimeError as error:  # e.g. the shape does not fit the model's first layer
                raise ValueError(f"input_shape {input_shape} does not fit the model: "
                                 f"{error}") from error
        return int(counter.get_total_flops())
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in flags:
            module.training = flag


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass of ``model`` on a zero input of ``input_shape`` (batch included),
    counted by ``torch.utils.flop_counter.FlopCounterMode``.

    One multiply-add = 2 FLOPs. Counted: matrix products and convolutions (conv = ``2 * N * c_out *
    H_out * W_out * (c_in/groups) * kh * kw``, linear = ``2 * N * n_in * n_out``). Not counted:
    biases, activations, batch norm, pooling, additions. The model runs in eval mode under
    ``torch.no_grad()``; its training flags are restored afterwards.
    """
    as_module("model", model)
    shape = as_shape("input_shape", input_shape)
    return _run_counted(model, shape)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass: ``count_flops(model, input_shape) // 2``.

    This is the unit of torchvision's model tables (their "GFLOPS" column is in fact GMACs).
    """
    return count_flops(model, input_shape) // 2


def flops_by_layer(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """FLOPs of one forward pass, per leaf module (keyed by its name in ``model.named_modules()``).

    Only leaf modules that do counted work appear, in call order; work done outside any leaf
    module (functional calls in a ``forward``) is reported under ``"(other)"``. The values sum to
    :func:`count_flops`. A module called twice accumulates both calls.
    """
    as_module("model", model)
    shape = as_shape("input_shape", input_shape)
    per_layer: dict[str, int] = {}

    def install(counter: Any) -> list[Any]:
        handles = []
        for name, module in model.named_modules():
            if next(module.children(), None) is not None:
                continue  # only leaves, so that nothing is counted twice
            started: list[int] = []

            def before(_module: nn.Module, _inputs: Any, started: list[int] = started) -> None:
                started.append(counter.get_total_flops())

            def after(_module: nn.Module, _inputs: Any, _output: Any,
                      name: str = name or type(module).__name__,
                      started: list[int] = started) -> None:
                used = counter.get_total_flops() - started.pop()
                if used:
                    per_layer[name] = per_layer.get(name, 0) + used

            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
        return handles

    total = _run_counted(model, shape, hooks=install)
    other = total - sum(per_layer.values())
    if other:
        per_layer["(other)"] = other
    return per_layer
