"""The book's CIFAR-10 comparisons: a registry of named experiments, a resumable runner and verdicts.

Each experiment is a set of model variants trained with the same budget (a profile of
:mod:`convlib.profiles`) and several seeds. Its results file (JSON) holds every run's history and
the provenance of the numbers: data set, profile, seeds, device, versions, git commit, dates.

Command line::

    python -m convlib.experiments list
    python -m convlib.experiments run NAME [--profile P] [--seeds 0 1 2] [--out DIR]

Every comparison of an experiment (a :class:`ExperimentClaim`: ``better`` beats ``worse``) is made
by :mod:`convlib.stats`, the book's one vocabulary: the mean difference over seeds, its 95 %
interval and a verdict, ``holds`` (interval above 0), ``contradicted`` (below 0) or ``inconclusive
at this budget`` (contains 0), with a one-line explanation. The interval is the *paired bootstrap
over seeds and test images* (:func:`convlib.stats.compare`) when every run of both variants stored
which test images it got right (``test_correct``, packed; runs made since it is stored) and both
ran the same seeds; otherwise, as for the older reference files, the *analytic interval*
(:func:`convlib.stats.compare_means`: Welch t over the seeds plus the test set's binomial noise,
unpaired, so wider). A train-test gap claim ("overfits less": lower is better) compares the worse
variant's gap minus the better one's, with the binomial noise of both the test set and the training
sample; it always uses the analytic interval (the training sample's per-image answers are not
stored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from convlib import data as data_module
from convlib import stats, store
from convlib.device import as_device, device_name, resolve_precision
from convlib.erf import effective_receptive_field, rounded_map
from convlib.io import REPO_ROOT as REPO_ROOT  # re-exported: tests and scripts use it
from convlib.io import atomic_write_json, git_commit
from convlib.merge import merge_results, selector, tag_results
from convlib.models import MLP, ArticleNet, FrameNet, LocallyConnectedNet
from convlib.profiles import PROFILE_NAMES, active_profile_name, get_profile
from convlib.train import CIFAR10_MEAN, CIFAR10_STD, TrainConfig, seed_everything, train
from convlib.tuning import select_learning_rate

VERDICTS = stats.VERDICTS  # holds, contradicted, inconclusive at this budget
RESULTS_FORMAT = 2  # 2: the fair frame, a learning rate per variant; 1: the article's frame
READABLE_FORMATS = (1, 2)  # format 1 files (the sets made before the fair frame) are read only
ERF_IMAGES = 64  # test images the effective receptive field is averaged over
# Where results files live is the results store's business (convlib.store); these names stay.
reference_dir = store.reference_dir
set_folder = store.set_folder
DEFAULT_OUT = store.RESULTS_DIR


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


# The name before ExperimentClaim, kept so that notebooks and exercises importing it still work
# (convlib.claims.ArticleClaim, a claim of the article, is another thing).
Claim = ExperimentClaim


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

    def budget(self, profile) -> dict:
        """``train_size``, ``epochs``, ``augment`` and the learning-rate grid's ``grid_epochs``
        of a run with ``profile``. The grid trains for the profile's share of the experiment's
        own epochs (half, on the cpu profile), before any epoch factor."""
        chosen = {"train_size": profile.train_size, "epochs": profile.epochs, "augment": True}
        chosen.update(self.budgets.get(profile.name, {}))
        grid = max(1, round(chosen["epochs"] * profile.grid_epochs / profile.epochs))
        epochs = max(1, round(chosen["epochs"] * self.epoch_factor))
        return {**chosen, "epochs": epochs, "grid_epochs": grid}


def _builder(model: type[torch.nn.Module], *args, **options) -> Callable:
    """``build()`` for a variant: ``model(*args, **options)``; its ``spec`` (the class, arguments
    and options) says when two experiments' variants are the same network (:func:`_twins`)."""
    def build():
        return model(*args, **options)
    build.spec = (model.__name__, *args, tuple(sorted(options.items())))
    return build


def _net(kind: str, kernel_size: int = 3, **options) -> Callable:
    return _builder(ArticleNet, kind, kernel_size, **options)


def _mlp(**options) -> Callable:
    return _builder(MLP, **options)


# Provenance keys that must agree for two runs to be the same computation (see _reused_run).
SAME_RUN_KEYS = ("dataset", "profile", "train_size", "test_size", "epochs", "augment", "batch_size",
                 "lr_grid", "grid_epochs", "device", "threads", "precision", "torch")


