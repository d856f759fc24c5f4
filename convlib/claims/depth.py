"""Claims of "Going Further, working on kernel depth" and the conclusion (chapters 4 to 7)."""

from __future__ import annotations

from fractions import Fraction

import torch
from torch import nn

from convlib import params, results, stats
from convlib.census import kernel_census
from convlib.claims import (
    SAME_MARGIN,
    ArticleClaim,
    approximately,
    exact,
    experiment_claim,
    judge_experiment,
    missing_value,
)
from convlib.experiments.verdicts import budget_text, compare_variants
from convlib.identities import (
    agreement,
    apply_per_pixel,
    pointwise_as_linear,
    split_convolve_concatenate,
)
from convlib.models import ArticleNet
from convlib.stats import HOLDS, HOLDS_APPROXIMATELY, UNVERIFIABLE, WRONG
from convlib.zoo import ARTICLE_MODELS, build_model


def _vgg_widest() -> int:
    return max(r.out_channels for r in kernel_census(build_model("vgg16", device="meta")))


def _pointwise_agreement() -> str:
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 8, 1).double()
    x = torch.randn(2, 16, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        return agreement(apply_per_pixel(pointwise_as_linear(conv), x), conv(x))


def _judge_identity(what: str):
    # `computed` is identities.agreement's statement, so the registry is the same on every machine.
    def judge(article, computed: str) -> tuple[str, str]:
        if computed.startswith("below "):
            return HOLDS, (f"{what}: largest difference {computed} in float64 on random inputs, "
                             "exact up to rounding.")
        return WRONG, f"{what}: largest difference {computed} in float64 on random inputs."
    return judge


def _plain_256() -> int:
    return params.conv2d_params(256, 256, 3, bias=False)


def _judge_65536(article, computed) -> tuple[str, str]:
    return (
        WRONG if computed != article else HOLDS,
        f"3² x 256² = {computed:,}, not {article:,}: {article:,} is 256² alone, the factor 3² = 9 "
        "was dropped.",
    )


def _bottleneck_256_32() -> int:
    return params.bottleneck_params(256, 32, 3, bias=False)


def _bottleneck_ratio() -> float:
    return _plain_256() / _bottleneck_256_32()


def _judge_bottleneck_ratio(article, computed) -> tuple[str, str]:
    own = 65_536 / _bottleneck_256_32()
    return (
        HOLDS if computed > article else WRONG,
        f"the bottleneck is {computed:.1f} times lighter: 'more than 2' is true but understates it "
        f"tenfold; the article's own figures give {own:.2f}, because of its 65,536 slip.",
    )


def _year(name: str):
    def compute() -> int:
        return ARTICLE_MODELS[name].year
    return compute


def _judge_year(what: str):
    def judge(article, computed) -> tuple[str, str]:
        if computed == article:
            return HOLDS, f"{what} first appeared in {computed}."
        return WRONG, f"{what} first appeared in {computed} (arXiv), not {article}."
    return judge


def _grouped_512() -> dict:
    return {k: [params.conv2d_params(512, 512, k, groups=2, bias=False), 2 * k * k * 256 ** 2,
                params.conv2d_params(512, 512, k, bias=False)] for k in (1, 3, 5)}


def _judge_grouped(article, computed) -> tuple[str, str]:
    ok = all(
        grouped == formula and full == 2 * grouped for grouped, formula, full in computed.values()
    )
    g3, _, f3 = computed[3]
    return (
        HOLDS if ok else WRONG,
        f"for k = 3: {g3:,} weights with 2 groups against {f3:,} without, half as many, and equal "
        "to 2 k² 256² for every k checked.",
    )


def _grouped_split_agreement() -> str:
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 12, 3, padding=1, groups=4).double()
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        return agreement(split_convolve_concatenate(conv, x), conv(x))


def _depthwise(c: int = 128, k: int = 3) -> dict:
    return {"computed": params.conv2d_params(c, c, k, groups=c, bias=False), "formula": c * k * k}


def _separable(c: int = 128, k: int = 3) -> dict:
    return {
        "computed": params.depthwise_separable_params(c, c, k, bias=False),
        "formula": c * k * k + c * c,
    }


def _judge_formula(what: str):
    def judge(article, computed: dict) -> tuple[str, str]:
        ok = computed["computed"] == computed["formula"]
        return (
            HOLDS if ok else WRONG,
            f"{what}: {computed['computed']:,} weights for c = 128, k = 3, as the formula gives.",
        )

    return judge


