"""What a reference set still needs: ``python -m convlib.experiments status``.

A set of the CPU profile takes a day of one-thread runs, made over several sittings
(``recipes/cpu/reference.sh``); this says, from the results files alone, where it stands. For each
experiment: the runs its file holds and those still to train (the profile's seeds; then, where
the recipe extends the experiment, :data:`~convlib.experiments.runner.EXTRA_SEEDS` for the
variants :func:`~convlib.experiments.runner.undecided_variants` names, known only once the
profile's seeds are in), the learning-rate grids still to run, the one-thread seconds spent, and
an estimate of the seconds to go: a missing run at its variant's mean measured run (an epoch
sweep's variant, before its first run, at its base experiment's scaled by the epochs), a missing
grid at that times the set's measured ratio of a grid to a run (an epoch sweep runs none once its
base has chosen). A run or a grid another experiment will lend (``reused_from``) is counted as if
trained, and runs measured beside other work are slow: the estimate is an upper bound. A variant
with no measured run has no estimate (``None``).
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from convlib.experiments.files import RESULTS_FORMAT, load_results, results_path
from convlib.experiments.registry import EXPERIMENTS, get_experiment
from convlib.experiments.runner import EXTRA_SEEDS, is_extended, undecided_variants
from convlib.profiles import get_profile


def set_progress(profile: str, out: str | os.PathLike) -> list[dict]:
    """One :func:`experiment_progress` row per registered experiment, for the set in ``out`` (a
    ``ValueError`` for a file of another format, whose experiments are not today's, or of
    another profile)."""
    found = {name: load_results(results_path(name, out)) for name in EXPERIMENTS
             if Path(results_path(name, out)).is_file()}
    for name, results in found.items():
        if results["format"] != RESULTS_FORMAT:
            raise ValueError(f"{results_path(name, out)} is a format-{results['format']} file "
                             "(the article's frame): status describes sets of today's "
                             f"experiments, format {RESULTS_FORMAT}")
        if results["provenance"]["profile"] != profile:
            raise ValueError(f"{results_path(name, out)} was made with profile "
                             f"{results['provenance']['profile']!r}, not {profile!r}")
    ratio = grid_to_run_ratio(found.values())
    return [experiment_progress(name, profile, found, ratio) for name in EXPERIMENTS]


def grid_to_run_ratio(files) -> float | None:
    """The median, over variants that have both, of a learning-rate grid's seconds over the
    variant's mean run seconds in the same file; None when no variant has both yet."""
    ratios = []
    for results in files:
        means = _mean_run_seconds(results)
        for variant, choice in results.get("lr_selection", {}).items():
            if "reused_from" not in choice and variant in means and "seconds" in choice:
                ratios.append(choice["seconds"] / means[variant])
    return statistics.median(ratios) if ratios else None


def experiment_progress(name: str, profile: str, found: dict[str, dict],
                        ratio: float | None) -> dict:
    """Where experiment ``name`` stands in a set whose files are ``found`` (``{name: results}``):
    ``done`` and ``to_run`` (runs), ``grids_to_run``, ``extension_known`` (False while the
    profile's seeds are not all in), ``seconds`` spent and ``seconds_to_go`` (None where a
    variant has no measured run)."""
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
    per_run = _mean_run_seconds(results)
    if experiment.recipe_from is not None and experiment.recipe_from in found:
        base = _mean_run_seconds(found[experiment.recipe_from])
        per_run = {v: seconds * experiment.epoch_factor for v, seconds in base.items()} | per_run
    costs = [per_run.get(v) for v, _ in to_run]
    costs += [per_run[v] * ratio if v in per_run and ratio is not None else None for v in grids]
    spent = sum(run["seconds"] for run in results["runs"] if "reused_from" not in run)
    spent += sum(choice.get("seconds", 0.0) for choice in results["lr_selection"].values()
                 if "reused_from" not in choice)
    return {"experiment": name, "done": len(done), "to_run": len(to_run),
            "grids_to_run": len(grids), "extension_known": known, "seconds": round(spent, 1),
            "seconds_to_go": None if None in costs else round(sum(costs), 1)}


def _mean_run_seconds(results: dict) -> dict[str, float]:
    """Each variant's mean seconds over the runs this file trained itself."""
    seconds: dict[str, list[float]] = {}
    for run in results["runs"]:
        if "reused_from" not in run:
            seconds.setdefault(run["variant"], []).append(run["seconds"])
    return {variant: statistics.fmean(values) for variant, values in seconds.items()}