def _twins(out: Path, name: str, variant: Variant, provenance: dict,
           keys: tuple[str, ...]) -> Iterator[tuple[str, dict, str]]:
    """``(experiment, results, variant name)`` of every variant of another experiment's results
    file in the folder ``out`` built by the same builder with the same options, whose provenance
    agrees with ``provenance`` on ``keys``."""
    spec = getattr(variant.build, "spec", None)
    if spec is None:
        return
    for path in sorted(out.glob("*.json")):
        other_name = path.stem
        if other_name == name or other_name not in EXPERIMENTS:
            continue
        other = load_results(path)
        if other["format"] != RESULTS_FORMAT or any(
                other["provenance"].get(k) != provenance.get(k) for k in keys):
            continue
        for twin in EXPERIMENTS[other_name].variants:
            if getattr(twin.build, "spec", None) == spec:
                yield other_name, other, twin.name


def _reused_run(out: Path, name: str, variant: Variant, seed: int, provenance: dict,
                lr: float) -> dict | None:
    """A run of the same model (same builder and options), seed, learning rate and budget already
    made by another experiment in the folder ``out``: training it again would repeat the same
    computation (the seed fixes initialisation, batch order and augmentation), so the record is
    copied, marked ``reused_from``."""
    for other_name, other, twin in _twins(out, name, variant, provenance, SAME_RUN_KEYS):
        for run in other["runs"]:
            if (run["variant"] == twin and run["seed"] == seed and run["lr"] == lr
                    and "reused_from" not in run):
                return {**run, "variant": variant.name, "reused_from": f"{other_name}/{twin}"}
    return None


# What must agree for another experiment's learning-rate choice to be this one's: the data, the
# grid's budget and the machine (the sweep's epochs do not enter: it keeps its base's choice).
SAME_RECIPE_KEYS = ("dataset", "profile", "train_size", "augment", "batch_size", "lr_grid",
                    "grid_epochs", "device", "threads", "precision", "torch")


def _reused_recipe(out: Path, name: str, variant: Variant, provenance: dict) -> dict | None:
    """The learning-rate choice another experiment in ``out`` made for the same model and
    grid budget, marked ``reused_from``."""
    for other_name, other, twin in _twins(out, name, variant, provenance, SAME_RECIPE_KEYS):
        recipe = other.get("lr_selection", {}).get(twin)
        if recipe is not None and "reused_from" not in recipe:
            return {**recipe, "reused_from": f"{other_name}/{twin}"}
    return None


# The frames of the comparisons (convlib.models.FrameNet): the same stem, pooling and head for
# every network of an experiment. SMALL: the kernel-size experiments; WIDE: the 1x1, grouped and
# bottleneck ones, whose blocks need a real width in and out. Matched widths are typed here and
# checked by tests/test_experiments.py (total weights within 3 % of the reference network).
SMALL = {"stem": 32, "widths": (32, 64)}
WIDE = {"stem": 64, "widths": (64, 64)}
RESNEXT = {**WIDE, "residual": True}  # 1x1 -> grouped 3x3 -> 1x1 with the identity shortcut
MOBILENET = {"repeats": 2, "inner_activation": True}  # depthwise -> BN -> ReLU -> 1x1 -> BN -> ReLU


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
                    "at equal weights, a deeper bottleneck network beats the plain 3x3 (ResNet's trade)"),)
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
        (ExperimentClaim("cnn", "mlp", "test_acc", "the CNN generalises better: higher test accuracy"),
         ExperimentClaim("cnn", "mlp", "gap",
                         "the CNN overfits less: smaller train-test accuracy gap"))),
    Experiment(
        "overfitting", "The MLP, the article's CNN and the same CNN without weight sharing (locally "
        "connected) on a small training set, trained long without augmentation, so that all can "
        "overfit: the setting that can test the article's claim, and weight sharing apart from "
        "the architecture.",
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


class ResultsFileError(ValueError):
    """A results file that cannot be read or does not match the run asked for."""


def get_experiment(name: str) -> Experiment:
    if not isinstance(name, str) or name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}; got {name!r}")
    return EXPERIMENTS[name]


def results_path(name: str, out: str | os.PathLike | None = None) -> Path:
    return store.results_file(get_experiment(name).name, out)