def _surface_ratio(k: int, c: int = 128):
    def compute() -> float:
        return float(
            Fraction(
                params.conv2d_params(c, c, k, bias=False),
                params.depthwise_separable_params(c, c, k, bias=False),
            )
        )

    return compute


def _network_separable_ratio() -> float:
    return (
        ArticleNet("stacked", 5).block_weights()
        / ArticleNet("separable", 3, repeats=2).block_weights()
    )


def _thirteen(c: int = 256) -> dict:
    five = params.conv2d_params(c, c, 5, bias=False)
    two_separable = 2 * params.depthwise_separable_params(c, c, 3, bias=False)
    return {
        "c": c,
        "one_5x5": five,
        "two_separable_3x3": two_separable,
        "ratio": five / two_separable,
        "limit": 25 / 2,
    }


def _judge_thirteen(article, computed) -> tuple[str, str]:
    ratio = computed["ratio"]
    error = abs(ratio - article) / article
    verdict = HOLDS_APPROXIMATELY if error <= 0.1 else WRONG
    return (
        verdict,
        f"two depthwise-separable 3x3 (the 5x5's receptive field) need {ratio:.1f} times fewer "
        f"weights than one 5x5 at c = {computed['c']} ({error:.0%} off), tending to 25/2 = 12.5 "
        "for wide layers.",
    )


def _same_performance() -> dict:
    """Two separable 3x3 (experiment separable) against one 5x5 (experiment stacking): the
    difference with its 95 % interval, for an equivalence test against SAME_MARGIN."""

    # one reference set for both files (the strongest that has both complete): never two budgets
    _, found = results.load_set(["stacking", "separable"])
    if len(found) < 2:
        return {"available": False}
    stacking, separable = found["stacking"], found["separable"]
    comparison = compare_variants(separable, "2xsep3x3", stacking, "5x5",
                                  labels=("two separable 3x3", "one 5x5"))
    judged = stats.judge(comparison, stats.SAME, margin=SAME_MARGIN)
    budget = budget_text(stacking, comparison.n_seeds)
    explanation = judged.explanation.rsplit(": ", 1)[0]  # the verdict again, with its budget
    return {
        "available": True,
        "two_separable_3x3": comparison.accuracy_a,
        "one_5x5": comparison.accuracy_b,
        "difference": comparison.difference,
        "low": comparison.low,
        "high": comparison.high,
        "margin": SAME_MARGIN,
        "method": comparison.method,
        "seeds": comparison.n_seeds,
        "verdict": judged.verdict,
        "explanation": f"{explanation}: {stats.with_budget(judged.verdict, budget)}",
        "budget": budget,
        "profile": stacking["provenance"]["profile"],
        "dataset": stacking["provenance"]["dataset"],
    }


def _judge_same_performance(article, computed) -> tuple[str, str]:
    """An equivalence test: holds only when the whole 95 % interval lies within ±SAME_MARGIN."""
    if not computed.get("available"):
        return UNVERIFIABLE, "no comparable reference results yet."
    return (computed["verdict"],
            f"test accuracy {computed['two_separable_3x3']:.3f} (two separable 3x3) against "
            f"{computed['one_5x5']:.3f} (one 5x5), two experiments' files; same performance means "
            f"within ±{100 * computed['margin']:.0f} point: {computed['explanation']}; "
            f"{computed['dataset']}, profile {computed['profile']}.")


