"""Claims the book checks in chapter 9 ("Large kernels return"): two sentences of the article
that the earlier chapters leave aside.

- "Deeper is better than wider" (section "Go Deeper, Not Wider"): a literature verdict. The
  evidence is published: Zagoruyko and Komodakis, "Wide Residual Networks" (BMVC 2016,
  arXiv:1605.07146), and Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional
  Neural Networks" (ICML 2019, arXiv:1905.11946). The computed part reads torchvision's own
  ImageNet records of a deeper and a wider ResNet at about the same compute, and the depth and
  width of EfficientNet-B0 and B7 from their torchvision definitions.
- "Convolutional layers reduce memory usage" (section "Fully Connected vs Convolutional
  Layers"): measured, for a convolution and the dense layer with the same input and output: the
  bytes of their weights, and the activation bytes per image a training step keeps for backward
  (:mod:`convlib.memory`, saved-tensor hooks).
"""

from __future__ import annotations

from torch import nn

from convlib.census import kernel_census
from convlib.claims import ArticleClaim
from convlib.memory import activation_bytes_per_image
from convlib.params import count_params
from convlib.stats import HOLDS, HOLDS_APPROXIMATELY, UNVERIFIABLE, WRONG

# (name, torchvision builder, weights enum) of the deeper and the wider ResNet at ~11.4 GMACs.
_DEEP_AND_WIDE = (("ResNet-152", "resnet152", "ResNet152_Weights"),
                  ("Wide ResNet-50-2", "wide_resnet50_2", "Wide_ResNet50_2_Weights"))
_EFFICIENTNETS = (("EfficientNet-B0", "efficientnet_b0", "EfficientNet_B0_Weights"),
                  ("EfficientNet-B7", "efficientnet_b7", "EfficientNet_B7_Weights"))
MEMORY_IMAGE = (3, 16, 16)  # the measured layers' input: C, H, W
MEMORY_CHANNELS = 8  # their output channels (same-padded 3x3: an 8 x 16 x 16 output)


def _torchvision_record(builder: str, weights: str) -> dict:
    """Depth (convolutions), widest 3x3 and widest convolution, weights, input resolution, and
    torchvision's recorded ImageNet top-1 and GMACs of one of its models; the metadata is read
    from the weights enum (nothing is downloaded)."""
    import torch
    from torchvision import models  # deferred: importing torchvision.models takes seconds

    with torch.device("meta"):  # shapes only
        model = getattr(models, builder)(weights=None)
    rows = kernel_census(model)
    record = getattr(models, weights).IMAGENET1K_V1
    if record.meta["num_params"] != count_params(model):
        raise RuntimeError(f"{builder}: torchvision's record and its definition disagree")
    return {"convolutions": len(rows), "widest": max(r.out_channels for r in rows),
            "widest_3x3": max(r.out_channels for r in rows if r.kernel_size == (3, 3)),
            "weights": count_params(model), "resolution": record.transforms().crop_size[0],
            "gmacs": record.meta["_ops"], "top1": record.meta["_metrics"]["ImageNet-1K"]["acc@1"]}


def _deeper_or_wider() -> dict:
    return {title: _torchvision_record(builder, weights)
            for title, builder, weights in _DEEP_AND_WIDE + _EFFICIENTNETS}