def load_results(path: str | os.PathLike) -> dict:
    """Read a results file, with a clear error when it is damaged."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsFileError(f"results file {path} is corrupted ({error}); delete it to start "
                               "the experiment again, or choose another --out") from None
    if not isinstance(results, dict) or results.get("format") not in READABLE_FORMATS or "runs" not in results:
        raise ResultsFileError(f"results file {path} is not a convlib results file (format "
                               f"{' or '.join(map(str, READABLE_FORMATS))})")
    return results


def run_experiment(name: str, profile: str | None = None, seeds: list[int] | None = None,
                   out: str | os.PathLike | None = None, *, data=None, device=None,
                   progress: bool | None = None, log: Callable[[str], None] | None = print,
                   select: Callable[[str, int], bool] | None = None) -> dict:
    """Train every (variant, seed) of experiment ``name`` not already in its results file
    (only those for which ``select(variant_name, seed)`` is true, when ``select`` is given: a shard).

    Results are written after each run (atomically), so an interrupted experiment resumes where
    it stopped. A results file made with another profile or data set is an error: profiles are
    never mixed.
    """
    experiment = get_experiment(name)
    budget = get_profile(profile)
    seeds = list(budget.seeds if seeds is None else seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of non-negative ints; got {seeds!r}")
    dataset = data if data is not None else data_module.load_cifar10()
    plan = experiment.budget(budget)
    train_x, train_y = data_module.subset(dataset.train_images, dataset.train_labels, plan["train_size"])
    test_x, test_y = data_module.subset(dataset.test_images, dataset.test_labels, budget.test_size)
    device = as_device(device)
    path = results_path(name, out)
    provenance = _provenance(dataset, budget, plan, len(train_y), len(test_y), device)
    results = _open_results(path, experiment, provenance)
    config = replace(TrainConfig.from_profile(budget), epochs=plan["epochs"], augment=plan["augment"])
    session = _Session(experiment, path, provenance, (train_x, train_y, test_x, test_y), config,
                       device, progress, log)
    for variant, seed in _pending(experiment, seeds, results, select, log):
        if variant.name not in results["lr_selection"]:
            results["lr_selection"][variant.name] = _recipe(session, variant, plan, budget)
        _run_one(session, results, variant, seed)
    _write_results(path, results, experiment)
    return results


def _provenance(dataset, budget, plan: dict, train_size: int, test_size: int,
                device: torch.device) -> dict:
    """Where a run's numbers come from: data set, budget, device and versions."""
    return {
        "dataset": dataset.name, "dataset_source": dataset.source, "jpeg_copy": dataset.lossy,
        "profile": budget.name, "profile_description": budget.description,
        "train_size": train_size, "test_size": test_size, "epochs": plan["epochs"],
        "augment": plan["augment"], "batch_size": budget.batch_size,
        "lr_grid": list(budget.lr_grid), "grid_epochs": plan["grid_epochs"],
        "device": device_name(device), "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "torch": torch.__version__, "python": platform.python_version(),
        "precision": resolve_precision(TrainConfig().precision, device),
    }


def _open_results(path: Path, experiment: Experiment, provenance: dict) -> dict:
    """The results file at ``path`` when it holds the same budget (else an error), or a new one."""
    if not path.exists():
        return {"format": RESULTS_FORMAT, "experiment": experiment.name,
                "description": experiment.description,
                "provenance": {**provenance, "seeds": [], "started": _now(), "wall_seconds": 0.0},
                "variants": {}, "lr_selection": {}, "runs": []}
    results = load_results(path)
    if results["format"] != RESULTS_FORMAT:
        raise ResultsFileError(f"{path} is a format-{results['format']} file (the article's frame); "
                               f"new runs go to a new file: use another --out")
    old = results["provenance"]
    for key in ("dataset", "profile", "train_size", "test_size", "epochs", "batch_size", "lr_grid",
                "grid_epochs", "precision", "augment"):
        if old.get(key) != provenance[key]:
            raise ResultsFileError(
                f"{path} was made with {key}={old.get(key)!r}, this run has {key}={provenance[key]!r}; "
                "results of different budgets are never mixed: use another --out")
    return results


