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

import torch

from convlib import data as data_module
from convlib import shards, stats, store
from convlib.device import as_device, device_name, resolve_precision
from convlib.io import REPO_ROOT as REPO_ROOT  # re-exported: tests and scripts use it
from convlib.io import atomic_write_json, git_commit
from convlib.models import MLP, ArticleNet
from convlib.profiles import PROFILE_NAMES, active_profile_name, get_profile
from convlib.train import TrainConfig, seed_everything, train

VERDICTS = stats.VERDICTS  # holds, contradicted, inconclusive at this budget
RESULTS_FORMAT = 1
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
    (``train_size``, ``epochs``, ``augment``): the overfitting experiment trains a small set long."""

    name: str
    description: str
    variants: tuple[Variant, ...]
    claims: tuple[ExperimentClaim, ...]
    budgets: dict[str, dict] = field(default_factory=dict)

    def budget(self, profile) -> dict:
        """``train_size``, ``epochs`` and ``augment`` of a run with ``profile``."""
        chosen = {"train_size": profile.train_size, "epochs": profile.epochs, "augment": True}
        return {**chosen, **self.budgets.get(profile.name, {})}


def _net(kind: str, kernel_size: int = 3, **options) -> Callable:
    def build():
        return ArticleNet(kind, kernel_size, **options)
    build.spec = ("ArticleNet", kind, kernel_size, tuple(sorted(options.items())))
    return build


def _mlp(**options) -> Callable:
    def build():
        return MLP(**options)
    build.spec = ("MLP", tuple(sorted(options.items())))
    return build


# Provenance keys that must agree for two runs to be the same computation (see _reused_run).
SAME_RUN_KEYS = ("dataset", "profile", "train_size", "test_size", "epochs", "augment", "batch_size", "lr",
                 "device", "threads", "precision", "torch")


def _reused_run(out: Path, name: str, variant: Variant, seed: int, provenance: dict) -> dict | None:
    """A run of the same model (same builder and options), seed and budget already made by another
    experiment in the folder ``out``: training it again would repeat the same computation (the
    seed fixes initialisation, batch order and augmentation), so the record is copied, marked
    ``reused_from``."""
    spec = getattr(variant.build, "spec", None)
    if spec is None:
        return None
    for path in sorted(out.glob("*.json")):
        other_name = path.stem
        if other_name == name or other_name not in EXPERIMENTS:
            continue
        other = load_results(path)
        if any(other["provenance"].get(k) != provenance.get(k) for k in SAME_RUN_KEYS):
            continue
        for twin in EXPERIMENTS[other_name].variants:
            if getattr(twin.build, "spec", None) != spec:
                continue
            for run in other["runs"]:
                if run["variant"] == twin.name and run["seed"] == seed and "reused_from" not in run:
                    return {**run, "variant": variant.name, "reused_from": f"{other_name}/{twin.name}"}
    return None


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment(
        "stacking", "One large kernel per block against the stack of 3x3 convolutions that sees as far.",
        (Variant("5x5", "one 5x5 per block", _net("plain", 5)),
         Variant("2x3x3", "two stacked 3x3 per block", _net("stacked", 5)),
         Variant("7x7", "one 7x7 per block", _net("plain", 7)),
         Variant("3x3x3", "three stacked 3x3 per block", _net("stacked", 7))),
        (ExperimentClaim("2x3x3", "5x5", "test_acc",
                         "two stacked 3x3 convolutions beat one 5x5 (the article's orange vs blue)"),
         ExperimentClaim("3x3x3", "7x7", "test_acc", "three stacked 3x3 convolutions beat one 7x7"))),
    Experiment(
        "separable", "Blocks of two normal 3x3 convolutions against two depthwise-separable 3x3.",
        (Variant("2x3x3", "two 3x3 per block", _net("stacked", 5)),
         Variant("2xsep3x3", "two separable 3x3 per block", _net("separable", 3, repeats=2))),
        (ExperimentClaim("2x3x3", "2xsep3x3", "test_acc",
               "separable convolutions are 'a bit less efficient' than normal ones (the article's orange vs red)"),)),
    Experiment(
        "bottleneck", "A plain 3x3 against a 1x1-3x3-1x1 bottleneck, at equal input and output width.",
        (Variant("3x3", "plain 3x3", _net("plain", 3, stem=64, widths=(64, 64))),
         Variant("bottleneck", "1x1-3x3-1x1 bottleneck (mid = width/4)",
                 _net("bottleneck", 3, stem=64, widths=(64, 64)))),
        (ExperimentClaim("3x3", "bottleneck", "test_acc",
                         "the full 3x3 is more accurate than its lighter bottleneck"),)),
    Experiment(
        "grouped", "A 3x3 block with 1, 2, 4 and 8 groups.",
        tuple(Variant(f"g{g}", f"3x3, {g} group{'s' if g > 1 else ''}",
                      _net("grouped", 3, stem=32, widths=(64, 64), groups=g)) for g in (1, 2, 4, 8)),
        (ExperimentClaim("g1", "g8", "test_acc",
                         "a dense (1-group) 3x3 is more accurate than an 8-group one"),)),
    Experiment(
        "dense_vs_conv", "A multilayer perceptron against a small CNN: the article's overfitting argument.",
        (Variant("mlp", "MLP 3072-512-512-10", _mlp(hidden=(512, 512))),
         Variant("cnn", "CNN, two 3x3 blocks", _net("plain", 3))),
        (ExperimentClaim("cnn", "mlp", "test_acc", "the CNN generalises better: higher test accuracy"),
         ExperimentClaim("cnn", "mlp", "gap",
                         "the CNN overfits less: smaller train-test accuracy gap"))),
    Experiment(
        "overfitting", "The same MLP and CNN on a small training set, trained long without "
        "augmentation, so that both can overfit: the setting that can test the article's claim.",
        (Variant("mlp", "MLP 3072-512-512-10", _mlp(hidden=(512, 512))),
         Variant("cnn", "CNN, two 3x3 blocks", _net("plain", 3))),
        (ExperimentClaim("cnn", "mlp", "gap", "where both can overfit, the CNN overfits less: "
                         "smaller train-test accuracy gap"),),
        budgets={"smoke": {"train_size": 500, "epochs": 3, "augment": False},
                 "quick": {"train_size": 2_000, "epochs": 40, "augment": False},
                 "cpu": {"train_size": 5_000, "epochs": 60, "augment": False},
                 "full": {"train_size": 5_000, "epochs": 60, "augment": False}}),
    Experiment(
        "stacking_matched", "Two stacked 3x3 against one 5x5 at equal convolution weights: the 5x5 "
        "network widened (36 and 72 channels) to the stack's budget (+3 % for the 5x5).",
        (Variant("2x3x3", "two stacked 3x3 per block", _net("stacked", 5)),
         Variant("5x5-wide", "one 5x5 per block, widened to equal weights",
                 _net("plain", 5, widths=(36, 72)))),
        (ExperimentClaim("2x3x3", "5x5-wide", "test_acc",
               "at equal convolution weights, two stacked 3x3 beat one (wider) 5x5"),)),
    Experiment(
        "bottleneck_deep", "ResNet's trade: the bottleneck's saved weights spent on depth, 8 "
        "bottlenecks with identity shortcuts per block (1.7 % fewer weights than the plain 3x3).",
        (Variant("3x3", "plain 3x3", _net("plain", 3, stem=64, widths=(64, 64))),
         Variant("bottleneck-deep", "8 residual bottlenecks per block",
                 _net("bottleneck", 3, stem=64, widths=(64, 64), repeats=8, residual=True))),
        (ExperimentClaim("bottleneck-deep", "3x3", "test_acc",
               "at equal weights, a deeper bottleneck network beats the plain 3x3 (ResNet's trade)"),)),
    Experiment(
        "grouped_wide", "ResNeXt's trade: the 8-group block widened (208 channels) to the dense "
        "block's weights (+2.6 %).",
        (Variant("g1", "3x3, 1 group", _net("grouped", 3, stem=32, widths=(64, 64), groups=1)),
         Variant("g8-wide", "3x3, 8 groups, widened to equal weights",
                 _net("grouped", 3, stem=32, widths=(208, 208), groups=8))),
        (ExperimentClaim("g8-wide", "g1", "test_acc",
               "at equal weights, a wider 8-group network beats the dense one (ResNeXt's trade)"),)),
    Experiment(
        "separable_wide", "Xception's and MobileNet's trade: the separable network widened (94 and "
        "188 channels) to the normal one's weights (+1.4 %).",
        (Variant("2x3x3", "two 3x3 per block", _net("stacked", 5)),
         Variant("2xsep3x3-wide", "two separable 3x3 per block, widened to equal weights",
                 _net("separable", 3, repeats=2, widths=(94, 188)))),
        (ExperimentClaim("2xsep3x3-wide", "2x3x3", "test_acc",
               "at equal weights, a wider separable network beats the normal one"),)),
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
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT or "runs" not in results:
        raise ResultsFileError(f"results file {path} is not a convlib results file (format {RESULTS_FORMAT})")
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
        "augment": plan["augment"],
        "batch_size": budget.batch_size, "lr": budget.lr,
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
                "variants": {}, "runs": []}
    results = load_results(path)
    old = results["provenance"]
    defaults = {"precision": "float32", "augment": True}  # files from before these keys
    for key in ("dataset", "profile", "train_size", "test_size", "epochs", "batch_size", "lr",
                "precision", "augment"):
        if old.get(key, defaults.get(key)) != provenance[key]:
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


def _run_one(session: _Session, results: dict, variant: Variant, seed: int) -> None:
    """Train (or reuse) one (variant, seed), add it to ``results`` and write the results file."""
    name, provenance = session.experiment.name, session.provenance
    seed_everything(seed)
    model = variant.build()
    results["variants"][variant.name] = {
        "label": variant.label, "conv_params": model.conv_params(),
        "total_params": model.total_params()}
    reused = _reused_run(session.path.parent, name, variant, seed, provenance)
    if reused is not None:
        results["runs"].append(reused)
        seconds, accuracy = 0.0, reused["history"]["test_acc"][-1]
    else:
        start = time.perf_counter()
        history = train(model, *session.tensors, session.config, seed=seed, device=session.device,
                        progress=session.progress, description=f"{name}/{variant.name}/seed {seed}")
        seconds, accuracy = time.perf_counter() - start, history.final_test_acc
        record = history.to_dict()
        results["runs"].append({"variant": variant.name, "seed": seed, "seconds": round(seconds, 2),
                                "history": record, "test_correct": record.pop("test_correct")})
    prov = results["provenance"]
    prov["seeds"] = sorted(set(prov["seeds"]) | {seed})
    prov["wall_seconds"] = round(prov["wall_seconds"] + seconds, 1)
    prov.update(device=provenance["device"], threads=provenance["threads"],
                torch=provenance["torch"], git_commit=git_commit(), updated=_now())
    _write_results(session.path, results, session.experiment)
    if session.log:
        session.log(f"{name}: {variant.name} seed {seed}: test accuracy {accuracy:.4f} "
                    + (f"(reused from {reused['reused_from']})" if reused else f"({seconds:.0f} s)"))



def _write_results(path: Path, results: dict, experiment: Experiment) -> None:
    """Recompute the comparisons of ``experiment``'s claims and write ``results`` to ``path``."""
    results["comparisons"] = [comparison_dict(results, claim) for claim in experiment.claims]
    atomic_write_json(path, results)


