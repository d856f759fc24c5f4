"""Claims of the section "Fully Connected vs Convolutional Layers" (chapter 1)."""

from __future__ import annotations

from fractions import Fraction

from torch import nn

from convlib import params
from convlib.claims import (
    ArticleClaim,
    approximately,
    exact,
    experiment_claim,
    judge_experiment,
    where,
)
from convlib.dense import dense_structure
from convlib.stats import HOLDS, UNVERIFIABLE, WRONG

OVERFIT_TRAINING_ACCURACY = 0.95  # below this on both networks, the budget cannot show overfitting


def _example_structure() -> dict:
    """The article's 4x4 input, 2x2 output, 3x3 kernel example as a dense matrix."""

    s = dense_structure(nn.Conv2d(1, 1, 3, bias=False), (4, 4))
    return {"entries": s.total_entries, "tied": s.tied_entries, "zeros": s.structural_zeros,
            "free_weights": s.free_weights}


def _judge_structure(article, computed) -> tuple[str, str]:
    ok = (
        computed["free_weights"] == 9
        and computed["tied"] + computed["zeros"] == computed["entries"]
    )
    return (
        HOLDS if ok else WRONG,
        f"the dense 4x16 matrix has {computed['entries']} entries: {computed['tied']} copy one of "
        f"the kernel's {computed['free_weights']} weights (equality constraints) and "
        f"{computed['zeros']} are always zero (nullity constraints); conv_as_dense reproduces the "
        "convolution exactly.",
    )


def _dense_kernel_size() -> int:
    return params.dense_params(4 * 4, 2 * 2, bias=False)


def _conv_kernel_size() -> int:
    return (
        params.conv2d_params(5, 7, (3, 4), bias=True) - 7
    )  # k_w*k_h*c_in*c_out, without the c_out biases


def _weight_ratio_formula() -> str:
    """l^4/k^2, checked against the real parameter counts for several l, k, c."""

    for l, k, c in [(8, 3, 2), (16, 5, 3), (32, 11, 4)]:
        measured = Fraction(
            params.dense_equivalent_params(c, c, l, bias=False),
            params.conv2d_params(c, c, k, bias=False),
        )
        if measured != params.dense_to_conv_weight_ratio(l, k):
            return f"differs at l={l}, k={k}, c={c}"
    return "l^4/k^2"


def _ratio(kind: str, image: int, kernel: int):
    def compute() -> float:
        function = (
            params.dense_to_conv_weight_ratio
            if kind == "weights"
            else params.dense_to_conv_compute_ratio
        )
        return float(function(image, kernel))
    return compute


def _judge_overfitting_gap(article, computed) -> tuple[str, str]:
    """The gap claim, unless neither network trained long enough to overfit: then unverifiable."""
    if not computed.get("available"):
        return judge_experiment(article, computed)
    train = computed["train_acc"]
    cnn, mlp = train[computed["better"]], train[computed["worse"]]
    if max(cnn, mlp) < OVERFIT_TRAINING_ACCURACY:
        return (UNVERIFIABLE,
                f"unverifiable at this budget: neither network was trained long enough to overfit "
                f"(training accuracy {cnn:.3f} and {mlp:.3f} for the CNN and the MLP, both below "
                f"{OVERFIT_TRAINING_ACCURACY:.2f}); the gaps compare as {computed['explanation']}; "
                f"{where(computed)}.")
    return judge_experiment(article, computed)


CLAIMS = (
    ArticleClaim(
        "ch1-equality-nullity",
        1,
        "Fully Connected vs Convolutional Layers",
        "We can mock a 3x3 convolution kernel with the corresponding fully connected kernel: "
        "we add equality and nullity constraints to the parameters.",
        "a 4x4 -> 2x2 dense kernel can hold a 3x3 convolution",
        _example_structure,
        _judge_structure,
        "dense_structure of the 4x4 -> 2x2 example",
    ),
    ArticleClaim(
        "ch1-dense-kernel-size",
        1,
        "Kernel size",
        "kernel size = n_inputs * n_outputs",
        16 * 4,
        _dense_kernel_size,
        exact("weights of the dense 16 -> 4 layer of the example"),
        "dense_params against nn.Linear",
    ),
    ArticleClaim(
        "ch1-conv-kernel-size",
        1,
        "Kernel size",
        "The kernel size of a convolutional layer is "
        "k_w * k_h * c_in * c_out. Its bias term has a size of c_out.",
        3 * 4 * 5 * 7,
        _conv_kernel_size,
        exact("weights of a 3x4 convolution from 5 to 7 channels"),
        "conv2d_params against nn.Conv2d",
    ),
    ArticleClaim(
        "ch1-weight-ratio-formula",
        1,
        "Fully connected layers are heavy",
        "The kernel size ratio is l⁴ / k².",
        "l^4/k^2",
        _weight_ratio_formula,
        exact("dense over convolution weights for a same-padded, stride-1 layer"),
        "ratio of real parameter counts",
    ),
    ArticleClaim(
        "ch1-ratio-32-11",
        1,
        "Fully connected layers are heavy",
        "For a small image of 32x32 ... and a huge kernel size of 11x11, we are already hitting a "
        "factor of 8,600.",
        8_600,
        _ratio("weights", 32, 11),
        approximately("32^4 / 11^2", 0.05),
        "dense_to_conv_weight_ratio(32, 11)",
    ),
    ArticleClaim(
        "ch1-ratio-224-3",
        1,
        "Fully connected layers are heavy",
        "224x224 image (ImageNet) and a more modest kernel size of 3x3, we are up to a factor of "
        "270,000,000.",
        270_000_000,
        _ratio("weights", 224, 3),
        approximately("224^4 / 3^2", 0.05),
        "dense_to_conv_weight_ratio(224, 3)",
    ),
    ArticleClaim(
        "ch1-compute-224-3",
        1,
        "Fully connected layers are heavy",
        "a computing ratio of l² / k². This yields a ratio of 5,500 for the big image and small "
        "convolutional kernel",
        5_500,
        _ratio("compute", 224, 3),
        approximately("224^2 / 3^2", 0.05),
        "dense_to_conv_compute_ratio(224, 3)",
    ),
    ArticleClaim(
        "ch1-compute-32-11",
        1,
        "Fully connected layers are heavy",
        "and of 8.5 for the small image and the big kernel size.",
        8.5,
        _ratio("compute", 32, 11),
        approximately("32^2 / 11^2", 0.05),
        "dense_to_conv_compute_ratio(32, 11)",
    ),
    ArticleClaim(
        "ch1-overfitting",
        1,
        "Overfitting",
        "Convolutional layers work better than fully connected ones because they are lighter and "
        "more efficient at learning spatial features.",
        "the CNN generalises better",
        experiment_claim("dense_vs_conv", 0),
        judge_experiment,
        "experiment dense_vs_conv: test accuracy",
    ),
    ArticleClaim(
        "ch1-overfitting-gap",
        1,
        "Overfitting",
        "Having such a large number of parameters has another drawback: overfitting.",
        "the dense network overfits more",
        experiment_claim("overfitting", 0),
        _judge_overfitting_gap,
        "experiment overfitting: train-test gap where both can overfit",
    ),
)
