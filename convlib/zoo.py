"""The ImageNet architectures the article names: a registry, and ZFNet, which torchvision lacks.

:data:`ARTICLE_MODELS` records, for each architecture, its year, its ILSVRC result, its paper and
``notes``: where the definition we build (torchvision's, or ours for ZFNet) differs from the paper.
:func:`build_model` constructs one with random weights (``weights=None``; nothing is downloaded).
Chapter 2 counts their kernels with :mod:`convlib.census`.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from convlib._checks import as_choice, as_int


class ZFNet(nn.Module):
    """ZFNet, from Zeiler & Fergus (2013), "Visualizing and Understanding Convolutional Networks"
    (arXiv:1311.2901, ECCV 2014), Fig. 3, for 224x224 RGB input.

    ====== ======================================= ============ ======================
    layer  paper (Fig. 3)                          output       weights (+ biases)
    ====== ======================================= ============ ======================
    conv1  96 filters 7x7, stride 2                96 x 110^2   3 * 96 * 7^2 + 96
    pool1  max 3x3, stride 2; contrast norm.       96 x 55^2
    conv2  256 filters 5x5, stride 2               256 x 26^2   96 * 256 * 5^2 + 256
    pool2  max 3x3, stride 2; contrast norm.       256 x 13^2
    conv3  384 filters 3x3, stride 1               384 x 13^2   256 * 384 * 3^2 + 384
    conv4  384 filters 3x3, stride 1               384 x 13^2   384 * 384 * 3^2 + 384
    conv5  256 filters 3x3, stride 1               256 x 13^2   384 * 256 * 3^2 + 256
    pool5  max 3x3, stride 2                       256 x 6^2
    fc6    4096 units                              4096         9216 * 4096 + 4096
    fc7    4096 units                              4096         4096 * 4096 + 4096
    fc8    1000-way softmax (C classes)            1000         4096 * 1000 + 1000
    ====== ======================================= ============ ======================

    From the paper: the filter counts, kernel sizes and strides, the order
    conv -> ReLU -> max-pool -> contrast normalisation in layers 1-2, the map sizes, dense (not
    2-GPU split) connections in layers 3-5, dropout 0.5 in layers 6 and 7.
    Our choices, where the paper is silent: padding 1 on conv1 and 0 on conv2 and
    ``ceil_mode=True`` pooling in layers 1-2 (the only way to get its 110, 55, 26 and 13);
    padding 1 on conv3-5; ``nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2)``, AlexNet's
    constants, for "contrast normalisation"; dropout placed after the ReLU of fc6 and fc7.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        as_int("num_classes", num_classes)

        def lrn() -> nn.Module:
            return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 96, 7, stride=2, padding=1)),  # 224 -> 110
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=True)),  # 110 -> 55
            ("norm1", lrn()),
            ("conv2", nn.Conv2d(96, 256, 5, stride=2)),  # 55 -> 26
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(3, stride=2, ceil_mode=True)),  # 26 -> 13
            ("norm2", lrn()),
            ("conv3", nn.Conv2d(256, 384, 3, padding=1)),
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(384, 384, 3, padding=1)),
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(384, 256, 3, padding=1)),
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(3, stride=2)),  # 13 -> 6
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc6", nn.Linear(256 * 6 * 6, 4096)),
            ("relu6", nn.ReLU()),
            ("drop6", nn.Dropout(dropout)),
            ("fc7", nn.Linear(4096, 4096)),
            ("relu7", nn.ReLU()),
            ("drop7", nn.Dropout(dropout)),
            ("fc8", nn.Linear(4096, num_classes)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        if features.shape[-2:] != (6, 6):
            # No adaptive pooling in the paper: fc6 is wired to a 6x6 map, i.e. a 224x224 input.
            raise ValueError(f"ZFNet expects 224x224 input (fc6 takes 256 x 6 x 6); got input "
                             f"{tuple(x.shape[-2:])}, giving {tuple(features.shape[-2:])} at pool5")
        return self.classifier(features)


def zfnet(*, weights: None = None, num_classes: int = 1000, dropout: float = 0.5) -> ZFNet:
    """Build :class:`ZFNet`; ``weights`` exists for symmetry with torchvision and must be None."""
    if weights is not None:
        raise ValueError(f"weights must be None (no trained ZFNet weights exist); got {weights!r}")
    return ZFNet(num_classes=num_classes, dropout=dropout)


# ---------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class ArticleModel:
    """One architecture the article names, and how :func:`build_model` builds it."""

    name: str  # the registry key, as torchvision spells it
    title: str
    year: int  # of the paper's first public version
    ilsvrc: str
    citation: str
    builder: str  # "module:function"
    kwargs: dict[str, Any] = field(default_factory=dict)
    input_size: int = 224
    notes: tuple[str, ...] = ()


ARTICLE_MODELS: dict[str, ArticleModel] = {m.name: m for m in (
    ArticleModel(
        "alexnet", "AlexNet", 2012,
        "ILSVRC 2012 classification winner (team SuperVision): 15.3% top-5 test error.",
        "Krizhevsky, Sutskever & Hinton, 'ImageNet Classification with Deep Convolutional Neural "
        "Networks', NeurIPS 2012.",
        "torchvision.models:alexnet",
        notes=(
            "torchvision follows the single-GPU variant of Krizhevsky's 'One weird trick for "
            "parallelizing convolutional neural networks' (arXiv:1404.5997, 2014), not the 2012 "
            "paper: conv1-5 have 64, 192, 384, 256, 256 filters (paper: 96, 256, 384, 384, 256).",
            "No local response normalisation (the paper has it after conv1 and conv2), and no "
            "two-GPU split (in the paper conv2, conv4 and conv5 see only the half of the maps on "
            "their GPU).",
            "conv1 is 11x11 stride 4 with padding 2; torchvision adds AdaptiveAvgPool2d(6, 6) "
            "before the classifier so other input sizes work.",
            "61,100,840 parameters in torchvision; the paper says 60 million.",
        ),
    ),
    ArticleModel(
        "zfnet", "ZFNet", 2013,
        "ILSVRC 2013: the classification winner was the Clarifai entry, Matthew Zeiler's, built "
        "on this architecture (about 11.7% top-5 error); the paper's own ensemble of six of these "
        "networks reports 14.8% top-5 test error. 'ZFNet won ILSVRC 2013' is shorthand for that.",
        "Zeiler & Fergus, 'Visualizing and Understanding Convolutional Networks', arXiv:1311.2901 "
        "(2013), ECCV 2014.",
        "convlib.zoo:zfnet",
        notes=(
            "Not in torchvision: convlib.zoo.ZFNet, built from the paper's Fig. 3 (7x7/2 conv1 "
            "with 96 filters, 5x5/2 conv2 with 256, then 3x3 convs with 384, 384, 256; FC 4096, "
            "4096, 1000).",
            "Padding, ceil-mode pooling and the LRN constants are our choices (the paper is "
            "silent); they reproduce its feature-map sizes 110, 55, 26, 13, 6.",
        ),
    ),
    ArticleModel(
        "googlenet", "GoogLeNet (Inception v1)", 2014,
        "ILSVRC 2014 classification winner: 6.67% top-5 test error.",
        "Szegedy et al., 'Going Deeper with Convolutions', arXiv:1409.4842 (2014), CVPR 2015.",
        "torchvision.models:googlenet",
        {"aux_logits": False, "init_weights": False},
        notes=(
            "torchvision's Inception modules use a 3x3 convolution in the branch the paper gives "
            "a 5x5 (branch3, after the '5x5 reduce' 1x1): a bug ported from TensorFlow and kept "
            "for the pretrained weights (pytorch/vision issue #906). So after the 7x7 stem "
            "convolution the largest kernel is 3x3 here, 5x5 in the paper.",
            "BatchNorm after every convolution (and no conv bias), as in later Inception "
            "versions; the 2014 paper has no BatchNorm but local response normalisation in the "
            "stem, absent here.",
            "Built without the two auxiliary classifiers (aux_logits=False), which the paper uses "
            "only in training.",
        ),
    ),
    ArticleModel(
        "vgg16", "VGG-16", 2014,
        "ILSVRC 2014: 2nd in classification (7.3% top-5 test error, ensemble), 1st in "
        "localisation.",
        "Simonyan & Zisserman, 'Very Deep Convolutional Networks for Large-Scale Image "
        "Recognition', arXiv:1409.1556 (2014), ICLR 2015.",
        "torchvision.models:vgg16",
        notes=(
            "Configuration D of the paper, 3x3 convolutions only; 138,357,544 parameters (paper: "
            "138M).",
            "torchvision adds AdaptiveAvgPool2d(7, 7) before the classifier (the identity at "
            "224x224).",
        ),
    ),
    ArticleModel(
        "inception_v3", "Inception v3", 2015,
        "Not itself an ILSVRC winner; reports 21.2% top-1 / 5.6% top-5 single-crop error on the "
        "ILSVRC 2012 validation set (3.5% top-5 with four models and multi-crop).",
        "Szegedy et al., 'Rethinking the Inception Architecture for Computer Vision', "
        "arXiv:1512.00567 (2015), CVPR 2016.",
        "torchvision.models:inception_v3",
        {"aux_logits": False, "init_weights": False},
        input_size=299,
        notes=(
            "Ported from TensorFlow: Mixed_5b-5d (InceptionA) keep a 1x1 -> 5x5 branch beside the "
            "double-3x3 one, although the paper's Fig. 5 factorises every 5x5 into two 3x3.",
            "Factorised 1x7/7x1 (Mixed_6b-6e) and 1x3/3x1 (Mixed_7b-7c) kernels, as in the paper.",
            "Built without the auxiliary classifier (aux_logits=False); input 299x299.",
        ),
    ),
    ArticleModel(
        "resnet50", "ResNet-50", 2015,
        "ILSVRC 2015 classification winner (MSRA, an ensemble of ResNets): 3.57% top-5 test "
        "error.",
        "He, Zhang, Ren & Sun, 'Deep Residual Learning for Image Recognition', arXiv:1512.03385 "
        "(2015), CVPR 2016.",
        "torchvision.models:resnet50",
        notes=(
            "torchvision's ResNet is 'v1.5': a downsampling bottleneck strides in its 3x3 "
            "convolution, the paper in its first 1x1. The parameter count (25,557,032) is the "
            "same.",
        ),
    ),
    ArticleModel(
        "resnext50_32x4d", "ResNeXt-50 (32x4d)", 2016,
        "Basis of the ILSVRC 2016 classification entry that placed 2nd.",
        "Xie, Girshick, Dollar, Tu & He, 'Aggregated Residual Transformations for Deep Neural "
        "Networks', arXiv:1611.05431 (2016), CVPR 2017.",
        "torchvision.models:resnext50_32x4d",
        notes=(
            "The paper's grouped-convolution form (Fig. 3c): 32 groups of width 4 in each 3x3 "
            "convolution; 25,028,904 parameters (paper: 25.0M).",
        ),
    ),
    ArticleModel(
        "mobilenet_v2", "MobileNetV2", 2018,
        "No ILSVRC entry; 72.0% top-1 on ImageNet with 3.4M parameters (paper, Table 4).",
        "Sandler, Howard, Zhu, Zhmoginov & Chen, 'MobileNetV2: Inverted Residuals and Linear "
        "Bottlenecks', arXiv:1801.04381 (2018), CVPR 2018.",
        "torchvision.models:mobilenet_v2",
        notes=(
            "Inverted residuals: 1x1 expansion, 3x3 depthwise, linear 1x1 projection. torchvision "
            "counts 3,504,872 parameters, the paper quotes 3.4M.",
        ),
    ),
)}


def build_model(name: str, *, device: str | torch.device | None = None) -> nn.Module:
    """Build the architecture ``name`` (a key of :data:`ARTICLE_MODELS`) with random weights.

    ``device="meta"`` builds shapes without memory or initialisation: enough to count kernels
    and parameters in milliseconds (VGG-16's 138M weights otherwise take a second and 550 MB).
    """
    entry = ARTICLE_MODELS[as_choice("name", name, tuple(ARTICLE_MODELS))]
    module_name, function_name = entry.builder.split(":")
    # Deferred: importing torchvision.models costs about a second.
    builder = getattr(importlib.import_module(module_name), function_name)
    if device is None:
        return builder(weights=None, **entry.kwargs)
    with torch.device(device):  # parameters are created directly on that device
        return builder(weights=None, **entry.kwargs)