def _pending(experiment: Experiment, seeds: list[int], results: dict,
             select: Callable[[str, int], bool] | None,
             log: Callable[[str], None] | None) -> Iterator[tuple[Variant, int]]:
    """The (variant, seed) runs still to make, in order, logging those already in ``results``."""
    done = {(r["variant"], r["seed"]) for r in results["runs"]}
    for variant in experiment.variants:
        for seed in seeds:
            if select is not None and not select(variant.name, seed):
                continue
            if (variant.name, seed) in done:
                if log:
                    log(f"{experiment.name}: {variant.name} seed {seed} already done, skipped")
                continue
            yield variant, seed


@dataclass(frozen=True)
class _Session:
    """What every run of one :func:`run_experiment` call shares."""

    experiment: Experiment
    path: Path
    provenance: dict
    tensors: tuple  # train images, train labels, test images, test labels
    config: TrainConfig
    device: torch.device
    progress: bool | None
    log: Callable[[str], None] | None


def _recipe(session: _Session, variant: Variant, plan: dict, budget) -> dict:
    """The variant's learning rate: the choice of the experiment named by ``recipe_from`` or of
    another experiment with the same model and grid budget, else a new selection on a validation
    split of the training images (:func:`convlib.tuning.select_learning_rate`)."""
    experiment, out = session.experiment, session.path.parent
    reused = _reused_recipe(out, experiment.name, variant, session.provenance)
    if reused is not None:
        return reused
    if experiment.recipe_from is not None and session.log:
        session.log(f"{experiment.name}: no learning rate chosen for {variant.name} in "
                    f"{experiment.recipe_from} yet: choosing it here (the same computation)")
    if session.log:
        session.log(f"{experiment.name}: {variant.name}: choosing the learning rate")
    train_x, train_y = session.tensors[:2]  # training images only: the test set is never read
    return select_learning_rate(variant.build, train_x, train_y, grid=budget.lr_grid,
                                epochs=plan["grid_epochs"], batch_size=budget.batch_size,
                                augment=plan["augment"], device=session.device, log=session.log)


def _erf_maps(model: torch.nn.Module, test_images: torch.Tensor) -> np.ndarray:
    """The effective receptive field of ``model.features`` over the first :data:`ERF_IMAGES`
    test images, normalised as in training."""
    images = test_images[:ERF_IMAGES].cpu().float().div(255)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (CIFAR10_MEAN, CIFAR10_STD))
    features = model.features.float().cpu().to(memory_format=torch.contiguous_format)
    return effective_receptive_field(features, (images - mean) / std)


def _trained_run(session: _Session, model: torch.nn.Module, variant: Variant, seed: int,
                 lr: float) -> dict:
    """Train ``model`` (built with ``seed``) at ``lr``: its run record, ERF maps included for the
    experiment's ``erf`` variants."""
    erf = variant.name in session.experiment.erf
    test_images = session.tensors[2]
    before = _erf_maps(model, test_images) if erf else None
    start = time.perf_counter()
    history = train(model, *session.tensors, replace(session.config, lr=lr), seed=seed,
                    device=session.device, progress=session.progress,
                    description=f"{session.experiment.name}/{variant.name}/seed {seed}")
    record = history.to_dict()
    run = {"variant": variant.name, "seed": seed, "lr": lr,
           "seconds": round(time.perf_counter() - start, 2), "history": record,
           "test_correct": record.pop("test_correct"), "train_correct": record.pop("train_correct")}
    if erf:
        run["erf"] = {"images": ERF_IMAGES, "init": rounded_map(before),
                      "trained": rounded_map(_erf_maps(model, test_images))}
    return run


def _run_one(session: _Session, results: dict, variant: Variant, seed: int) -> None:
    """Train (or reuse) one (variant, seed), add it to ``results`` and write the results file."""
    name, provenance = session.experiment.name, session.provenance
    lr = results["lr_selection"][variant.name]["lr"]
    seed_everything(seed)
    model = variant.build()
    results["variants"][variant.name] = {
        "label": variant.label, "conv_params": model.block_weights(),
        "total_params": model.total_params()}
    reused = _reused_run(session.path.parent, name, variant, seed, provenance, lr)
    run = reused if reused is not None else _trained_run(session, model, variant, seed, lr)
    results["runs"].append(run)
    seconds = 0.0 if reused is not None else run["seconds"]
    accuracy = run["history"]["test_acc"][-1]
    prov = results["provenance"]
    prov["seeds"] = sorted(set(prov["seeds"]) | {seed})
    prov["wall_seconds"] = round(prov["wall_seconds"] + seconds, 1)
    prov.update(device=provenance["device"], threads=provenance["threads"],
                torch=provenance["torch"], git_commit=git_commit(), updated=_now())
    _write_results(session.path, results, session.experiment)
    if session.log:
        session.log(f"{name}: {variant.name} seed {seed} (lr {lr:g}): test accuracy {accuracy:.4f} "
                    + (f"(reused from {reused['reused_from']})" if reused else f"({seconds:.0f} s)"))



