"""The resumable runner: train every (variant, seed) of an experiment and write its results file.

Results are written after each learning-rate grid and each run (atomically), so an interrupted
experiment resumes where it stopped; a results file made with another budget is an error (budgets
are never mixed). Each variant first gets its learning rate from the profile's grid on a
validation split of the training images (:mod:`convlib.tuning`). A run, or a learning-rate
choice, that another experiment in the same folder already made for the same model and budget is
copied, not trained again (marked ``reused_from``).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from convlib import data as data_module
from convlib import stats
from convlib.device import as_device, device_name, resolve_precision
from convlib.erf import effective_receptive_field, rounded_map
from convlib.experiments.files import (
    RESULTS_FORMAT,
    ResultsFileError,
    load_results,
    results_path,
)
from convlib.experiments.registry import EXPERIMENTS, Budget, Experiment, Variant, get_experiment
from convlib.experiments.verdicts import check_claims, comparison_dict
from convlib.io import atomic_write_json, git_commit, utc_now
from convlib.profiles import get_profile
from convlib.train import CIFAR10_MEAN, CIFAR10_STD, TrainConfig, seed_everything, train
from convlib.tuning import select_learning_rate

ERF_IMAGES = 64  # test images the effective receptive field is averaged over
EXTRA_SEEDS = (3, 4)  # the reference profile's rule: 5 seeds where 3 leave a comparison undecided
SEED_DOMINATED = 0.5  # ... or where the seeds supply more than half of its interval
# The profiles whose sets are extended (recipes/cpu/reference.sh), every experiment but the epoch
# sweeps (which keep the profile's seeds: they ask whether a ranking moves with the budget).
EXTENDED_PROFILES = ("cpu", "full")
# Provenance keys that must agree for two runs to be the same computation (see _reused_run).
SAME_RUN_KEYS = ("dataset", "profile", "train_size", "test_size", "epochs", "augment",
                 "batch_size", "lr_grid", "grid_epochs", "device", "threads", "precision", "torch")
# What must agree for another experiment's learning-rate choice to be this one's: the data, the
# grid's budget and the machine (the sweep's epochs do not enter: it keeps its base's choice).
SAME_RECIPE_KEYS = ("dataset", "profile", "train_size", "augment", "batch_size", "lr_grid",
                    "grid_epochs", "device", "threads", "precision", "torch")
# What a results file and a run resumed into it must share: the budget.
SAME_BUDGET_KEYS = ("dataset", "profile", "train_size", "test_size", "epochs", "batch_size",
                    "lr_grid", "grid_epochs", "precision", "augment")


def run_experiment(name: str, profile: str | None = None, seeds: list[int] | None = None,
                   out: str | os.PathLike | None = None, *, data=None, device=None,
                   progress: bool | None = None, log: Callable[[str], None] | None = print,
                   select: Callable[[str, int], bool] | None = None) -> dict:
    """Train every (variant, seed) of experiment ``name`` not already in its results file
    (only those for which ``select(variant_name, seed)`` is true, when ``select`` is given: a
    shard), and return the results.

    Results are written after each learning-rate grid and each run (atomically), so an
    interrupted experiment resumes where it stopped. A results file made with another profile or
    data set is an error: profiles are never mixed.
    """
    experiment = get_experiment(name)
    budget = experiment.budget(get_profile(profile))
    seeds = list(budget.profile.seeds if seeds is None else seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of non-negative ints; got {seeds!r}")
    dataset = data if data is not None else data_module.load_cifar10()
    train_x, train_y = data_module.subset(dataset.train_images, dataset.train_labels,
                                          budget.train_size)
    test_x, test_y = data_module.subset(dataset.test_images, dataset.test_labels,
                                        budget.profile.test_size)
    device = as_device(device)
    path = results_path(name, out)
    provenance = _provenance(dataset, budget, len(train_y), len(test_y), device)
    results = _open_results(path, experiment, provenance)
    session = _Session(experiment, path, provenance, (train_x, train_y, test_x, test_y), budget,
                       device, progress, log)
    for variant, seed in _pending(experiment, seeds, results, select, log):
        if variant.name not in results["lr_selection"]:
            results["lr_selection"][variant.name] = _recipe(session, variant)
            _stamp(results, session.provenance)
            _write_results(path, results, experiment)  # a grid is hours on a CPU: keep it
        _run_one(session, results, variant, seed)
    _write_results(path, results, experiment)
    return results


def _provenance(dataset, budget: Budget, train_size: int, test_size: int,
                device: torch.device) -> dict:
    """Where a run's numbers come from: data set, budget, device and versions."""
    profile = budget.profile
    return {
        "dataset": dataset.name, "dataset_source": dataset.source, "jpeg_copy": dataset.lossy,
        "profile": profile.name, "profile_description": profile.description,
        "train_size": train_size, "test_size": test_size, "epochs": budget.epochs,
        "augment": budget.augment, "batch_size": profile.batch_size,
        "lr_grid": list(profile.lr_grid), "grid_epochs": budget.grid_epochs,
        "device": device_name(device),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "torch": torch.__version__, "python": platform.python_version(),
        "precision": resolve_precision(TrainConfig().precision, device),
    }


