"""The dense layer a convolution is: the same linear map, with tied and zeroed weights.

A convolution on a fixed input size is a linear map from the flattened input to the flattened
output, so it *is* an ``nn.Linear`` whose matrix obeys two kinds of constraints: *nullity* (an
output pixel is not connected to input pixels outside its window: structural zeros) and
*equality* (every connected entry is a copy of one of the kernel's weights: ties).

Both functions build the matrix by pushing a one-hot basis of the input through ``F.conv2d``
(chunked to bound memory), never by looping over output pixels. Flattening is PyTorch's
``x.flatten(1)`` order: channel, then row, then column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convlib._checks import as_int, as_module, as_odd_kernel, as_pair
from convlib.flops import conv2d_output_size

# The one-hot basis is pushed in chunks of about this many elements (32 MiB in float64).
_CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True, eq=False)
class DenseStructure:
    """The equality and nullity constraints of the dense matrix of a convolution.

    ``weight_index[o, i]`` is the flat index into ``conv.weight`` of the kernel weight that the
    dense entry (output o, input i) copies, or -1 for a structural zero (o never sees i).
    """

    input_size: tuple[int, int]
    output_size: tuple[int, int]
    weight_index: torch.Tensor  # int64, (out_features, in_features), -1 = structural zero
    bias_index: torch.Tensor | None  # int64, (out_features,): which conv bias each output copies
    total_entries: int  # out_features * in_features
    structural_zeros: int  # entries that are zero whatever the conv's weights
    tied_entries: int  # entries that copy some conv weight (the dense layer's nonzeros)
    free_weights: int  # distinct free weights: conv.weight.numel()
    used_weights: int  # conv weights that appear at all (fewer only if a tap only sees padding)

    @property
    def ties_per_weight(self) -> torch.Tensor:
        """How many dense entries copy each conv weight (flat order of ``conv.weight``)."""
        used = self.weight_index[self.weight_index >= 0]
        return torch.bincount(used, minlength=self.free_weights)


def _checked(conv: nn.Conv2d, input_size: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """Validate ``conv`` and ``input_size``; return (input (H, W), output (H_out, W_out))."""
    as_module("conv", conv, nn.Conv2d)
    if isinstance(conv.weight, nn.parameter.UninitializedParameter):
        raise ValueError("conv is a lazy convolution whose weight is not initialised yet; "
                         "run it once first")
    if conv.padding_mode != "zeros":
        raise ValueError(f"conv.padding_mode must be 'zeros' (reflect, replicate and circular "
                         f"padding are not the zero-padded map modelled here); "
                         f"got padding_mode={conv.padding_mode!r}")
    size = as_pair("input_size", input_size)
    out = conv2d_output_size(size, conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    return size, out


def _dense_matrix(conv: nn.Conv2d, weight: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The (C_out H_out W_out, C_in H W) matrix of ``F.conv2d(., weight)`` with conv's geometry.

    Column j is the convolution of the j-th one-hot input (so no bias): push the identity
    basis, reshaped as a batch of images, through the convolution, a chunk of columns at a time.
    """
    c_in = conv.in_channels
    n_in = c_in * size[0] * size[1]
    columns = []
    step = max(1, _CHUNK_ELEMENTS // n_in)
    for start in range(0, n_in, step):
        stop = min(n_in, start + step)
        basis = torch.zeros(stop - start, n_in, dtype=weight.dtype, device=weight.device)
        basis[torch.arange(stop - start), torch.arange(start, stop)] = 1
        images = basis.view(stop - start, c_in, size[0], size[1])
        out = F.conv2d(images, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)
        columns.append(out.flatten(1).T)
    return torch.cat(columns, dim=1)


def conv_as_dense(conv: nn.Conv2d, input_size: int | tuple[int, int]) -> nn.Linear:
    """The ``nn.Linear`` with ``linear(x.flatten(1)) == conv(x).flatten(1)`` for x of shape
    ``(N, C_in, H, W)``, ``(H, W) = input_size``.

    ``weight[o, i]`` = the kernel weight linking input entry i to output entry o, or 0;
    ``bias[o]`` = ``conv.bias[channel of o]`` (repeated over the H_out * W_out output pixels).
    Any stride, padding (ints, pairs, 'same', 'valid'), dilation, groups and kernel shape;
    ``padding_mode='zeros'`` only. Same dtype and device as ``conv.weight``. The matrix has
    ``C_out H_out W_out * C_in H W`` entries: keep the sizes small.
    """
    size, out = _checked(conv, input_size)
    with torch.no_grad():
        matrix = _dense_matrix(conv, conv.weight.detach(), size)
        n_out, n_in = matrix.shape
        # Built on "meta" so that no random initialisation of a large matrix is wasted.
        linear = nn.Linear(n_in, n_out, bias=conv.bias is not None, device="meta")
        linear.weight = nn.Parameter(matrix.contiguous())
        if conv.bias is not None:
            linear.bias = nn.Parameter(conv.bias.detach().repeat_interleave(out[0] * out[1]))
    return linear


def dense_structure(conv: nn.Conv2d, input_size: int | tuple[int, int]) -> DenseStructure:
    """Which entries of :func:`conv_as_dense`'s matrix are structural zeros and which conv weight
    each other entry copies.

    Computed from the geometry alone, not from the weight values (a weight that happens to be 0 is
    still a tie): the conv is run in float64 on the CPU with ``weight = 1, 2, ..., numel``. Each
    dense entry involves at most one kernel tap, so it reads back exactly ``index + 1``, or 0.
    Counts: ``total_entries = structural_zeros + tied_entries``; for the article's 4x4 input,
    3x3 kernel, 1 channel: 16 * 4 = 64 entries, 28 structural zeros, 36 ties of 9 weights.
    """
    size, out = _checked(conv, input_size)
    free = conv.weight.numel()
    labels = torch.arange(1, free + 1, dtype=torch.float64).reshape(conv.weight.shape)
    with torch.no_grad():
        matrix = _dense_matrix(conv, labels, size)
    weight_index = matrix.round().to(torch.int64) - 1
    tied = int((weight_index >= 0).sum())
    bias_index = None
    if conv.bias is not None:
        bias_index = torch.arange(conv.out_channels).repeat_interleave(out[0] * out[1])
    return DenseStructure(
        input_size=size,
        output_size=out,
        weight_index=weight_index,
        bias_index=bias_index,
        total_entries=weight_index.numel(),
        structural_zeros=weight_index.numel() - tied,
        tied_entries=tied,
        free_weights=free,
        used_weights=int(torch.unique(weight_index[weight_index >= 0]).numel()),
    )


class LocallyConnected2d(nn.Module):
    """A convolution without weight sharing: every output pixel has its own kernel.

    The dense matrix of a convolution keeps its structural zeros (each output sees only its
    ``k x k`` window) and loses its ties (the windows' weights are free). On a ``H x W`` output
    it holds ``H W`` times the convolution's weights:

        weights = H_out W_out * C_out * C_in * k^2  +  C_out H_out W_out (biases).

    Computed as ``F.unfold`` (every window as a column) and one batched product per pixel.
    Stride 1 and "same" padding (``k // 2``), the geometry of the book's blocks.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 input_size: int | tuple[int, int], bias: bool = True) -> None:
        super().__init__()
        c_in, c_out = as_int("in_channels", in_channels), as_int("out_channels", out_channels)
        k = as_odd_kernel("kernel_size", kernel_size, minimum=1)
        self.size, self.kernel_size, self.out_channels = as_pair("input_size", input_size), k, c_out
        pixels, fan_in = self.size[0] * self.size[1], c_in * k * k
        bound = 1 / math.sqrt(fan_in)  # nn.Conv2d's default initialisation, per pixel
        self.weight = nn.Parameter(torch.empty(pixels, c_out, fan_in).uniform_(-bound, bound))
        self.bias = (nn.Parameter(torch.empty(c_out, pixels).uniform_(-bound, bound))
                     if bias else None)

    @classmethod
    def untied(cls, conv: nn.Conv2d, input_size: int | tuple[int, int]) -> LocallyConnected2d:
        """The locally connected layer whose every pixel copies ``conv``'s kernel (and bias):
        the same map as ``conv`` until training unties them."""
        k = conv.kernel_size[0]
        if conv.stride != (1, 1) or conv.groups != 1 or conv.padding != (k // 2, k // 2):
            raise ValueError("conv must have stride 1, groups 1 and 'same' padding k // 2")
        layer = cls(conv.in_channels, conv.out_channels, k, input_size, conv.bias is not None)
        with torch.no_grad():
            layer.weight.copy_(conv.weight.flatten(1).expand_as(layer.weight))
            if conv.bias is not None:
                layer.bias.copy_(conv.bias[:, None].expand_as(layer.bias))
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != self.size:
            raise ValueError(f"x must be {self.size[0]}x{self.size[1]} images (input_size); "
                             f"got {tuple(x.shape[-2:])}")
        columns = F.unfold(x, self.kernel_size, padding=self.kernel_size // 2)  # (N, fan_in, L)
        out = torch.einsum("nfl,lof->nol", columns, self.weight.to(columns.dtype))
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.reshape(len(x), self.out_channels, *self.size)