def _judge_deeper(article, computed: dict) -> tuple[str, str]:
    (deep, _, _), (wide, _, _) = _DEEP_AND_WIDE
    d, w = computed[deep], computed[wide]
    b0, b7 = computed[_EFFICIENTNETS[0][0]], computed[_EFFICIENTNETS[1][0]]
    not_worse = w["top1"] >= d["top1"] and w["gmacs"] <= d["gmacs"]
    verdict = WRONG if not_worse else UNVERIFIABLE
    records = (f"torchvision's own ImageNet records at about the same compute: {wide} "
               f"({w['convolutions']} convolutions, 3x3 layers up to {w['widest_3x3']:,} "
               f"channels, {w['gmacs']:.1f} GMACs) {w['top1']:.2f} % top-1 against {deep} "
               f"({d['convolutions']} convolutions, 3x3 layers up to {d['widest_3x3']:,} "
               f"channels, {d['gmacs']:.1f} GMACs) {d['top1']:.2f} % (one training run each)")
    return (verdict,
            "not as a general rule. Zagoruyko and Komodakis (Wide Residual Networks, BMVC 2016): "
            "'even a simple 16-layer-deep wide residual network outperforms in accuracy and "
            "efficiency all previous deep residual networks, including thousand-layer-deep "
            "networks'. Tan and Le (EfficientNet, ICML 2019): scaling depth, width or resolution "
            "alone improves accuracy with diminishing gains, and the best networks balance all "
            f"three (EfficientNet-B0 to B7: {b0['convolutions']} to {b7['convolutions']} "
            f"convolutions, widest {b0['widest']:,} to {b7['widest']:,} channels, "
            f"{b0['resolution']} to {b7['resolution']} pixels). " + records
            + (": the shallower, wider network is not worse." if not_worse else "."))


def _memory() -> dict:
    c, h, w = MEMORY_IMAGE
    conv = nn.Conv2d(c, MEMORY_CHANNELS, 3, padding=1)
    dense = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, MEMORY_CHANNELS * h * w))
    result = {"image": list(MEMORY_IMAGE), "out_channels": MEMORY_CHANNELS}
    for name, layer in (("conv", conv), ("dense", dense)):
        weights = count_params(layer)
        result[name] = {"weights": weights, "weight_bytes": 4 * weights,  # float32
                        "activation_bytes_per_image": activation_bytes_per_image(
                            nn.Sequential(layer, nn.ReLU()), MEMORY_IMAGE)}
    return result


def _judge_memory(article, computed: dict) -> tuple[str, str]:
    conv, dense = computed["conv"], computed["dense"]
    c, h, w = computed["image"]
    lighter = conv["weight_bytes"] < dense["weight_bytes"]
    same_activations = conv["activation_bytes_per_image"] == dense["activation_bytes_per_image"]
    if not lighter:
        return WRONG, "the convolution's weights take more memory than the dense layer's."
    verdict = HOLDS_APPROXIMATELY if same_activations else HOLDS
    activations = (f"the activations a training step keeps are the same, "
                   f"{conv['activation_bytes_per_image']:,} bytes per image for both (each keeps "
                   "its input and its ReLU's output)" if same_activations else
                   f"activations {conv['activation_bytes_per_image']:,} against "
                   f"{dense['activation_bytes_per_image']:,} bytes per image")
    return (
        verdict,
        f"for the weights, not for the activations. On a {c}x{h}x{w} input with a "
        f"{computed['out_channels']}x{h}x{w} output (3x3, same padding, then ReLU), float32: "
        f"the convolution's weights take {conv['weight_bytes']:,} bytes against "
        f"{dense['weight_bytes']:,} for the dense layer ({dense['weights'] // conv['weights']:,}"
        f" times fewer), but {activations}; a batch of n images keeps n times as much.",
    )


CLAIMS = (
    ArticleClaim(
        "ch9-deeper-not-wider",
        9,
        "Go Deeper, Not Wider",
        "There is a general rule of thumb with neural networks. Deeper is better than wider.",
        "deeper beats wider",
        _deeper_or_wider,
        _judge_deeper,
        "literature (Wide ResNets, EfficientNet) and torchvision's ImageNet records",
    ),
    ArticleClaim(
        "ch9-conv-memory",
        9,
        "Fully Connected vs Convolutional Layers",
        "Convolutional layers reduce memory usage",
        "less memory",
        _memory,
        _judge_memory,
        "count_params and memory.activation_bytes_per_image (saved-tensor hooks)",
    ),
)