def _write_results(path: Path, results: dict, experiment: Experiment) -> None:
    """Recompute the comparisons of ``experiment``'s claims and write ``results`` to ``path``."""
    results["comparisons"] = [comparison_dict(results, claim) for claim in experiment.claims]
    atomic_write_json(path, results)


EXTRA_SEEDS = (3, 4)  # the reference profile's rule: 5 seeds where 3 leave a comparison undecided
SEED_DOMINATED = 0.5  # ... or where the seeds supply more than half of its interval


def extend_inconclusive(name: str, profile: str | None = None, out: str | os.PathLike | None = None,
                        extra_seeds: tuple[int, ...] = EXTRA_SEEDS, **options) -> list[str]:
    """Run ``extra_seeds`` for both variants of every comparison of experiment ``name`` whose 95 %
    interval still contains 0 (``inconclusive at this budget``) or whose interval the seeds
    dominate (:data:`SEED_DOMINATED` of it: 3 seeds estimate that part poorly), then store the
    recomputed comparisons. Returns the variants extended (none when none needs it). The two
    variants of a claim run the same seeds, so the comparison stays paired."""
    results = load_results(results_path(name, out))
    undecided = {v for c in check_claims(results) if "note" not in c and (
                     c["verdict"] == stats.INCONCLUSIVE or c["seed_share"] > SEED_DOMINATED)
                 for v in (c["better"], c["worse"])}
    if undecided:
        run_experiment(name, profile, list(extra_seeds), out, select=lambda variant, seed: variant in undecided,
                       **options)
    return sorted(undecided)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def final_metric(run: dict, metric: str) -> float:
    history = run["history"]
    if metric == "test_acc":
        return history["test_acc"][-1]
    if metric == "gap":  # training accuracy measured like the test one (older files: the running one)
        train_acc = history.get("train_eval_acc") or history["train_acc"]
        return train_acc[-1] - history["test_acc"][-1]
    raise ValueError(f"metric must be 'test_acc' or 'gap'; got {metric!r}")


def summarize(results: dict, metric: str = "test_acc") -> dict[str, dict]:
    """Per variant: number of seeds, mean and sample standard deviation of the final ``metric``."""
    summary = {}
    for variant in results["variants"]:
        values = [final_metric(r, metric) for r in results["runs"] if r["variant"] == variant]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
        summary[variant] = {"n": len(values), "mean": mean, "std": std, "values": values}
    return summary


def _runs(results: dict, variant: str) -> list[dict]:
    return sorted((r for r in results["runs"] if r["variant"] == variant), key=lambda r: r["seed"])


def compare_variants(results_a: dict, a: str, results_b: dict, b: str, metric: str = "test_acc",
                     labels: tuple[str, str] | None = None) -> stats.Comparison:
    """Variant ``a`` of ``results_a`` against variant ``b`` of ``results_b`` (the same file, or two
    experiments' files), as a :class:`convlib.stats.Comparison` of ``a - b``.

    Paired (:func:`convlib.stats.compare`, :func:`convlib.stats.compare_gaps`) when both ran the
    same seeds and every run stored which images it got right (the test images, and for a gap the
    training sample too); otherwise, as for the format-1 files' gaps, the analytic unpaired
    interval (:func:`convlib.stats.compare_means`) with each term's own sample size.
    """
    runs_a, runs_b = _runs(results_a, a), _runs(results_b, b)
    if not runs_a or not runs_b:
        raise ValueError(f"no runs of {a if not runs_a else b!r} in the results")
    labels = labels or (a, b)
    keys = ("test_correct",) if metric == "test_acc" else ("train_correct", "test_correct")
    paired = ([r["seed"] for r in runs_a] == [r["seed"] for r in runs_b]
              and all(r.get(key) for r in runs_a + runs_b for key in keys))
    if paired and metric == "test_acc":
        return stats.compare([r["test_correct"] for r in runs_a], [r["test_correct"] for r in runs_b],
                             labels=labels)
    if paired:
        return stats.compare_gaps(*([r[key] for r in runs] for runs in (runs_a, runs_b) for key in keys),
                                  labels=labels)
    n_images = min(results_a["provenance"]["test_size"], results_b["provenance"]["test_size"])
    if metric == "test_acc":
        return stats.compare_means([final_metric(r, metric) for r in runs_a],
                                   [final_metric(r, metric) for r in runs_b], n_images, labels=labels)
    return _unpaired_gaps(runs_a, runs_b, n_images, labels)