def _open_results(path: Path, experiment: Experiment, provenance: dict) -> dict:
    """The results file at ``path`` when it holds the same budget (else an error), or a new one."""
    if not path.exists():
        return {"format": RESULTS_FORMAT, "experiment": experiment.name,
                "description": experiment.description,
                "provenance": {**provenance, "seeds": [], "started": utc_now(),
                               "wall_seconds": 0.0},
                "variants": {}, "lr_selection": {}, "runs": []}
    results = load_results(path)
    if results["format"] != RESULTS_FORMAT:
        raise ResultsFileError(f"{path} is a format-{results['format']} file (the article's "
                               "frame); new runs go to a new file: use another --out")
    old = results["provenance"]
    for key in SAME_BUDGET_KEYS:
        if old.get(key) != provenance[key]:
            raise ResultsFileError(
                f"{path} was made with {key}={old.get(key)!r}, this run has "
                f"{key}={provenance[key]!r}; results of different budgets are never mixed: use "
                "another --out")
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
    budget: Budget
    device: torch.device
    progress: bool | None
    log: Callable[[str], None] | None


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


def _reused_recipe(out: Path, name: str, variant: Variant, provenance: dict) -> dict | None:
    """The learning-rate choice another experiment in ``out`` made for the same model and
    grid budget, marked ``reused_from``."""
    for other_name, other, twin in _twins(out, name, variant, provenance, SAME_RECIPE_KEYS):
        recipe = other.get("lr_selection", {}).get(twin)
        if recipe is not None and "reused_from" not in recipe:
            return {**recipe, "reused_from": f"{other_name}/{twin}"}
    return None


def _recipe(session: _Session, variant: Variant) -> dict:
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
    return select_learning_rate(variant.build, train_x, train_y, session.budget,
                                device=session.device, log=session.log)


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
    history = train(model, *session.tensors, session.budget.train_config(lr), seed=seed,
                    device=session.device, progress=session.progress,
                    description=f"{session.experiment.name}/{variant.name}/seed {seed}")
    record = history.to_dict()
    run = {"variant": variant.name, "seed": seed, "lr": lr,
           "seconds": round(time.perf_counter() - start, 2), "history": record,
           "test_correct": record.pop("test_correct"),
           "train_correct": record.pop("train_correct")}
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
        "label": variant.label, "block_weights": model.block_weights(),
        "total_params": model.total_params()}
    reused = _reused_run(session.path.parent, name, variant, seed, provenance, lr)
    run = reused if reused is not None else _trained_run(session, model, variant, seed, lr)
    results["runs"].append(run)
    seconds = 0.0 if reused is not None else run["seconds"]
    accuracy = run["history"]["test_acc"][-1]
    prov = results["provenance"]
    prov["seeds"] = sorted(set(prov["seeds"]) | {seed})
    prov["wall_seconds"] = round(prov["wall_seconds"] + seconds, 1)
    _stamp(results, provenance)
    _write_results(session.path, results, session.experiment)
    if session.log:
        how = f"(reused from {reused['reused_from']})" if reused else f"({seconds:.0f} s)"
        session.log(f"{name}: {variant.name} seed {seed} (lr {lr:g}): test accuracy "
                    f"{accuracy:.4f} {how}")


def _stamp(results: dict, provenance: dict) -> None:
    """What made the file's newest content: the machine's device, threads and torch, the commit
    and the time (a run's or a learning-rate grid's)."""
    results["provenance"].update(device=provenance["device"], threads=provenance["threads"],
                                 torch=provenance["torch"], git_commit=git_commit(),
                                 updated=utc_now())


def _write_results(path: Path, results: dict, experiment: Experiment) -> None:
    """Recompute the comparisons of ``experiment``'s claims and write ``results`` to ``path``."""
    results["comparisons"] = [comparison_dict(results, claim) for claim in experiment.claims]
    atomic_write_json(path, results)


def extend_inconclusive(name: str, profile: str | None = None,
                        out: str | os.PathLike | None = None,
                        extra_seeds: tuple[int, ...] = EXTRA_SEEDS, **options) -> list[str]:
    """Run ``extra_seeds`` for both variants of every comparison of experiment ``name`` whose 95 %
    interval still contains 0 (``inconclusive at this budget``) or whose interval the seeds
    dominate (:data:`SEED_DOMINATED` of it: 3 seeds estimate that part poorly), then store the
    recomputed comparisons. Returns the variants extended (none when none needs it). The two
    variants of a claim run the same seeds, so the comparison stays paired."""
    undecided = undecided_variants(load_results(results_path(name, out)))
    if undecided:
        run_experiment(name, profile, list(extra_seeds), out,
                       select=lambda variant, seed: variant in undecided, **options)
    return sorted(undecided)


def undecided_variants(results: dict) -> set[str]:
    """The variants :func:`extend_inconclusive` adds seeds to: both variants of every comparison
    still inconclusive, or whose interval the seeds dominate."""
    return {v for c in check_claims(results) if "note" not in c and (
                c["verdict"] == stats.INCONCLUSIVE or c["seed_share"] > SEED_DOMINATED)
            for v in (c["better"], c["worse"])}


def is_extended(experiment: Experiment, profile: str) -> bool:
    """Whether the reference recipe extends ``experiment`` in ``profile``: the cpu and full sets,
    every experiment but an epoch sweep."""
    return profile in EXTENDED_PROFILES and experiment.recipe_from is None
