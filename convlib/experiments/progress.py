"""What a reference set cost and still needs: ``python -m convlib.experiments status``.

A set of the CPU profile takes a day of one-thread runs, made over several sittings
(``recipes/cpu/reference.sh``); this says, from the results files alone, where it stands. For each
experiment: the runs its file holds and those still to train (the profile's seeds; then, where
the recipe extends the experiment, :data:`~convlib.experiments.runner.EXTRA_SEEDS` for the
variants :func:`~convlib.experiments.runner.undecided_variants` names, known only once the
profile's seeds are in), the learning-rate grids still to run, the one-thread seconds spent
(:func:`experiment_cost`, also chapter 7's table), and an estimate of the seconds to go.

The estimate prices a missing run at the mean of the runs the set trained of the same network
and budget, or of the same network at other epochs scaled by the epochs (an epoch sweep before
its first run), and a missing grid at that times the set's median ratio of a grid to a run. It
leaves out what it cannot price (a network with no run yet: ``None``), counts a run or grid
another experiment will lend as if trained, and measures runs slowed by whatever ran beside them:
a guide, not a bound.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from convlib.experiments.files import RESULTS_FORMAT, ResultsFileError, load_results, results_path
from convlib.experiments.registry import EXPERIMENTS, Experiment, get_experiment
from convlib.experiments.runner import EXTRA_SEEDS, is_extended, undecided_variants
from convlib.profiles import get_profile


def experiment_cost(results: dict) -> dict:
    """What one results file cost: the runs it trained and those it copied from another experiment
    (``reused_from``: the same model, seed and budget, trained once), the trained runs' seconds
    (one thread per run in the ``cpu`` set), the slowest, and the seconds of the learning-rate
    grids it ran itself (``grid_seconds``; a copied choice costs nothing here)."""
    trained = [run["seconds"] for run in results["runs"] if not run.get("reused_from")]
    grids = [choice["seconds"] for choice in results.get("lr_selection", {}).values()
             if not choice.get("reused_from")]
    return {"trained": len(trained), "reused": len(results["runs"]) - len(trained),
            "seconds": round(sum(trained), 1), "slowest": max(trained, default=0.0),
            "grid_seconds": round(sum(grids), 1)}


def set_progress(profile: str, out: str | os.PathLike) -> list[dict]:
    """One :func:`experiment_progress` row per registered experiment, for the set of ``profile``
    in ``out`` (a :class:`ResultsFileError` for a file of the article's frame, whose experiments
    are not today's, or of another profile)."""
    found = {}
    for name in EXPERIMENTS:
        path = results_path(name, out)
        if Path(path).is_file():
            found[name] = results = load_results(path)
            made_with = results["provenance"]["profile"]
            if results["format"] != RESULTS_FORMAT or made_with != profile:
                raise ResultsFileError(
                    f"{path} is a format-{results['format']} file of profile {made_with!r}: "
                    f"status reads format-{RESULTS_FORMAT} files of profile {profile!r}")
    return [experiment_progress(name, profile, found) for name in EXPERIMENTS]


def experiment_progress(name: str, profile: str, found: dict[str, dict]) -> dict:
    """Where experiment ``name`` stands in a set of ``profile`` whose files are ``found``
    (``{name: results}``): runs ``done`` and ``to_run``, ``grids_to_run``, ``extension_known``
    (False while the profile's seeds are not all in), ``seconds`` spent and ``seconds_to_go``
    (None where a network to run has no run in the set to price it)."""
    experiment = get_experiment(name)
    results = found.get(name, {"runs": [], "lr_selection": {}})
    done = {(run["variant"], run["seed"]) for run in results["runs"]}
    to_run = [(v.name, s) for v in experiment.variants for s in get_profile(profile).seeds
              if (v.name, s) not in done]
    known = not (is_extended(experiment, profile) and (to_run or name not in found))
    if is_extended(experiment, profile) and known:
        to_run = [(v, s) for v in sorted(undecided_variants(results)) for s in EXTRA_SEEDS
                  if (v, s) not in done]
    chosen = set(results["lr_selection"])
    if experiment.recipe_from is not None:  # a sweep keeps its base's choices
        chosen |= set(found.get(experiment.recipe_from, {}).get("lr_selection", {}))
    grids = [v.name for v in experiment.variants if v.name not in chosen]
    price = _run_prices(experiment, profile, found)
    ratio = _grid_to_run_ratio(found.values())
    costs = [price.get(v) for v, _ in to_run]
    costs += [price[v] * ratio if v in price and ratio is not None else None for v in grids]
    cost = experiment_cost(results)
    return {"experiment": name, "done": len(done), "to_run": len(to_run),
            "grids_to_run": len(grids), "extension_known": known,
            "seconds": round(cost["seconds"] + cost["grid_seconds"], 1),
            "seconds_to_go": None if None in costs else round(sum(costs), 1)}


def _run_prices(experiment: Experiment, profile: str, found: dict[str, dict]) -> dict:
    """Each variant of ``experiment``'s mean trained-run seconds in the set: its network (the
    builder's ``spec``, as the runner reuses runs) at its budget, else at other epochs (same
    images), scaled by the epochs; absent when never run."""
    seconds: dict[tuple, list[float]] = {}  # (network, images, augment) -> [(seconds, epochs)]
    for other, results in found.items():
        budget = get_experiment(other).budget(get_profile(profile))
        networks = {v.name: v.build.spec for v in get_experiment(other).variants}
        for run in results["runs"]:
            if not run.get("reused_from"):
                key = (networks[run["variant"]], budget.train_size, budget.augment)
                seconds.setdefault(key, []).append((run["seconds"], budget.epochs))
    budget = experiment.budget(get_profile(profile))
    prices = {}
    for variant in experiment.variants:
        measured = seconds.get((variant.build.spec, budget.train_size, budget.augment), [])
        same = [s for s, epochs in measured if epochs == budget.epochs]
        scaled = [s * budget.epochs / epochs for s, epochs in measured]
        if same or scaled:
            prices[variant.name] = statistics.fmean(same or scaled)
    return prices


def _grid_to_run_ratio(files) -> float | None:
    """The median, over the variants of a file with both, of a learning-rate grid's seconds over
    the variant's mean trained run; None when no variant has both yet."""
    ratios = []
    for results in files:
        runs: dict[str, list[float]] = {}
        for run in results["runs"]:
            if not run.get("reused_from"):
                runs.setdefault(run["variant"], []).append(run["seconds"])
        for variant, choice in results["lr_selection"].items():
            if not choice.get("reused_from") and variant in runs:
                ratios.append(choice["seconds"] / statistics.fmean(runs[variant]))
    return statistics.median(ratios) if ratios else None