def _unpaired_gaps(runs_a: list[dict], runs_b: list[dict], n_images: int,
                   labels: tuple[str, str]) -> stats.Comparison:
    """The gaps of runs without per-image answers on the training sample (format-1 files): the
    binomial noise of the test set (``n_images``) and of the training sample (as many images as
    the test set, or the whole training set when smaller)."""
    sampling = []
    for runs in (runs_a, runs_b):
        test = sum(r["history"]["test_acc"][-1] for r in runs) / len(runs)
        train = min(max(sum(r["history"]["train_eval_acc"][-1] for r in runs) / len(runs), 0.0), 1.0)
        sample = min(n_images, runs[0]["history"]["train_size"] or n_images)
        sampling.append(test * (1 - test) / n_images + train * (1 - train) / sample)
    gaps = [[final_metric(r, "gap") for r in runs] for runs in (runs_a, runs_b)]
    return stats.compare_means(gaps[0], gaps[1], n_images, labels=labels, sampling=sampling)


# A run is unstable when its training loss climbs back by more than this share of the way it had
# come down: judged on the whole curve, so a bump of 2 % near the end (noise) is not a collapse.
UNSTABLE_SHARE = 0.25
# The less accurate network is under-trained when it was still catching up as training stopped:
# its test accuracy rose, in the last epoch, by UNDER_TRAINED_RISE more than the winner's; or it
# rose more than the winner's while its training loss ended UNDER_TRAINED_LOSS times the winner's
# or more (it had not fitted its training set yet).
UNDER_TRAINED_RISE = 0.02
UNDER_TRAINED_LOSS = 1.25


def _unstable(losses: list[float]) -> bool:
    """Whether a training-loss curve (one mean per epoch) climbs back above its lowest point so
    far by more than :data:`UNSTABLE_SHARE` of the fall from its first epoch to that point."""
    for t in range(1, len(losses)):
        lowest = min(losses[:t])
        fall = losses[0] - lowest
        if losses[t] - lowest > UNSTABLE_SHARE * max(fall, 0.0) and losses[t] > lowest * 1.05:
            return True
    return False


def unstable_seeds(results: dict, variant: str) -> list[int]:
    """The seeds of ``variant`` whose training went unstable (:func:`_unstable` on the run's
    training loss): the recipe's peak learning rate throwing the network back, which measured on
    the book's widened networks sent the loss back near chance, ln 10."""
    return [run["seed"] for run in _runs(results, variant) if _unstable(run["history"]["train_loss"])]


def last_epoch_rise(results: dict, variant: str) -> float:
    """The mean over ``variant``'s runs of the test accuracy gained in the last epoch (0 with
    one epoch)."""
    rises = [h[-1] - h[-2] if len(h) > 1 else 0.0
             for h in (run["history"]["test_acc"] for run in _runs(results, variant))]
    return sum(rises) / len(rises)


def final_train_loss(results: dict, variant: str) -> float:
    """The mean over ``variant``'s runs of the last epoch's training loss."""
    losses = [run["history"]["train_loss"][-1] for run in _runs(results, variant)]
    return sum(losses) / len(losses)


def _caveat(results: dict, claim: ExperimentClaim, difference: float) -> tuple[str, str] | None:
    """For a test-accuracy claim whose interval decided: ``(verdict, reason)`` when the less
    accurate variant's runs went unstable or it was still catching up (under-trained), else
    None. A gap claim, or an unstable winner, leaves the interval's verdict alone."""
    if claim.metric != "test_acc":
        return None
    loser, winner = (claim.worse, claim.better) if difference > 0 else (claim.better, claim.worse)
    unstable = unstable_seeds(results, loser)
    if unstable:
        n = len(_runs(results, loser))
        return stats.NOT_COMPARABLE, (f"the training of {loser} went unstable in {len(unstable)} "
                                      f"of {n} runs (its training loss climbed back up)")
    rise, rival = last_epoch_rise(results, loser), last_epoch_rise(results, winner)
    loss, rival_loss = final_train_loss(results, loser), final_train_loss(results, winner)
    if rise - rival > UNDER_TRAINED_RISE or (rise > rival and loss >= UNDER_TRAINED_LOSS * rival_loss):
        return stats.UNDER_TRAINED, (f"{loser} was still catching up: its test accuracy rose "
                                     f"{100 * rise:.1f} points in the last epoch ({winner}'s "
                                     f"{100 * rival:.1f}), its training loss ended at {loss:.2f} "
                                     f"({winner}'s {rival_loss:.2f})")
    return None


