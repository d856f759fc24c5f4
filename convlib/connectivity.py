"""Which input channels feed which output channels: the in -> out connection matrix of a layer.

A convolution ``c_in -> c_out`` in ``g`` groups splits its channels into ``g`` consecutive groups
of ``c_in / g`` inputs and ``c_out / g`` outputs; output channel ``o`` sees input channel ``i``
exactly when they are in the same group::

    connected[o, i]  <=>  o // (c_out / g) == i // (c_in / g)

so the matrix is block diagonal with ``g`` blocks of ``(c_out / g) x (c_in / g)`` ones, and holds
``c_in * c_out / g`` connections: ``c_in * c_out`` for an ordinary convolution (``g = 1``),
``c`` for a depthwise one (``g = c_in = c_out``). Each connection carries ``kh * kw`` weights.

:func:`connection_matrix` does not use that formula: it measures the matrix on the layer itself,
with autograd (output channel ``o`` depends on input channel ``i`` iff the gradient of ``o``'s
sum with respect to channel ``i`` of the input is non-zero). :func:`grouped_connections` is the
closed form, :func:`compose` chains layers (a path ``i -> m -> o`` through two layers connects
``i`` to ``o``: a boolean matrix product), and the tests check all three against each other.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from convlib._checks import as_bool, as_groups, as_int, as_module

__all__ = ["connection_matrix", "grouped_connections", "connection_count", "compose"]


def grouped_connections(c_in: int, c_out: int, groups: int = 1) -> torch.Tensor:
    """The closed form: a ``(c_out, c_in)`` boolean matrix, ``True`` where
    ``o // (c_out / groups) == i // (c_in / groups)`` (``groups`` must divide both)."""
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    groups = as_groups(groups, c_in, c_out)
    out_group = torch.arange(c_out) // (c_out // groups)
    in_group = torch.arange(c_in) // (c_in // groups)
    return out_group[:, None] == in_group[None, :]


def connection_count(c_in: int, c_out: int, groups: int = 1) -> int:
    """How many (input, output) channel pairs a grouped convolution connects: ``c_in c_out / g``."""
    return int(grouped_connections(c_in, c_out, groups).sum())


def connection_matrix(conv: nn.Conv2d, *, nonzero_only: bool = False) -> torch.Tensor:
    """The ``(c_out, c_in)`` boolean matrix of ``conv``: ``True`` where output channel ``o``
    depends on input channel ``i``, measured by autograd on a copy of the layer.

    The copy runs PyTorch's own forward (groups, stride and dilation as the layer has them,
    padding removed: it connects no channels) on an all-ones input just large enough for one
    output pixel; ``connected[o, i]`` is
    ``d sum(y[:, o]) / d x[:, i] != 0``. Its weights are replaced by ones, so the matrix is the
    layer's *structure* (a weight that happens to be zero still counts), or, with
    ``nonzero_only=True``, by their absolute values, so that a pair whose ``kh x kw`` weights are
    all zero counts as disconnected (absolute values: no cancellation can hide a connection).
    Biases are removed (they do not depend on the input). The layer itself is not modified.
    """
    as_module("conv", conv, nn.Conv2d)
    as_bool("nonzero_only", nonzero_only)
    probe = copy.deepcopy(conv)
    if probe.weight.is_meta:
        probe = probe.to_empty(device="cpu")
        if nonzero_only:
            raise ValueError("conv is on the meta device: it has no weight values for "
                             "nonzero_only=True")
    probe = probe.to(device="cpu", dtype=torch.float64)
    with torch.no_grad():
        if nonzero_only:
            probe.weight.copy_(conv.weight.detach().abs().to("cpu", torch.float64))
        else:
            probe.weight.fill_(1.0)
    probe.bias = None
    probe.requires_grad_(False)
    # Padding adds no connection between channels; without it, an input as large as the dilated
    # kernel gives exactly one output pixel, which sees every tap whatever the stride.
    probe.padding, probe.padding_mode = (0, 0), "zeros"
    kh, kw = probe.kernel_size
    dh, dw = probe.dilation
    x = torch.ones(1, probe.in_channels, dh * (kh - 1) + 1, dw * (kw - 1) + 1, dtype=torch.float64,
                   requires_grad=True)
    y = probe(x)
    rows = []
    for o in range(probe.out_channels):
        (grad,) = torch.autograd.grad(y[:, o].sum(), x, retain_graph=o + 1 < probe.out_channels)
        rows.append(grad.abs().sum(dim=(0, 2, 3)) > 0)
    return torch.stack(rows)


def compose(*matrices: torch.Tensor) -> torch.Tensor:
    """The connection matrix of layers applied in the order given (first layer first): ``i``
    reaches ``o`` when some chain of connections links them, the boolean product
    ``M_n ... M_2 M_1 > 0``."""
    if not matrices:
        raise ValueError("matrices must hold at least one connection matrix")
    result = None
    for n, matrix in enumerate(matrices):
        if not isinstance(matrix, torch.Tensor) or matrix.dtype != torch.bool or matrix.ndim != 2:
            raise TypeError(f"matrices[{n}] must be a 2-D boolean torch.Tensor (c_out, c_in)")
        if result is None:
            result = matrix.clone()
            continue
        if matrix.shape[1] != result.shape[0]:
            raise ValueError(f"matrices[{n}] has {matrix.shape[1]} input channels, the layer "
                             f"before it {result.shape[0]} output channels")
        result = (matrix.double() @ result.double()) > 0
    return result