EXTRA_SEEDS = (3, 4)  # the reference profile's rule: 5 seeds where 3 leave a comparison undecided


def extend_inconclusive(name: str, profile: str | None = None, out: str | os.PathLike | None = None,
                        extra_seeds: tuple[int, ...] = EXTRA_SEEDS, **options) -> list[str]:
    """Run ``extra_seeds`` for both variants of every comparison of experiment ``name`` whose 95 %
    interval still contains 0 (``inconclusive at this budget``) in its results file, then store
    the recomputed comparisons. Returns the variants extended (none when every comparison is
    decided). The two variants of a claim run the same seeds, so the comparison stays paired."""
    results = load_results(results_path(name, out))
    undecided = {v for c in check_claims(results) if c["verdict"] == stats.INCONCLUSIVE and "note" not in c
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

    ``test_acc``: paired bootstrap when every run of both carries ``test_correct`` and both ran the
    same seeds on the same number of test images, else the analytic interval over the final
    accuracies. ``gap``: the analytic interval, with test-set and training-sample noise.
    """
    runs_a, runs_b = _runs(results_a, a), _runs(results_b, b)
    if not runs_a or not runs_b:
        raise ValueError(f"no runs of {a if not runs_a else b!r} in the results")
    labels = labels or (a, b)
    n_images = min(results_a["provenance"]["test_size"], results_b["provenance"]["test_size"])
    if metric == "test_acc":
        paired = (all(r.get("test_correct") for r in runs_a + runs_b)
                  and [r["seed"] for r in runs_a] == [r["seed"] for r in runs_b]
                  and len({r["test_correct"]["n"] for r in runs_a + runs_b}) == 1)
        if paired:
            return stats.compare([r["test_correct"] for r in runs_a], [r["test_correct"] for r in runs_b],
                                 labels=labels)
        return stats.compare_means([final_metric(r, metric) for r in runs_a],
                                   [final_metric(r, metric) for r in runs_b], n_images, labels=labels)
    gaps = [[final_metric(r, "gap") for r in runs] for runs in (runs_a, runs_b)]
    sampling = []
    for runs in (runs_a, runs_b):  # binomial noise of the test set and of the training sample
        test = sum(r["history"]["test_acc"][-1] for r in runs) / len(runs)
        train = sum(final_metric(r, "gap") + r["history"]["test_acc"][-1] for r in runs) / len(runs)
        sampling.append((test * (1 - test) + min(max(train, 0.0), 1.0) * (1 - min(max(train, 0.0), 1.0)))
                        / n_images)
    return stats.compare_means(gaps[0], gaps[1], n_images, labels=labels, sampling=sampling)


UNSTABLE_RISE = 0.02  # an epoch's mean training loss this much above the epoch before's


def unstable_seeds(results: dict, variant: str) -> list[int]:
    """The seeds of ``variant`` whose training went unstable: some epoch's mean training loss rose
    more than :data:`UNSTABLE_RISE` (2 %) above the epoch before's. Under the one-cycle schedule a
    sound run's training loss falls every epoch until the end; a rise is the peak learning rate
    throwing the network back (measured on the widened networks: loss back near chance, ln 10)."""
    seeds = []
    for run in _runs(results, variant):
        losses = run["history"].get("train_loss", [])  # none recorded: nothing to judge
        if any(after > before * (1 + UNSTABLE_RISE) for before, after in zip(losses, losses[1:])):
            seeds.append(run["seed"])
    return seeds


def _unstable_loser(results: dict, claim: ExperimentClaim, difference: float) -> str | None:
    """For a test-accuracy claim: the less accurate variant when some of its runs went unstable
    (its lower accuracy may then be the recipe's failure, not the network's), else None."""
    if claim.metric != "test_acc":
        return None
    loser = claim.worse if difference > 0 else claim.better
    return loser if unstable_seeds(results, loser) else None


def comparison_dict(results: dict, claim: ExperimentClaim) -> dict:
    """The claim's comparison: means and spreads per variant, then the difference in the claim's
    favour (``better - worse`` for test accuracy, ``worse - better`` for the gap), its 95 %
    interval, the method, the verdict and the explanation from :mod:`convlib.stats`."""
    summary = summarize(results, claim.metric)
    head = {"better": claim.better, "worse": claim.worse, "metric": claim.metric,
            "statement": claim.statement, "claim": stats.BETTER}
    if claim.better not in summary or claim.worse not in summary:
        return {**head, "verdict": stats.INCONCLUSIVE, "note": "not run yet"}
    a, b = summary[claim.better], summary[claim.worse]
    if claim.metric == "test_acc":
        comparison = compare_variants(results, claim.better, results, claim.worse)
    else:
        comparison = compare_variants(results, claim.worse, results, claim.better, "gap",
                                      labels=(f"{claim.worse} gap", f"{claim.better} gap"))
    judged = stats.judge(comparison, stats.BETTER)
    verdict, explanation = judged.verdict, judged.explanation
    loser = _unstable_loser(results, claim, comparison.difference)
    if loser is not None and verdict != stats.INCONCLUSIVE:
        unstable = unstable_seeds(results, loser)
        verdict = stats.INCONCLUSIVE
        explanation = (f"{explanation.rsplit(': ', 1)[0]}; but the training of {loser} went unstable "
                       f"in {len(unstable)} of {a['n'] if loser == claim.better else b['n']} runs "
                       f"(its training loss rose from one epoch to the next), so its lower "
                       f"accuracy may be the recipe's, not the network's: {verdict}")
        head.update(unstable={loser: unstable}, interval_verdict=judged.verdict)
    return {**head, "mean_better": round(a["mean"], 6), "std_better": round(a["std"], 6),
            "mean_worse": round(b["mean"], 6), "std_worse": round(b["std"], 6),
            "seeds": comparison.n_seeds, "test_images": comparison.n_images,
            "difference": comparison.difference, "low": comparison.low, "high": comparison.high,
            "confidence": comparison.confidence, "method": comparison.method,
            "verdict": verdict, "explanation": explanation}


def check_claims(results: dict) -> list[dict]:
    """The verdict of every claim of the experiment ``results`` belongs to, recomputed from its runs."""
    experiment = get_experiment(results["experiment"])
    return [comparison_dict(results, claim) for claim in experiment.claims]


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
        results = (load_results(path) if args.command == "recompare" else shards.merge_results(
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
        select = shards.selector(args.shard) if args.shard else None
        out = _profile_out(args)
        results = run_experiment(args.name, args.profile, args.seeds, out, device=args.device,
                                 select=select)
        if select:
            atomic_write_json(results_path(args.name, out), shards.tag_results(results, select))
    except (ResultsFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_verdicts(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