def budget_text(results: dict) -> str:
    """The budget behind a results file's verdicts: ``"4 epochs, cpu set, 3 seeds"``."""
    p = results["provenance"]
    n = len(p["seeds"])
    return f"{p['epochs']} epochs, {p['profile']} set, {n} seed{'s' if n != 1 else ''}"


def comparison_dict(results: dict, claim: ExperimentClaim) -> dict:
    """The claim's comparison: means and spreads per variant, then the difference in the claim's
    favour (``better - worse`` for test accuracy, ``worse - better`` for the gap), its 95 %
    interval, the method, the verdict (:data:`convlib.stats.EXPERIMENT_VERDICTS`), the verdict
    with its budget (``verdict_text``) and the explanation."""
    summary = summarize(results, claim.metric)
    head = {"better": claim.better, "worse": claim.worse, "metric": claim.metric,
            "statement": claim.statement, "claim": stats.BETTER, "budget": budget_text(results)}
    if claim.better not in summary or claim.worse not in summary:
        return {**head, "verdict": stats.INCONCLUSIVE, "note": "not run yet",
                "verdict_text": stats.with_budget(stats.INCONCLUSIVE, head["budget"])}
    a, b = summary[claim.better], summary[claim.worse]
    if claim.metric == "test_acc":
        comparison = compare_variants(results, claim.better, results, claim.worse)
    else:
        comparison = compare_variants(results, claim.worse, results, claim.better, "gap",
                                      labels=(f"{claim.worse} gap", f"{claim.better} gap"))
    judged = stats.judge(comparison, stats.BETTER)
    verdict, explanation = judged.verdict, judged.explanation.rsplit(": ", 1)[0]
    caveat = _caveat(results, claim, comparison.difference) if verdict != stats.INCONCLUSIVE else None
    if caveat is not None:
        verdict = caveat[0]
        explanation += f"; but {caveat[1]}"
        head["interval_verdict"] = judged.verdict
    head["unstable"] = {v: unstable_seeds(results, v) for v in (claim.better, claim.worse)
                        if unstable_seeds(results, v)}
    verdict_text = stats.with_budget(verdict, head["budget"])
    return {**head, "mean_better": round(a["mean"], 6), "std_better": round(a["std"], 6),
            "mean_worse": round(b["mean"], 6), "std_worse": round(b["std"], 6),
            "seeds": comparison.n_seeds, "test_images": comparison.n_images,
            "difference": comparison.difference, "low": comparison.low, "high": comparison.high,
            "confidence": comparison.confidence, "method": comparison.method,
            "seed_share": comparison.seed_share, "verdict": verdict, "verdict_text": verdict_text,
            "explanation": f"{explanation}: {verdict_text}"}


def file_claims(results: dict) -> tuple[ExperimentClaim, ...]:
    """The claims a results file is judged on: its experiment's in the registry; for a format-1
    file (made in the article's frame before the fair frame, read until the set made in the
    fair frame replaces it) the claims stored in the file itself."""
    if results["format"] == 1:
        return tuple(ExperimentClaim(c["better"], c["worse"], c["metric"], c["statement"])
                     for c in results["comparisons"])
    return get_experiment(results["experiment"]).claims


def file_variants(results: dict) -> list[str]:
    """The variants a complete results file holds: its experiment's in the registry (the
    variants stored in a format-1 file, see :func:`file_claims`)."""
    if results["format"] == 1:
        return list(results["variants"])
    return [v.name for v in get_experiment(results["experiment"]).variants]


