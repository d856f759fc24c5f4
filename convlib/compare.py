"""Every weight-saving trick of the book side by side, for one layer shape.

For a layer ``c_in -> c_out`` with the receptive field of one ``k x k`` kernel (``k`` odd,
``>= 3``), :func:`compare_tricks` builds each *construction* with :func:`convlib.blocks.make_block`
(stride 1, "same" padding, no bias, no normalisation: the weights the article counts) and reports

- ``weights``: the closed form of :func:`construction_params` (asserted equal to the built module's
  parameter count);
- ``flops``: what ``torch.utils.flop_counter`` counts for one image of ``input_size`` (1 MAC = 2
  FLOPs); at stride 1 with same padding every weight is used once per output pixel, so
  ``flops = 2 * H * W * weights`` for every construction;
- ``receptive_field``: the analytic receptive field of the block
  (:func:`convlib.receptive.receptive_field`);
- ``weight_ratio`` / ``flops_ratio``: the plain ``k x k`` convolution's count over this one's;
- optionally the test accuracy of the book's reference experiment that trains a network made of
  that construction (:func:`reference_accuracy`).

The constructions (``n = (k - 1) / 2``, ``m`` = ``mid_channels``, default ``c_out // 4``,
``g`` = ``groups``), with their weights when ``c_in = c_out = c``:

=====================  ===================================================  ======================
``plain``              one ``k x k`` convolution                            ``k^2 c^2``
``stacked``            ``n`` stacked 3x3 convolutions (only for ``k >= 5``)  ``9 n c^2``
``bottleneck``         1x1 ``c -> m``, ``k x k`` ``m -> m``, 1x1 ``m -> c``  ``2 c m + k^2 m^2``
``grouped``            one ``k x k`` convolution in ``g`` groups            ``k^2 c^2 / g``
``separable``          depthwise ``k x k`` then pointwise 1x1               ``k^2 c + c^2``
``spatial``            ``k x 1`` then ``1 x k``                             ``2 k c^2``
``stacked_separable``  ``n`` depthwise-separable 3x3 (only for ``k >= 5``)  ``n (9 c + c^2)``
=====================  ===================================================  ======================

For ``k = 3``, ``stacked`` *is* ``plain`` and ``stacked_separable`` *is* ``separable``: both are
left out.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import nn

from convlib._checks import as_bool, as_choice, as_groups, as_int, as_module, as_odd_kernel, as_pair
from convlib.blocks import block_params, default_mid_channels, make_block, number_word
from convlib.experiments.verdicts import summarize
from convlib.flops import count_flops, flops_by_layer
from convlib.params import count_params
from convlib.receptive import receptive_field
from convlib.results import load_reference

CONSTRUCTIONS = ("plain", "stacked", "bottleneck", "grouped", "separable", "spatial",
                 "stacked_separable")
LAYER_KINDS = ("depthwise", "pointwise", "full convolution", "grouped convolution", "dense")

# Which variant of which reference experiment trains a network built from a construction:
# (construction, kernel_size, groups or None) -> [(experiment, variant), ...], first found wins.
# tests/test_compare.py checks that each variant's blocks are exactly that construction.
REFERENCE_VARIANTS: dict[tuple[str, int, int | None], tuple[tuple[str, str], ...]] = {
    ("plain", 3, None): (("bottleneck", "3x3"), ("grouped", "g1"), ("dense_vs_conv", "cnn")),
    ("plain", 5, None): (("stacking", "5x5"),),
    ("plain", 7, None): (("stacking", "7x7"),),
    ("stacked", 5, None): (("stacking", "2x3x3"), ("separable", "2x3x3")),
    ("stacked", 7, None): (("stacking", "3x3x3"),),
    ("stacked_separable", 5, None): (("separable", "2xsep3x3"),),
    ("bottleneck", 3, None): (("bottleneck", "bottleneck"),),
    **{("grouped", 3, g): (("grouped", f"g{g}"),) for g in (2, 4, 8)},
}


@dataclass(frozen=True)
class Construction:
    """One way to build the layer: a :func:`convlib.blocks.make_block` call and a label."""

    name: str  # one of CONSTRUCTIONS
    label: str  # for tables and figures, e.g. "two separable 3x3"
    kind: str  # make_block's kind
    kernel_size: int  # make_block's kernel_size
    options: dict[str, Any] = field(default_factory=dict)  # make_block's other arguments

    def build(
        self, c_in: int, c_out: int, device: str | torch.device | None = None
    ) -> nn.Sequential:
        """The block, without bias or normalisation (``device="meta"``: shapes only)."""
        with torch.device(device) if device is not None else nullcontext():
            return make_block(self.kind, c_in, c_out, self.kernel_size, bias=False, norm=None,
                              **self.options)


def _checked(c_in: Any, c_out: Any, kernel_size: Any, groups: Any,
             mid_channels: Any) -> tuple[int, int, int, int, int]:
    c_in, c_out = as_int("c_in", c_in), as_int("c_out", c_out)
    k = as_odd_kernel("kernel_size", kernel_size)
    groups = as_groups(groups, c_in, c_out)
    mid = (
        default_mid_channels(c_out)
        if mid_channels is None
        else as_int("mid_channels", mid_channels)
    )
    return c_in, c_out, k, groups, mid


def constructions(c_in: int, c_out: int, kernel_size: int, *, groups: int = 2,
                  mid_channels: int | None = None) -> list[Construction]:
    """The constructions of the module docstring for a ``c_in -> c_out`` layer that sees
    ``kernel_size x kernel_size`` pixels (``kernel_size`` odd, ``>= 3``).

    ``groups`` (default 2, the article's example) must divide ``c_in`` and ``c_out``;
    ``mid_channels`` defaults to ``max(1, c_out // 4)``, ResNet's ratio.
    """
    c_in, c_out, k, groups, mid = _checked(c_in, c_out, kernel_size, groups, mid_channels)
    n = (k - 1) // 2
    word = number_word(n)
    found = [Construction("plain", f"one {k}x{k}", "plain", k)]
    if n > 1:
        found.append(Construction("stacked", f"{word} stacked 3x3", "stacked", k))
    found += [
        Construction("bottleneck", f"bottleneck 1x1-{k}x{k}-1x1 (mid {mid})", "bottleneck", k,
                     {"mid_channels": mid}),
        Construction("grouped", f"{k}x{k} in {groups} groups", "grouped", k, {"groups": groups}),
        Construction("separable", f"separable {k}x{k}", "separable", k),
        Construction("spatial", f"{k}x1 then 1x{k}", "spatial", k),
    ]
    if n > 1:
        found.append(Construction("stacked_separable", f"{word} separable 3x3", "separable", 3,
                                  {"repeats": n}))
    return found


def construction_params(name: str, c_in: int, c_out: int, kernel_size: int, *, groups: int = 2,
                        mid_channels: int | None = None) -> int:
    """Closed-form weights (no bias) of construction ``name`` (see the module docstring), from
    :func:`convlib.blocks.block_params`; no module is built."""
    as_choice("name", name, CONSTRUCTIONS)
    found = {c.name: c for c in constructions(c_in, c_out, kernel_size, groups=groups,
                                              mid_channels=mid_channels)}
    if name not in found:
        raise ValueError(
            f"construction {name!r} needs kernel_size >= 5 (for 3 it is "
            f"{'plain' if name == 'stacked' else 'separable'!r}); got kernel_size={kernel_size}"
        )
    c = found[name]
    return block_params(c.kind, c_in, c_out, c.kernel_size, bias=False, norm=None, **c.options)


def weight_ratio(name: str, c_in: int, c_out: int, kernel_size: int, *, groups: int = 2,
                 mid_channels: int | None = None) -> Fraction:
    """How many times fewer weights construction ``name`` needs than one plain ``k x k``
    convolution: ``k^2 c_in c_out / construction_params(...)``, as an exact Fraction."""
    options = {"groups": groups, "mid_channels": mid_channels}
    return Fraction(construction_params("plain", c_in, c_out, kernel_size, **options),
                    construction_params(name, c_in, c_out, kernel_size, **options))


def reference_accuracy(name: str, kernel_size: int, *, groups: int = 2,
                       folder: Any = None) -> dict[str, Any] | None:
    """Final test accuracy (mean and sample std over seeds) of the reference experiment's network
    built from construction ``name`` with kernel ``kernel_size``, or None if no experiment trains
    that construction or its results file is not there yet.

    Returns ``{"experiment", "variant", "mean", "std", "seeds", "profile", "dataset", "device"}``.
    The networks differ between experiments (see :data:`REFERENCE_VARIANTS`): compare accuracies
    only within one experiment.
    """
    as_choice("name", name, CONSTRUCTIONS)
    k = as_odd_kernel("kernel_size", kernel_size)
    key = (name, k, as_int("groups", groups) if name == "grouped" else None)
    for experiment, variant in REFERENCE_VARIANTS.get(key, ()):
        results = load_reference(experiment, folder)
        if results is None or variant not in results.get("variants", {}):
            continue
        summary = summarize(results)[variant]
        prov = results["provenance"]
        return {"experiment": experiment, "variant": variant, "mean": summary["mean"],
                "std": summary["std"], "seeds": summary["n"], "profile": prov["profile"],
                "dataset": prov["dataset"], "device": prov["device"]}
    return None


def compare_tricks(c_in: int, c_out: int, kernel_size: int, input_size: int | tuple[int, int], *,
                   groups: int = 2, mid_channels: int | None = None, accuracy: bool = False,
                   results_folder: Any = None) -> list[dict[str, Any]]:
    """One row per construction (:func:`constructions`) of a ``c_in -> c_out`` layer with a
    ``kernel_size x kernel_size`` receptive field, on one ``input_size`` image (int or (H, W)).

    Each row: ``name``, ``label``, ``weights`` (closed form, checked against the module built on
    the meta device), ``flops`` (``count_flops`` of a ``(1, c_in, H, W)`` input), ``macs``
    (``flops // 2``), ``receptive_field`` (int: the analytic field is square for all of them),
    ``weight_ratio`` and ``flops_ratio`` (plain ``k x k`` over this construction, floats), and with
    ``accuracy=True`` also ``accuracy``, ``accuracy_std``, ``accuracy_seeds`` and ``experiment``
    (None when no reference result covers the construction: see :func:`reference_accuracy`).

    Raises ``RuntimeError`` if a built block disagrees with its closed form (a bug, not a user
    error).
    """
    found = constructions(c_in, c_out, kernel_size, groups=groups, mid_channels=mid_channels)
    h, w = as_pair("input_size", input_size)
    as_bool("accuracy", accuracy)
    rows = []
    for c in found:
        block = c.build(c_in, c_out, device="meta")
        weights = construction_params(c.name, c_in, c_out, kernel_size, groups=groups,
                                      mid_channels=mid_channels)
        built = count_params(block)
        if built != weights:
            raise RuntimeError(f"{c.name}: closed form {weights} != built module's {built}")
        flops = count_flops(block, (1, c_in, h, w))
        field_size = receptive_field(block).size
        if field_size[0] != field_size[1]:
            raise RuntimeError(f"{c.name}: receptive field {field_size} is not square")
        row = {"name": c.name, "label": c.label, "weights": weights, "flops": flops,
               "macs": flops // 2, "receptive_field": field_size[0]}
        if accuracy:
            found_acc = reference_accuracy(c.name, kernel_size, groups=groups,
                                           folder=results_folder)
            row.update({"accuracy": found_acc["mean"] if found_acc else None,
                        "accuracy_std": found_acc["std"] if found_acc else None,
                        "accuracy_seeds": found_acc["seeds"] if found_acc else None,
                        "experiment": (f"{found_acc['experiment']}/{found_acc['variant']}"
                                       if found_acc else None)})
        rows.append(row)
    plain = rows[0]
    for row in rows:
        row["weight_ratio"] = plain["weights"] / row["weights"]
        row["flops_ratio"] = plain["flops"] / row["flops"]
    return rows


def layer_kind(module: nn.Module) -> str | None:
    """``"depthwise"`` (a conv with ``groups == c_in > 1``), ``"pointwise"`` (1x1, 1 group),
    ``"grouped convolution"`` (other ``groups > 1``), ``"full convolution"`` (any other conv),
    ``"dense"`` (``nn.Linear``); None for everything else (BatchNorm, activations...)."""
    as_module("module", module)
    if isinstance(module, nn.Conv2d):
        if module.groups == module.in_channels > 1:
            return "depthwise"
        if module.groups > 1:
            return "grouped convolution"
        if tuple(module.kernel_size) == (1, 1):
            return "pointwise"
        return "full convolution"
    if isinstance(module, nn.Linear):
        return "dense"
    return None


def cost_by_layer_kind(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, dict[str, int]]:
    """Per :func:`layer_kind` (in the order of :data:`LAYER_KINDS`, kinds absent from ``model``
    left out), ``{"layers", "weights", "macs"}``, plus ``"other"`` for the other leaf modules that
    hold parameters (BatchNorm...; they do no counted MACs).

    ``weights`` counts each module's own parameters (bias included); ``macs`` comes from
    :func:`convlib.flops.flops_by_layer` (halved). The weights add up to ``count_params(model)``
    and the MACs to ``count_macs(model, input_shape)``; a ``RuntimeError`` says if they do not
    (e.g. work done outside any module).
    """
    as_module("model", model)
    per_layer = flops_by_layer(model, input_shape)
    table: dict[str, dict[str, int]] = {}
    for name, module in model.named_modules():
        if next(module.children(), None) is not None:
            continue
        kind = layer_kind(module) or "other"
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if kind == "other" and own == 0 and name not in per_layer:
            continue  # parameter-free, work-free modules (activations, pooling, dropout)
        entry = table.setdefault(kind, {"layers": 0, "weights": 0, "macs": 0})
        entry["layers"] += 1
        entry["weights"] += own
        entry["macs"] += per_layer.get(name, 0) // 2
    if sum(e["weights"] for e in table.values()) != count_params(model):
        raise RuntimeError("the layers' weights do not add up to the model's (shared parameters?)")
    if "(other)" in per_layer:
        raise RuntimeError("some MACs are done outside any module: they cannot be attributed")
    order = LAYER_KINDS + ("other",)
    return {kind: table[kind] for kind in order if kind in table}


__all__ = ["CONSTRUCTIONS", "LAYER_KINDS", "REFERENCE_VARIANTS", "Construction", "compare_tricks",
           "construction_params", "constructions", "cost_by_layer_kind", "layer_kind",
           "reference_accuracy", "weight_ratio"]
