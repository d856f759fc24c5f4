"""The registry of the book's CIFAR-10 comparisons: each experiment's variants, claims and budget.

An :class:`Experiment` is a set of model variants (:class:`Variant`) trained with the same budget
and several seeds, and the claims they test (:class:`ExperimentClaim`: ``better`` beats
``worse``). :data:`EXPERIMENTS` holds them by name. An experiment's budget at a profile of
:mod:`convlib.profiles` is a :class:`Budget`, and a run's training configuration comes from it in
one call (:meth:`Budget.train_config`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from convlib.models import MLP, ArticleNet, FrameNet, LocallyConnectedNet
from convlib.profiles import Profile
from convlib.train import TrainConfig


@dataclass(frozen=True)
class Variant:
    """One model of an experiment: a name, a label for figures and a builder."""

    name: str
    label: str
    build: Callable[[], torch.nn.Module]


@dataclass(frozen=True)
class ExperimentClaim:
    """``better`` is expected to beat ``worse`` on ``metric`` ('test_acc': higher is better;
    'gap': training minus test accuracy, both without augmentation, lower is better)."""

    better: str
    worse: str
    metric: str
    statement: str


@dataclass(frozen=True)
class Budget:
    """What every run of one experiment is given at one profile: the profile (batch size,
    learning-rate grid, test images, seeds), the training images (``train_size``, None: all),
    the epochs, augmentation, and the epochs of the learning-rate grid (``grid_epochs``)."""

    profile: Profile
    train_size: int | None
    epochs: int
    augment: bool
    grid_epochs: int

    def train_config(self, lr: float, *, grid: bool = False) -> TrainConfig:
        """The training configuration of one run at learning rate ``lr``: the final runs', or
        with ``grid`` the learning-rate grid's (:mod:`convlib.tuning`), which trains
        ``grid_epochs``."""
        return TrainConfig(epochs=self.grid_epochs if grid else self.epochs, lr=lr,
                           batch_size=self.profile.batch_size, augment=self.augment)


@dataclass(frozen=True)
class Experiment:
    """Variants trained on the same data with the same budget, and the claims they test.

    ``budgets`` overrides the profile's budget for this experiment, per profile name
    (``train_size``, ``epochs``, ``augment``): the overfitting experiment trains a small set long.
    ``epoch_factor`` scales the epochs (the epoch sweep), ``recipe_from`` names the experiment
    whose learning-rate choices it keeps, and ``erf`` the variants whose effective receptive
    field (:mod:`convlib.erf`) is stored before and after training."""

    name: str
    description: str
    variants: tuple[Variant, ...]
    claims: tuple[ExperimentClaim, ...]
    budgets: dict[str, dict] = field(default_factory=dict)
    epoch_factor: float = 1.0
    recipe_from: str | None = None
    erf: tuple[str, ...] = ()

    def budget(self, profile: Profile) -> Budget:
        """The :class:`Budget` of a run with ``profile``. The grid trains for the profile's share
        of the experiment's own epochs (half, on the cpu profile), before any epoch factor."""
        chosen = {"train_size": profile.train_size, "epochs": profile.epochs, "augment": True}
        chosen.update(self.budgets.get(profile.name, {}))
        grid = max(1, round(chosen["epochs"] * profile.grid_epochs / profile.epochs))
        epochs = max(1, round(chosen["epochs"] * self.epoch_factor))
        return Budget(profile, chosen["train_size"], epochs, chosen["augment"], grid)


def _builder(model: type[torch.nn.Module], *args, **options) -> Callable:
    """``build()`` for a variant: ``model(*args, **options)``; its ``spec`` (the class, arguments
    and options) says when two experiments' variants are the same network
    (:mod:`convlib.experiments.runner` reuses their runs)."""
    def build():
        return model(*args, **options)
    build.spec = (model.__name__, *args, tuple(sorted(options.items())))
    return build


def _net(kind: str, kernel_size: int = 3, **options) -> Callable:
    return _builder(ArticleNet, kind, kernel_size, **options)


def _mlp(**options) -> Callable:
    return _builder(MLP, **options)


# The frames of the comparisons (convlib.models.FrameNet): the same stem, pooling and head for
# every network of an experiment. SMALL: the kernel-size experiments; WIDE: the 1x1, grouped and
# bottleneck ones, whose blocks need a real width in and out. Matched widths are typed here and
# checked by tests/test_experiments.py (total weights within 3 % of the reference network).
SMALL = {"stem": 32, "widths": (32, 64)}
WIDE = {"stem": 64, "widths": (64, 64)}
RESNEXT = {**WIDE, "residual": True}  # 1x1 -> grouped 3x3 -> 1x1 with the identity shortcut
# depthwise -> BN -> ReLU -> 1x1 -> BN -> ReLU
MOBILENET = {"repeats": 2, "inner_activation": True}


def _frame(kind: str, kernel_size: int = 3, **options) -> Callable:
    return _builder(FrameNet, kind, kernel_size, **options)