def check_claims(results: dict) -> list[dict]:
    """The verdict of every claim of ``results`` (:func:`file_claims`), recomputed from its runs."""
    return [comparison_dict(results, claim) for claim in file_claims(results)]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        _print_experiments()
        return 0
    if args.name not in EXPERIMENTS:
        parser.error(f"unknown experiment {args.name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    if args.command == "extend":
        return _extend_command(args)
    if args.command in ("recompare", "merge"):
        return _rewrite_command(args)
    return _run_command(args)


def _parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per action (list, run, merge, extend, recompare)."""
    parser = argparse.ArgumentParser(prog="python -m convlib.experiments", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments and their variants")
    run = sub.add_parser("run", help="run (or resume) one experiment")
    run.add_argument("name", help=f"one of: {', '.join(EXPERIMENTS)}")
    run.add_argument("--profile", choices=PROFILE_NAMES, default=None,
                     help="budget; default $CONVLIB_PROFILE, else quick")
    run.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the profile's seeds")
    run.add_argument("--out", default=None, help=f"results folder (default: the profile's reference set, "
                     f"{DEFAULT_OUT} for quick, a sub-folder named after any other profile)")
    run.add_argument("--device", default=None)
    run.add_argument("--shard", default=None, help="I/N: only this shard's (variant, seed) runs")
    merge = sub.add_parser("merge", help="one results file from the shards' (run --shard I/N)")
    merge.add_argument("name", help=f"one of: {', '.join(EXPERIMENTS)}")
    merge.add_argument("shard_dirs", nargs="+", help="the shards' --out folders")
    merge.add_argument("--out", default=None, help=f"results folder (default {DEFAULT_OUT})")
    extend = sub.add_parser("extend", help=f"seeds {list(EXTRA_SEEDS)} for the variants of every "
                            "comparison still inconclusive at the profile's seeds")
    extend.add_argument("name", help=f"one of: {', '.join(EXPERIMENTS)}")
    extend.add_argument("--profile", choices=PROFILE_NAMES, default=None)
    extend.add_argument("--out", default=None, help="results folder (default: the profile's reference set)")
    recompare = sub.add_parser("recompare", help="recompute the stored comparisons of a results "
                               "file from its runs (no training), e.g. after a change of method")
    recompare.add_argument("name", help=f"one of: {', '.join(EXPERIMENTS)}")
    recompare.add_argument("--out", default=None, help=f"results folder (default {DEFAULT_OUT})")
    return parser


def _print_experiments() -> None:
    """``list``: every experiment and its variants."""
    for experiment in EXPERIMENTS.values():
        print(f"{experiment.name}: {experiment.description}")
        for variant in experiment.variants:
            print(f"    {variant.name:12s} {variant.label}")


def _print_verdicts(results: dict) -> None:
    """One line per stored comparison: the claim and its verdict."""
    for comparison in results["comparisons"]:
        print(f"{comparison['statement']}: {comparison['verdict']}")


def _profile_out(args: argparse.Namespace) -> str | os.PathLike:
    """``--out``, or by default the reference set of the chosen (or active) profile."""
    return args.out if args.out is not None else set_folder(args.profile or active_profile_name())


def _extend_command(args: argparse.Namespace) -> int:
    """``extend``: seeds EXTRA_SEEDS for the comparisons still inconclusive."""
    extended = extend_inconclusive(args.name, args.profile, _profile_out(args))
    print(f"{args.name}: " + (f"seeds {list(EXTRA_SEEDS)} added for {', '.join(extended)}"
                              if extended else "every comparison decided, nothing to add"))
    return 0


def _rewrite_command(args: argparse.Namespace) -> int:
    """``recompare``: a results file's comparisons recomputed; ``merge``: the shards' files."""
    path = results_path(args.name, args.out)
    try:
        results = (load_results(path) if args.command == "recompare" else merge_results(
            [(str(d), load_results(results_path(args.name, d))) for d in args.shard_dirs]))
    except (ResultsFileError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results["comparisons"] = check_claims(results)
    atomic_write_json(path, results)
    _print_verdicts(results)
    return 0


def _run_command(args: argparse.Namespace) -> int:
    """``run``: the experiment (or one shard of it), then its verdicts."""
    try:
        select = selector(args.shard) if args.shard else None
        out = _profile_out(args)
        results = run_experiment(args.name, args.profile, args.seeds, out, device=args.device,
                                 select=select)
        if select:
            atomic_write_json(results_path(args.name, out), tag_results(results, select))
    except (ResultsFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_verdicts(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
