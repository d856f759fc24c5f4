"""Receptive fields: the standard recurrence, and a measurement from input gradients.

Analytic: through a stack of convolutions and poolings, per axis,
``r_out = r_in + (k_eff - 1) * j_in`` and ``j_out = j_in * s``, with ``k_eff = d (k - 1) + 1``,
starting from ``r = j = 1`` on the input. Non-square kernels are supported: every quantity is a
``(height, width)`` pair.

Empirical: the input pixels on which one central output pixel depends, read off the nonzero
footprint of the gradient of that pixel with respect to the input.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from convlib._checks import as_int, as_module, as_pair

_SPATIAL_LAYERS = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
# Per-pixel modules: they change values, not which input pixels an output pixel depends on.
_TRANSPARENT = (
    nn.Identity, nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
    nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Threshold, nn.LogSigmoid, nn.Hardshrink,
    nn.Softshrink,
)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one output pixel of a stack, per axis (height, width), in input pixels.

    ``size``: extent of the field; ``jump``: distance between neighbouring output pixels' fields
    (the effective stride); ``start``: centre of output pixel (0, 0)'s field, in input
    coordinates (negative or fractional when padding or even kernels put it there).
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]


def _flatten(layers: nn.Module | Iterable[nn.Module], name: str = "layers") -> list[nn.Module]:
    """Spatial layers of ``layers`` in order, Sequentials flattened, per-pixel modules dropped."""
    if isinstance(layers, (nn.Sequential, nn.ModuleList)):
        items: Iterable[object] = layers
    elif isinstance(layers, nn.Module):
        items = [layers]
    elif isinstance(layers, Iterable) and not isinstance(layers, (str, bytes)):
        items = list(layers)
    else:
        raise TypeError(f"{name} must be an nn.Module, an nn.Sequential or a list of modules; "
                        f"got {type(layers).__name__}")
    flat: list[nn.Module] = []
    for i, item in enumerate(items):
        if isinstance(item, (nn.Sequential, nn.ModuleList)):
            flat.extend(_flatten(item, f"{name}[{i}]"))
        elif isinstance(item, _SPATIAL_LAYERS):
            flat.append(item)
        elif not isinstance(item, _TRANSPARENT):
            raise TypeError(
                f"{name}[{i}] is a {type(item).__name__}: receptive_field handles Conv2d, "
                f"MaxPool2d and AvgPool2d (in lists or nested Sequentials), with activations, "
                f"BatchNorm, Dropout and Identity passed through")
    return flat


def _geometry(layer: nn.Module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(effective kernel k_eff, stride, left/top padding) of one spatial layer, per axis."""
    kernel = as_pair("kernel_size", layer.kernel_size)
    stride = as_pair("stride", layer.stride)
    dilation = as_pair("dilation", getattr(layer, "dilation", 1))  # AvgPool2d has no dilation
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    padding = layer.padding
    if padding == "valid":
        pad = (0, 0)
    elif padding == "same":
        pad = tuple((s - 1) // 2 for s in span)  # PyTorch puts the smaller half on the left
    else:
        pad = as_pair("padding", padding, minimum=0)
    return span, stride, pad


def receptive_field_by_layer(layers: nn.Module | Iterable[nn.Module]) -> list[ReceptiveField]:
    """The :class:`ReceptiveField` after each spatial layer of ``layers`` (see
    :func:`receptive_field`), starting with the input itself (size 1, jump 1, start 0)."""
    size, jump, start = [1, 1], [1, 1], [0.0, 0.0]
    fields = [ReceptiveField((1, 1), (1, 1), (0.0, 0.0))]
    for layer in _flatten(layers):
        span, stride, pad = _geometry(layer)
        for axis in range(2):
            # The first output window covers padded positions [-pad, -pad + span - 1].
            start[axis] += ((span[axis] - 1) / 2 - pad[axis]) * jump[axis]
            size[axis] += (span[axis] - 1) * jump[axis]
            jump[axis] *= stride[axis]
        fields.append(ReceptiveField((size[0], size[1]), (jump[0], jump[1]), (start[0], start[1])))
    return fields


def receptive_field(layers: nn.Module | Iterable[nn.Module]) -> ReceptiveField:
    """Receptive field of a stack of ``nn.Conv2d`` / ``nn.MaxPool2d`` / ``nn.AvgPool2d``, per axis:
    ``r_out = r_in + (k_eff - 1) j_in``, ``j_out = j_in s``, ``k_eff = d (k - 1) + 1``.

    ``layers``: one such layer, an ``nn.Sequential`` (nested ones flattened) or a list. Per-pixel
    modules (activations, BatchNorm, Dropout, Identity) are passed through; anything else is a
    ``TypeError`` naming it. The size ignores the image border (an unclipped field).
    """
    return receptive_field_by_layer(layers)[-1]


@dataclass(frozen=True, eq=False)
class EmpiricalReceptiveField:
    """A measured receptive field.

    ``size``: (height, width) extent of the footprint's nonzero rows and columns; ``footprint``:
    the input gradient of the central output pixel, summed over channels, shape (H, W), float64
    (plot it: with positive weights it is the field's weighting); ``output_pixel``: which output
    pixel was measured; ``clipped``: True if the footprint touches the image border, in which
    case the size may be smaller than the analytic one.
    """

    size: tuple[int, int]
    footprint: torch.Tensor
    output_pixel: tuple[int, int]
    clipped: bool

    @property
    def coverage(self) -> float:
        """Share of the pixels in the field's bounding box (``size``) that the output depends on.

        1.0 for a solid field; less when the field has holes, as stacked convolutions with the
        same dilation ``d > 1`` leave (the *gridding* artefact: they only ever read pixels whose
        offsets from the centre are multiples of ``d``)."""
        rows = torch.nonzero(self.footprint.abs().sum(dim=1)).flatten()
        cols = torch.nonzero(self.footprint.abs().sum(dim=0)).flatten()
        if rows.numel() == 0:
            return 0.0
        box = self.footprint[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        return float((box != 0).sum()) / box.numel()


class _SumPool2d(nn.Module):
    """A max pooling's window as a linear map: every pixel of the window gets weight 1/(kh kw).

    Max pooling sends the gradient to one pixel of each window only; this keeps the geometry
    (kernel, stride, padding, dilation, ceil_mode) and makes every window pixel count.
    """

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = self.pool
        kernel, stride = as_pair("kernel_size", pool.kernel_size), as_pair("stride", pool.stride)
        pad = as_pair("padding", pool.padding, minimum=0)
        dilation = as_pair("dilation", pool.dilation)
        n, c, h, w = x.shape
        pooled = F.max_pool2d(x.detach(), kernel, stride, pad, dilation, pool.ceil_mode)
        out_h, out_w = pooled.shape[-2:]
        # ceil_mode may add a last window that runs past the padding: pad that far with zeros.
        last_h = (out_h - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1
        last_w = (out_w - 1) * stride[1] + dilation[1] * (kernel[1] - 1) + 1
        extra_h, extra_w = max(0, last_h - (h + 2 * pad[0])), max(0, last_w - (w + 2 * pad[1]))
        padded = F.pad(x.reshape(n * c, 1, h, w),
                       (pad[1], pad[1] + extra_w, pad[0], pad[0] + extra_h))
        ones = x.new_full((1, 1, *kernel), 1.0 / (kernel[0] * kernel[1]))
        out = F.conv2d(padded, ones, None, stride, 0, dilation)
        return out[..., :out_h, :out_w].reshape(n, c, out_h, out_w)


def _positive_linear_copy(model: nn.Module) -> nn.Module:
    """A float64 deepcopy in which nothing can cancel: conv weights 1/fan_in (positive, averaging
    so deep models neither overflow nor underflow), biases 0, max pools as sum pools, per-pixel
    modules (activations, norms, dropout) replaced by Identity. The copy is linear with positive
    coefficients, so its input gradient is nonzero exactly on the receptive field."""
    clone = copy.deepcopy(model).to(torch.float64)
    for name, module in list(clone.named_modules()):
        replacement = None
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            with torch.no_grad():
                module.weight.fill_(1.0 / fan_in)
                if module.bias is not None:
                    module.bias.zero_()
        elif isinstance(module, nn.MaxPool2d):
            replacement = _SumPool2d(module)
        elif isinstance(module, _TRANSPARENT) and not isinstance(module, nn.Identity):
            replacement = nn.Identity()
        if replacement is not None:
            if not name:
                return replacement  # the model is itself one such layer
            parent_name, _, child = name.rpartition(".")
            setattr(clone.get_submodule(parent_name), child, replacement)
    clone.requires_grad_(False)
    return clone


def _in_channels(model: nn.Module) -> int:
    """The input channels of the first Conv2d registered in ``model`` (1 for conv-free stacks)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return 1


def empirical_receptive_field(
    model: nn.Module | Iterable[nn.Module],
    input_size: int | tuple[int, int],
    in_channels: int | None = None,
) -> EmpiricalReceptiveField:
    """Measure the receptive field of the central output pixel ``(H_out // 2, W_out // 2)`` of
    ``model`` (a module, or a list of modules run in order) on a ``(1, C, H, W)`` input.

    Approach: in a float64 copy made linear with positive coefficients (conv weights 1/fan_in,
    biases 0, max pools as sum pools, activations / norms / dropout removed), take the gradient of
    the output pixel summed over channels w.r.t. the input; no term can cancel, so its nonzero
    footprint is exactly the set of input pixels the output depends on. ``size`` is that
    footprint's (height, width) extent. ``in_channels`` defaults to the first Conv2d's.
    Works for any model whose output is a feature map (residual blocks included); modules other
    than those listed are kept as they are (a GroupNorm, say, would widen the footprint).
    """
    if not isinstance(model, nn.Module):
        model = nn.Sequential(*_checked_modules(model))
    size = as_pair("input_size", input_size)
    channels = _in_channels(model) if in_channels is None else as_int("in_channels", in_channels)
    linear = _positive_linear_copy(model)
    x = torch.ones(1, channels, *size, dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        try:
            out = linear(x)
        except RuntimeError as error:  # e.g. a kernel larger than the padded input
            raise ValueError(f"input_size {size} with in_channels {channels} does not fit the "
                             f"model: {error}") from error
        if not isinstance(out, torch.Tensor) or out.dim() != 4:
            shape = f" of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else ""
            raise ValueError("model must map (N, C, H, W) images to (N, C', H', W') feature maps; "
                             f"got a {type(out).__name__}{shape}")
        pixel = (out.shape[2] // 2, out.shape[3] // 2)
        out[0, :, pixel[0], pixel[1]].sum().backward()
    footprint = x.grad[0].sum(dim=0)
    rows = torch.nonzero(footprint.abs().sum(dim=1)).flatten()
    cols = torch.nonzero(footprint.abs().sum(dim=0)).flatten()
    if rows.numel() == 0:
        return EmpiricalReceptiveField((0, 0), footprint, pixel, clipped=False)
    extent = (int(rows[-1] - rows[0]) + 1, int(cols[-1] - cols[0]) + 1)
    clipped = bool(rows[0] == 0 or cols[0] == 0
                   or rows[-1] == size[0] - 1 or cols[-1] == size[1] - 1)
    return EmpiricalReceptiveField(extent, footprint, pixel, clipped)


def _checked_modules(layers: Iterable[nn.Module]) -> list[nn.Module]:
    """A list of modules, or a TypeError naming what ``model`` should be."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        raise TypeError("model must be an nn.Module or a list of modules; "
                        f"got {type(layers).__name__}")
    items = list(layers)
    for i, item in enumerate(items):
        as_module(f"model[{i}]", item)
    return items