_STACKING = (
    Variant("5x5", "one 5x5 per block", _frame("plain", 5, **SMALL)),
    Variant("2x3x3", "two stacked 3x3 per block", _frame("stacked", 5, **SMALL)),
    Variant("7x7", "one 7x7 per block", _frame("plain", 7, **SMALL)),
    Variant("3x3x3", "three stacked 3x3 per block", _frame("stacked", 7, **SMALL)))
_STACKING_CLAIMS = (
    ExperimentClaim("2x3x3", "5x5", "test_acc",
                    "two stacked 3x3 convolutions beat one 5x5 (the article's orange vs blue)"),
    ExperimentClaim("3x3x3", "7x7", "test_acc", "three stacked 3x3 convolutions beat one 7x7"))
_BOTTLENECK_DEEP = (
    Variant("3x3", "plain 3x3", _frame("plain", 3, **WIDE)),
    Variant("bottleneck-deep", "8 residual bottlenecks per block",
            _frame("bottleneck", 3, stem=64, widths=(66, 66), mid_channels=16, repeats=8,
                   residual=True)))
_BOTTLENECK_DEEP_CLAIMS = (
    ExperimentClaim("bottleneck-deep", "3x3", "test_acc",
                    "at equal weights, a deeper bottleneck network beats the plain 3x3 "
                    "(ResNet's trade)"),)
# The epoch sweep: how the budget moves a verdict. Half and twice the profile's epochs, for the
# two variants of the stacking claim and of ResNet's trade; the learning rate each variant chose
# at the profile's budget is kept, so only the number of epochs changes.
SWEEP = {"short": 0.5, "long": 2.0}