CLAIMS = (
    ArticleClaim(
        "ch4-vgg-512",
        4,
        "1x1 convolutions",
        "512 channels are used in VGG16's convolutional layers for example.",
        512,
        _vgg_widest,
        exact("the widest convolution of VGG-16"),
        "census of torchvision vgg16",
    ),
    ArticleClaim(
        "ch4-pointwise-dense",
        4,
        "1x1 convolutions",
        "But it acts as a fully connected layer pixel-wise.",
        "1x1 conv = per-pixel dense layer",
        _pointwise_agreement,
        _judge_identity("a 1x1 convolution against nn.Linear at every pixel"),
        "identities.pointwise_as_linear",
    ),
    ArticleClaim(
        "ch4-plain-65536",
        4,
        "1x1 convolutions",
        "The first solution needs 3 ² 256 ²= 65,536 weights.",
        65_536,
        _plain_256,
        _judge_65536,
        "conv2d_params(256, 256, 3)",
    ),
    ArticleClaim(
        "ch4-bottleneck-25600",
        4,
        "1x1 convolutions",
        "The second one needs 1 ² 256 * 32 + 3 ² 32 ²+ ² * 32 * 256 = 25,600 weights.",
        25_600,
        _bottleneck_256_32,
        exact("weights of the 256 -> 32 -> 32 -> 256 bottleneck"),
        "bottleneck_params(256, 32)",
    ),
    ArticleClaim(
        "ch4-bottleneck-ratio",
        4,
        "1x1 convolutions",
        "The convolution kernel is more than 2 times lighter.",
        2,
        _bottleneck_ratio,
        _judge_bottleneck_ratio,
        "conv2d_params / bottleneck_params",
    ),
    ArticleClaim(
        "ch4-resnet-year",
        4,
        "1x1 convolutions",
        "This is used in ResNet, a convnet published in 2015.",
        2015,
        _year("resnet50"),
        _judge_year("ResNet"),
        "convlib.zoo record (He et al., arXiv:1512.03385)",
    ),
    ArticleClaim(
        "ch5-grouped-weights",
        5,
        "Grouped convolutions",
        "With 2 groups and 512 layers, we have 2 * k² * 256 ² instead of k² * 512 ²",
        "2 k² 256²",
        _grouped_512,
        _judge_grouped,
        "conv2d_params with groups=2",
    ),
    ArticleClaim(
        "ch5-grouped-split",
        5,
        "Grouped convolutions",
        "This works as splitting the layers into subgroups, making a convolution on each of "
        "them, then stacking the output layers together.",
        "grouped = split, convolve, concatenate",
        _grouped_split_agreement,
        _judge_identity("a 4-group convolution against split-convolve-concatenate"),
        "identities.split_convolve_concatenate",
    ),
    ArticleClaim(
        "ch5-resnext-year",
        5,
        "Grouped convolutions",
        "This is used for example in the bottleneck of ResNeXt, a convnet published in 2015.",
        2015,
        _year("resnext50_32x4d"),
        _judge_year("ResNeXt"),
        "convlib.zoo record (Xie et al., arXiv:1611.05431)",
    ),
    ArticleClaim(
        "ch6-depthwise-weights",
        6,
        "Separable convolution",
        "n_depthwise = c * (k² * 1 ²)",
        "c k²",
        _depthwise,
        _judge_formula("a depthwise convolution (groups = c)"),
        "conv2d_params(c, c, k, groups=c)",
    ),
    ArticleClaim(
        "ch6-separable-weights",
        6,
        "Separable convolution",
        "n_separable = c * (k² * 1 ²) + 1 ² * c²",
        "c k² + c²",
        _separable,
        _judge_formula("depthwise then pointwise"),
        "depthwise_separable_params",
    ),
    ArticleClaim(
        "ch6-surface-3x3",
        6,
        "Separable convolution",
        "That let us with a ratio of approximately the kernel surface: 9 or 25.",
        9,
        _surface_ratio(3),
        approximately("full 3x3 over separable 3x3 at c = 128 ('approximately')", 0.2),
        "conv2d_params / depthwise_separable_params",
    ),
    ArticleClaim(
        "ch6-surface-5x5",
        6,
        "Separable convolution",
        "That let us with a ratio of approximately the kernel surface: 9 or 25.",
        25,
        _surface_ratio(5),
        approximately("full 5x5 over separable 5x5 at c = 128 ('approximately')", 0.2),
        "conv2d_params / depthwise_separable_params",
    ),
    ArticleClaim(
        "ch6-less-efficient",
        6,
        "Separable convolution",
        "Even if the separable convolution is a bit less efficient",
        "2 x 3x3 beats 2 x separable 3x3",
        experiment_claim("separable", 0),
        judge_experiment,
        "experiment separable: test accuracy",
    ),
    ArticleClaim(
        "ch6-times-lighter",
        6,
        "Separable convolution",
        "it is times lighter.",
        None,
        _network_separable_ratio,
        missing_value("the weight ratio of the two networks' convolution blocks"),
        "ArticleNet.block_weights",
    ),
    ArticleClaim(
        "ch7-thirteen-times",
        7,
        "Conclusion",
        "the same performance as a 5x5 convolutional layer but with 13 times fewer weights.",
        13,
        _thirteen,
        _judge_thirteen,
        "conv2d_params / (2 x depthwise_separable_params)",
    ),
    ArticleClaim(
        "ch7-same-performance",
        7,
        "Conclusion",
        "a solution to achieve the same performance as a 5x5 convolutional layer",
        "same accuracy",
        _same_performance,
        _judge_same_performance,
        "experiments stacking (5x5) and separable (2 x sep 3x3)",
    ),
)
