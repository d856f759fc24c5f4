"""Claims of the section "Reducing the kernel size" (chapter 2), checked on the real definitions."""

from __future__ import annotations

from functools import cache

import torch

from convlib import params
from convlib.census import kernel_census
from convlib.claims import ArticleClaim, exact
from convlib.stats import HOLDS, HOLDS_APPROXIMATELY, WRONG
from convlib.zoo import ARTICLE_MODELS, build_model


@cache
def _census(name: str):
    return kernel_census(build_model(name, device="meta"))  # shapes only: no memory, no init


def _first_kernel(name: str):
    def compute() -> str:
        return f"{_census(name)[0].kernel} ({ARTICLE_MODELS[name].year})"
    return compute


def _googlenet_largest() -> dict:
    rows = _census("googlenet")
    largest = max(rows, key=lambda r: r.area)
    after_stem = max(rows[1:], key=lambda r: r.area)
    return {"largest": largest.kernel, "largest_after_first_layer": after_stem.kernel,
            "count_5x5": sum(r.kernel == "5x5" for r in rows)}


def _judge_googlenet(article, computed) -> tuple[str, str]:
    return (
        HOLDS_APPROXIMATELY,
        f"GoogLeNet's largest kernel is its first {computed['largest']} (the article's next "
        "sentence); after it, the paper's Inception modules have 5x5 branches, so the claim "
        f"holds for the paper. torchvision's definition has {computed['count_5x5']} 5x5 "
        f"convolutions: its '5x5' branches are {computed['largest_after_first_layer']} (a known "
        "porting quirk, pytorch/vision#906).",
    )


def _vgg_kernels() -> str:
    kernels = sorted({r.kernel for r in _census("vgg16")})
    return f"{', '.join(kernels)} ({ARTICLE_MODELS['vgg16'].year})"


def _inception_v3() -> dict:
    rows = _census("inception_v3")
    return {"count_5x5": sum(r.kernel == "5x5" for r in rows),
            "count_3x3": sum(r.kernel == "3x3" for r in rows),
            "asymmetric": sum(r.kernel_size[0] != r.kernel_size[1] for r in rows)}


def _judge_inception(article, computed) -> tuple[str, str]:
    return (
        HOLDS_APPROXIMATELY,
        "the Inception v3 paper (Szegedy et al. 2015) replaces each 5x5 by two 3x3 and goes "
        f"further with {computed['asymmetric']} asymmetric 1xn/nx1 convolutions; torchvision's "
        f"port still keeps {computed['count_5x5']} 5x5 convolutions in its first three Inception "
        "modules.",
    )


def _quadratic_growth() -> list[int]:
    """conv2d_params(c, c, k) / k^2 for k = 1, 3, ..., 11: constant iff the growth is quadratic."""

    return sorted({params.conv2d_params(64, 64, k, bias=False) // (k * k) for k in range(1, 12, 2)})


def _judge_quadratic(article, computed) -> tuple[str, str]:
    ok = len(computed) == 1
    return (
        HOLDS if ok else WRONG,
        f"weights divided by k^2 give {computed} for 64 -> 64 channels and every odd k from 1 to "
        "11: the weights are exactly c_in * c_out * k^2.",
    )


def _first_layer_channels() -> list[int]:
    return sorted({_census(name)[0].in_channels for name in ARTICLE_MODELS})


def _depth_meta() -> dict:
    """Like _depth, but builds ResNet-152 on the meta device (no memory, no initialisation)."""
    from torchvision.models import resnet152  # deferred: torchvision.models takes seconds


    with torch.device("meta"):
        model = resnet152(weights=None)
    return {"alexnet_convs": len(_census("alexnet")), "resnet152_convs": len(kernel_census(model))}


def _judge_depth(article, computed) -> tuple[str, str]:
    ok = computed["alexnet_convs"] in (5, 6) and computed["resnet152_convs"] >= 100
    return (
        HOLDS if ok else WRONG,
        f"AlexNet has {computed['alexnet_convs']} convolutions (and 3 dense layers); ResNet-152 "
        f"has {computed['resnet152_convs']} convolutions.",
    )


CLAIMS = (
    ArticleClaim(
        "ch2-depth",
        2,
        "Going Deeper, working on kernel surface",
        "Convnets have exploded in terms of depth going from 5 or 6 layers to hundreds.",
        "5 or 6 -> hundreds",
        _depth_meta,
        _judge_depth,
        "census of alexnet and resnet152",
    ),
    ArticleClaim(
        "ch2-alexnet",
        2,
        "Reducing the kernel size",
        "In 2012, AlexNet had a first convolution of size 11x11.",
        "11x11 (2012)",
        _first_kernel("alexnet"),
        exact("AlexNet's first convolution"),
        "census of torchvision alexnet",
    ),
    ArticleClaim(
        "ch2-zfnet",
        2,
        "Reducing the kernel size",
        "In 2013, ZFNet replaced this convolutional layer by a 7x7.",
        "7x7 (2013)",
        _first_kernel("zfnet"),
        exact("ZFNet's first convolution"),
        "census of convlib.zoo.zfnet",
    ),
    ArticleClaim(
        "ch2-googlenet-5x5",
        2,
        "Reducing the kernel size",
        "In 2014, GoogleNet's biggest convolution kernel was a 5x5.",
        "5x5",
        _googlenet_largest,
        _judge_googlenet,
        "census of torchvision googlenet",
    ),
    ArticleClaim(
        "ch2-googlenet-7x7",
        2,
        "Reducing the kernel size",
        "It kept a first 7x7 convolutional layer.",
        "7x7 (2014)",
        _first_kernel("googlenet"),
        exact("GoogLeNet's first convolution"),
        "census of torchvision googlenet",
    ),
    ArticleClaim(
        "ch2-vgg-3x3",
        2,
        "Reducing the kernel size",
        "The same year, VGG, the 2nd prize, only used 3x3 convolution kernels.",
        "3x3 (2014)",
        _vgg_kernels,
        exact("the kernel sizes of VGG-16"),
        "census of torchvision vgg16",
    ),
    ArticleClaim(
        "ch2-inception-stacked",
        2,
        "Reducing the kernel size",
        "In the later versions, the 5x5 convolutional layer of the first version of GoogleNet "
        "has been replaced by 2 stacked 3x3 convolutional layers",
        "no 5x5 left",
        _inception_v3,
        _judge_inception,
        "census of torchvision inception_v3",
    ),
    ArticleClaim(
        "ch2-quadratic",
        2,
        "Reducing the kernel size",
        "The number of parameters grows quadratically with kernel size.",
        "n = k² * c_in * c_out",
        _quadratic_growth,
        _judge_quadratic,
        "conv2d_params for k = 1..11",
    ),
    ArticleClaim(
        "ch2-first-layer-channels",
        2,
        "Reducing the kernel size",
        "it has fewer input channels: 3, 1 by color.",
        [3],
        _first_layer_channels,
        exact("input channels of the first convolution of every model of the chapter"),
        "census of the chapter's models",
    ),
)
