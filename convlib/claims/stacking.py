"""Claims of the section "Stacking convolutions vertically" (chapter 3)."""

from __future__ import annotations

from fractions import Fraction

from torch import nn

from convlib import claims, params
from convlib.claims import ArticleClaim
from convlib.models import ArticleNet
from convlib.receptive import receptive_field
from convlib.stats import HOLDS, WRONG


def _receptive_two_3x3() -> int:
    field = receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)))
    return field.size[0]


def _weights(c: int = 64) -> dict:
    return {
        "c": c,
        "one_5x5": params.conv2d_params(c, c, 5, bias=False),
        "two_3x3": params.stacked_params(c, c, 5, bias=False),
    }


def _judge_inequality(article, computed) -> tuple[str, str]:
    ok = computed["one_5x5"] > computed["two_3x3"]
    return (
        HOLDS if ok else WRONG,
        f"with c = {computed['c']} channels in and out: {computed['one_5x5']:,} weights for one "
        f"5x5 against {computed['two_3x3']:,} for two 3x3 (25 c^2 against 18 c^2).",
    )


def _ratio(kernel: int):
    def compute() -> float:
        return float(
            Fraction(
                params.conv2d_params(64, 64, kernel, bias=False),
                params.stacked_params(64, 64, kernel, bias=False),
            )
        )

    return compute


def _network_weights() -> dict:
    return {
        "one_5x5": ArticleNet("plain", 5).block_weights(),
        "two_3x3": ArticleNet("stacked", 5).block_weights(),
        "one_5x5_equal_width": ArticleNet("plain", 5, stem=32, widths=(32, 32)).block_weights(),
        "two_3x3_equal_width": ArticleNet("stacked", 5, stem=32, widths=(32, 32)).block_weights(),
    }


def _judge_network_weights(article, computed) -> tuple[str, str]:
    heavier = computed["two_3x3"] / computed["one_5x5"]
    if heavier < 1:
        return (
            HOLDS,
            f"the stacked network's blocks hold {heavier:.2f}x the weights of the 5x5 ones.",
        )
    return (
        "contradicted",
        "lighter only when a block keeps its width. In the book's reconstruction (blocks 3 -> 32 "
        f"and 32 -> 64 channels) the two-3x3 blocks hold {computed['two_3x3']:,} weights against "
        f"{computed['one_5x5']:,} for the 5x5 blocks ({heavier:.2f}x heavier), because the second "
        "3x3 works at the wider width; at equal widths (32 -> 32) they hold "
        f"{computed['two_3x3_equal_width']:,} against {computed['one_5x5_equal_width']:,}.",
    )


CLAIMS = (
    ArticleClaim(
        "ch3-receptive-field",
        3,
        "Stacking convolutions vertically",
        "a block of 2 convolutional layers of kernel size 3x3 behaves as if a 5x5 convolutional "
        "window were scanning the input.",
        5,
        _receptive_two_3x3,
        claims.exact("receptive field of two stacked 3x3 convolutions"),
        "receptive_field, checked empirically",
    ),
    ArticleClaim(
        "ch3-weights-inequality",
        3,
        "Stacking convolutions vertically",
        "n_5x5 = 5² * c² > 2 * n_3x3 = 2 * 3² * c²",
        "25c² > 18c²",
        _weights,
        _judge_inequality,
        "conv2d_params and stacked_params",
    ),
    ArticleClaim(
        "ch3-ratio-5x5",
        3,
        "Stacking convolutions vertically",
        "This is a ratio of 1.4 for 5x5 convolution kernel",
        1.4,
        _ratio(5),
        claims.approximately("one 5x5 over two 3x3 (25/18)", 0.05),
        "conv2d_params / stacked_params",
    ),
    ArticleClaim(
        "ch3-ratio-7x7",
        3,
        "Stacking convolutions vertically",
        "for 7x7 convolution kernel.",
        None,
        _ratio(7),
        claims.missing_value("one 7x7 over three 3x3 (49/27)"),
        "conv2d_params / stacked_params",
    ),
    ArticleClaim(
        "ch3-lighter-network",
        3,
        "Stacking convolutions vertically",
        "Notice how stacked convolutional layers yield a better result while being lighter.",
        "lighter",
        _network_weights,
        _judge_network_weights,
        "ArticleNet.block_weights",
    ),
    ArticleClaim(
        "ch3-better-result",
        3,
        "Stacking convolutions vertically",
        "Notice how stacked convolutional layers yield a better result",
        "2 x 3x3 beats 5x5",
        claims.experiment_claim("stacking", 0),
        claims.judge_experiment,
        "experiment stacking: test accuracy",
    ),
)