def _sweep(name: str, variants: tuple[Variant, ...], claims: tuple[ExperimentClaim, ...],
           what: str) -> tuple[Experiment, ...]:
    keep = {v for claim in claims[:1] for v in (claim.better, claim.worse)}
    return tuple(Experiment(f"{name}_{label}", f"{what} at {factor:g} times the profile's epochs "
                            "(the epoch sweep).", tuple(v for v in variants if v.name in keep),
                            claims[:1], epoch_factor=factor, recipe_from=name)
                 for label, factor in SWEEP.items())


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment(
        "stacking", "One large kernel per block against the stack of 3x3 convolutions that sees as "
        "far, at the same widths.", _STACKING, _STACKING_CLAIMS, erf=("5x5", "2x3x3")),
    Experiment(
        "stacking_matched", "Two stacked 3x3 against one 5x5 at equal total weights (the 5x5 "
        "narrowed to 31 and 62 channels), and against a 5x5 followed by a 1x1 (as many "
        "convolutions and non-linearities as the stack: the depth control).",
        (Variant("2x3x3", "two stacked 3x3 per block", _frame("stacked", 5, **SMALL)),
         Variant("5x5-matched", "one 5x5 per block, narrowed to equal weights",
                 _frame("plain", 5, stem=32, widths=(31, 62))),
         Variant("5x5+1x1", "one 5x5 and one 1x1 per block, at equal weights",
                 _frame("plain-1x1", 5, stem=32, widths=(30, 60)))),
        (ExperimentClaim("2x3x3", "5x5-matched", "test_acc",
                         "at equal weights, two stacked 3x3 beat one 5x5"),
         ExperimentClaim("2x3x3", "5x5+1x1", "test_acc",
                         "at equal weights and depth, two stacked 3x3 beat a 5x5 followed by a "
                         "1x1: the smaller kernels, not the extra non-linearity"))),
    Experiment(
        "separable", "Blocks of two normal 3x3 convolutions against two MobileNet separable blocks "
        "(depthwise 3x3, BN, ReLU, pointwise 1x1, BN, ReLU) at the same widths.",
        (Variant("2x3x3", "two 3x3 per block", _frame("stacked", 5, **SMALL)),
         Variant("2xsep3x3", "two separable 3x3 per block",
                 _frame("separable", 3, **SMALL, **MOBILENET))),
        (ExperimentClaim("2x3x3", "2xsep3x3", "test_acc", "separable convolutions are 'a bit "
                         "less efficient' than normal ones (the article's orange vs red)"),)),
    Experiment(
        "separable_wide", "Xception's and MobileNet's trade: the separable network widened (96 and "
        "192 channels) to the normal one's total weights.",
        (Variant("2x3x3", "two 3x3 per block", _frame("stacked", 5, **SMALL)),
         Variant("2xsep3x3-wide", "two separable 3x3 per block, widened to equal weights",
                 _frame("separable", 3, stem=32, widths=(96, 192), **MOBILENET))),
        (ExperimentClaim("2xsep3x3-wide", "2x3x3", "test_acc",
                         "at equal weights, a wider separable network beats the normal one"),)),
    Experiment(
        "bottleneck", "A plain 3x3 against ResNet's bottleneck (1x1-3x3-1x1 through a quarter of "
        "the width, identity shortcut) at equal input and output width.",
        (Variant("3x3", "plain 3x3", _frame("plain", 3, **WIDE)),
         Variant("bottleneck", "residual 1x1-3x3-1x1 bottleneck (mid = width/4)",
                 _frame("bottleneck", 3, **WIDE, residual=True))),
        (ExperimentClaim("3x3", "bottleneck", "test_acc",
                         "the full 3x3 is more accurate than its lighter bottleneck"),)),
    Experiment(
        "bottleneck_deep", "ResNet's trade: the bottleneck's saved weights spent on depth, 8 "
        "residual bottlenecks through 16 channels per block, 66 channels wide, at the plain 3x3 "
        "network's total weights.",
        _BOTTLENECK_DEEP, _BOTTLENECK_DEEP_CLAIMS),
    Experiment(
        "grouped", "ResNeXt blocks (1x1, 3x3 in 1, 2, 4 or 8 groups through 64 channels, 1x1, "
        "identity shortcut) at the same widths.",
        tuple(Variant(f"g{g}", f"ResNeXt block, {g} group{'s' if g > 1 else ''}",
                      _frame("bottleneck", 3, **RESNEXT, mid_channels=64, groups=g))
              for g in (1, 2, 4, 8)),
        (ExperimentClaim("g1", "g8", "test_acc",
                         "a dense (1-group) 3x3 is more accurate than an 8-group one"),)),
    Experiment(
        "grouped_wide", "ResNeXt's trade: the 8-group block widened (152 channels inside) to the "
        "1-group network's total weights.",
        (Variant("g1", "ResNeXt block, 1 group",
                 _frame("bottleneck", 3, **RESNEXT, mid_channels=64, groups=1)),
         Variant("g8-wide", "ResNeXt block, 8 groups, widened to equal weights",
                 _frame("bottleneck", 3, **RESNEXT, mid_channels=152, groups=8))),
        (ExperimentClaim("g8-wide", "g1", "test_acc",
                         "at equal weights, a wider 8-group network beats the dense one "
                         "(ResNeXt's trade)"),)),
    Experiment(
        "large_kernel", "ConvNeXt's block (depthwise 7x7 or 13x13, 1x1 expansion, 1x1 projection, "
        "identity shortcut) against two stacked 3x3, at equal total weights (chapter 9).",
        (Variant("2x3x3", "two stacked 3x3 per block", _frame("stacked", 5, **SMALL)),
         Variant("convnext7", "ConvNeXt block, depthwise 7x7, widened to equal weights",
                 _frame("convnext", 7, stem=32, widths=(40, 80))),
         Variant("convnext13", "ConvNeXt block, depthwise 13x13, widened to equal weights",
                 _frame("convnext", 13, stem=32, widths=(36, 72)))),
        (ExperimentClaim("convnext7", "2x3x3", "test_acc", "at equal weights, a ConvNeXt block "
                         "with a depthwise 7x7 beats two stacked 3x3"),
         ExperimentClaim("convnext13", "convnext7", "test_acc", "at equal weights, a larger "
                         "depthwise kernel (13x13) beats ConvNeXt's 7x7")),
        erf=("2x3x3", "convnext7", "convnext13")),
    Experiment(
        "dense_vs_conv", "A multilayer perceptron against the article's small CNN (its own "
        "network: flattened head): the article's overfitting argument.",
        (Variant("mlp", "MLP 3072-512-512-10", _mlp(hidden=(512, 512))),
         Variant("cnn", "CNN, two 3x3 blocks", _net("plain", 3))),
        (ExperimentClaim("cnn", "mlp", "test_acc",
                         "the CNN generalises better: higher test accuracy"),
         ExperimentClaim("cnn", "mlp", "gap",
                         "the CNN overfits less: smaller train-test accuracy gap"))),
    Experiment(
        "overfitting", "The MLP, the article's CNN and the same CNN without weight sharing "
        "(locally connected) on a small training set, trained long without augmentation, so "
        "that all can overfit: the setting that can test the article's claim, and weight "
        "sharing apart from the architecture.",
        (Variant("mlp", "MLP 3072-512-512-10", _mlp(hidden=(512, 512))),
         Variant("cnn", "CNN, two 3x3 blocks", _net("plain", 3)),
         Variant("lcn", "the CNN, locally connected (no weight sharing)",
                 _builder(LocallyConnectedNet))),
        (ExperimentClaim("cnn", "mlp", "gap", "where both can overfit, the CNN overfits less: "
                         "smaller train-test accuracy gap"),
         ExperimentClaim("cnn", "lcn", "gap", "weight sharing itself reduces overfitting: the CNN "
                         "overfits less than the same network with untied weights")),
        budgets={"smoke": {"train_size": 500, "epochs": 3, "augment": False},
                 "quick": {"train_size": 2_000, "epochs": 40, "augment": False},
                 "cpu": {"train_size": 5_000, "epochs": 60, "augment": False},
                 "full": {"train_size": 5_000, "epochs": 60, "augment": False}}),
    *_sweep("stacking", _STACKING, _STACKING_CLAIMS, "The stacking comparison"),
    *_sweep("bottleneck_deep", _BOTTLENECK_DEEP, _BOTTLENECK_DEEP_CLAIMS, "ResNet's trade"),
)}


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name`` (a ValueError lists the registered ones)."""
    if not isinstance(name, str) or name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}; got {name!r}")
    return EXPERIMENTS[name]
