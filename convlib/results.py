"""The reference results under ``book/results/``: loading them and summarising curves for figures.

The files are written by ``python -m convlib.experiments run NAME`` (never by hand); the chapters
read them through this module so that every figure and verdict comes from one place.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from convlib import stats
from convlib.erf import mass_within, rms_radius
from convlib.experiments.files import file_variants, load_results, results_path
from convlib.experiments.progress import experiment_cost
from convlib.experiments.registry import SWEEP, get_experiment
from convlib.experiments.verdicts import budget_text, check_claims, summarize, unstable_seeds
from convlib.profiles import get_profile
from convlib.store import set_folder

# The reference sets, strongest first: the CPU reference (all of CIFAR-10, profile 'cpu') in
# book/results/cpu/, then the laptop one (profile 'quick') in book/results/.
REFERENCE_SETS = ("full", "cpu", "quick")  # strongest first: GPU (recipes/gpu), CPU, laptop


def is_complete(results: dict) -> bool:
    """Every variant of the experiment has run with every seed of the file's profile."""
    seeds = get_profile(results["provenance"]["profile"]).seeds
    done = {(r["variant"], r["seed"]) for r in results["runs"]}
    return all((v, s) in done for v in file_variants(results) for s in seeds)


def load_reference(name: str, folder: str | os.PathLike | None = None,
                   profile: str | None = None) -> dict | None:
    """The reference results of experiment ``name``: from the set of ``profile`` when given, else
    from the strongest set whose file for ``name`` is complete (the GPU reference, then the CPU
    one, then quick), else the quick set's partial file (its missing runs show as "not run yet");
    None if no set has them."""
    found = []
    for candidate in (profile,) if profile is not None else REFERENCE_SETS:
        path = results_path(name, set_folder(candidate, folder))
        if Path(path).is_file():
            results = load_results(path)
            if profile is not None or is_complete(results):
                return results
            found.append(results)
    return found[-1] if found else None  # no complete file: the weakest set's partial one


def load_set(
    names: list[str], folder: str | os.PathLike | None = None
) -> tuple[str | None, dict[str, dict]]:
    """``(profile, {name: results})`` from one reference set (:data:`REFERENCE_SETS`), so that a
    figure comparing experiments never mixes budgets: the set with complete files for the most of
    ``names`` (the stronger set on a tie), with only those files; ``(None, {})`` when no set has
    any. The caller says which of ``names`` are missing."""
    best: tuple[str | None, dict[str, dict]] = (None, {})
    for profile in REFERENCE_SETS:
        found = {name: load_reference(name, folder, profile=profile) for name in names}
        found = {name: r for name, r in found.items() if r is not None and is_complete(r)}
        if len(found) > len(best[1]):
            best = (profile, found)
    return best

def curves(results: dict, metric: str = "test_acc") -> dict[str, dict[str, list[float]]]:
    """Per variant and epoch: the mean of ``metric`` over seeds, its sample standard deviation,
    and, for an accuracy measured on the test set or the equally large training sample
    (``test_acc``, ``train_eval_acc``), the 95 % interval of the mean, ``low`` and ``high``
    (:func:`convlib.stats.accuracy_interval`: seed spread plus the images' sampling noise)."""
    n_images = results["provenance"].get("test_size")
    with_interval = metric in ("test_acc", "train_eval_acc") and n_images
    out = {}
    for variant in results["variants"]:
        runs = [r["history"][metric] for r in results["runs"] if r["variant"] == variant]
        epochs = min(len(r) for r in runs)
        mean = [sum(r[e] for r in runs) / len(runs) for e in range(epochs)]
        std = [
            math.sqrt(sum((r[e] - mean[e]) ** 2 for r in runs) / (len(runs) - 1))
            if len(runs) > 1
            else 0.0
            for e in range(epochs)
        ]
        out[variant] = {"mean": mean, "std": std, "seeds": len(runs)}
        if with_interval:
            bounds = [
                stats.accuracy_interval([r[e] for r in runs], n_images)[1:] for e in range(epochs)
            ]
            out[variant].update(low=[b[0] for b in bounds], high=[b[1] for b in bounds])
    return out


def table(results: dict) -> list[dict]:
    """One row per variant: label, weights, final test accuracy mean/std, train-test gap, seeds."""
    accuracy, gap = summarize(results, "test_acc"), summarize(results, "gap")
    rows = []
    for variant, info in results["variants"].items():
        rows.append(
            {
                "variant": variant,
                "label": info["label"],
                "block_weights": info["block_weights"],
                "total_params": info["total_params"],
                "test_acc_mean": round(accuracy[variant]["mean"], 4),
                "test_acc_std": round(accuracy[variant]["std"], 4),
                "gap_mean": round(gap[variant]["mean"], 4),
                "seeds": accuracy[variant]["n"],
            }
        )
    return rows


def provenance_line(results: dict) -> str:
    """One sentence saying what produced the numbers: data set, profile, seeds, device, date."""
    p = results["provenance"]
    return (f"{p['dataset']}, profile '{p['profile']}' ({p['train_size']:,} training and "
            f"{p['test_size']:,} test images, {p['epochs']} epochs"
            f"{'' if p.get('augment', True) else ', no augmentation'}), seeds {p['seeds']}, "
            f"{p['device']}, {p.get('precision', 'float32')}, torch {p['torch']}, "
            f"{p.get('updated', p.get('started', ''))[:10]}")


def method_text(comparison: dict) -> str:
    """The interval's method in a few words (for tables): paired t or analytic."""
    return "paired t" if comparison.get("method") == stats.METHOD else "analytic, unpaired"


def _direction(comparison: dict) -> str:
    """Which difference is reported: the claim's favour, better - worse (worse - better for a
    gap)."""
    first, second = (
        (comparison["better"], comparison["worse"])
        if comparison["metric"] == "test_acc"
        else (comparison["worse"], comparison["better"])
    )
    return f"{first} - {second}"


def comparison_line(comparison: dict) -> str:
    """One line for a comparison of :func:`check_claims`: the means, the difference in the claim's
    favour with its 95 % interval (points, one decimal), method, seeds, test images, verdict."""
    if "note" in comparison:
        return f"{comparison['verdict_text']} ({comparison['note']})"
    what = "test accuracy" if comparison["metric"] == "test_acc" else "train-test gap"
    return (
        f"{what} {comparison['better']} {100 * comparison['mean_better']:.1f}% vs "
        f"{comparison['worse']} {100 * comparison['mean_worse']:.1f}%; {_direction(comparison)} "
        f"{100 * comparison['difference']:+.1f} points, 95% interval "
        f"[{100 * comparison['low']:+.1f}, {100 * comparison['high']:+.1f}] "
        f"({method_text(comparison)}, {comparison['seeds']} seeds, {comparison['test_images']:,} "
        f"test images) -> {comparison['verdict_text']}{_caveat_text(comparison)}"
    )


def _caveat_text(comparison: dict) -> str:
    """Why a comparison whose interval is decided reads otherwise (the loser's unstable training
    or its under-training, :func:`convlib.experiments.comparison_dict`); empty otherwise."""
    if "interval_verdict" not in comparison:
        return ""
    unstable = comparison.get("unstable", {})
    loser = comparison["worse"] if comparison["difference"] > 0 else comparison["better"]
    why = (f"training of {loser} unstable with {_seeds_text(unstable[loser])}" if loser in unstable
           else f"{loser} still catching up in the last epoch")
    return f" ({why}: the interval alone says {comparison['interval_verdict']})"


def _seeds_text(seeds: list[int]) -> str:
    """``[1]`` -> ``"seed 1"``, ``[0, 2]`` -> ``"seeds 0, 2"``."""
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def comparisons_table(results: dict) -> list[dict]:
    """One row per comparison of the experiment: statement, difference in the claim's favour and its
    95 % interval (points, one decimal), method, seeds, test images and verdict."""
    rows = []
    for c in check_claims(results):
        done = "note" not in c
        what = "test accuracy" if c["metric"] == "test_acc" else "gap"
        interval = f"[{100 * c['low']:+.1f}, {100 * c['high']:+.1f}]" if done else "-"
        rows.append({"comparison": f"{_direction(c)} ({what})",
                     "difference (points)": f"{100 * c['difference']:+.1f}" if done else "-",
                     "95% interval (points)": interval,
                     "method": method_text(c) if done else "-", "seeds": c.get("seeds", 0),
                     "test images": c.get("test_images", 0), "verdict": c["verdict_text"]})
    return rows


def _on_front(points: list[tuple[float, float]]) -> list[bool]:
    """Which (cost, accuracy) points no other point dominates (no more cost and no less accuracy,
    better in one)."""
    return [
        not any(c2 <= c and a2 >= a and (c2 < c or a2 > a) for c2, a2 in points) for c, a in points
    ]


def images_per_second(results: dict, variant: str) -> float:
    """The training rate of ``variant``: the median over its runs' epochs of the measured images
    per second (the median, so that an epoch slowed by other work on the machine moves it
    little)."""
    rates = sorted(rate for run in results["runs"] if run["variant"] == variant
                   for rate in run["history"]["images_per_second"])
    if not rates:
        raise ValueError(f"no measured training rate for variant {variant!r}")
    return rates[len(rates) // 2]


def pareto_points(experiments: dict[str, dict]) -> list[dict]:
    """Every convolutional variant of the given results (``{name: results}``, all of one budget),
    once per distinct model: convolution weights, mean test accuracy with its 95 % interval
    (:func:`convlib.stats.accuracy_interval`), the measured training time per image (ms, the median
    over its runs' epochs, from the runs' ``images_per_second``), and whether it is on the Pareto
    front of accuracy against weights (``front_weights``) and against time (``front_time``).
    Variants without convolutions (the MLP) are left out: their weight count is not comparable."""
    rows, seen = [], set()
    for name, results in experiments.items():
        accuracy = summarize(results, "test_acc")
        for variant in file_variants(results):
            info = results["variants"].get(variant)
            if info is None or not info["block_weights"]:
                continue
            spec = _construction(results, variant)
            if spec in seen:
                continue
            seen.add(spec)
            mean, low, high = stats.accuracy_interval(accuracy[variant]["values"],
                                                      results["provenance"]["test_size"])
            rows.append(
                {
                    "experiment": name,
                    "variant": variant,
                    "label": info["label"],
                    "block_weights": info["block_weights"],
                    "test_acc": mean,
                    "low": low,
                    "high": high,
                    "ms_per_image": round(1000 / images_per_second(results, variant), 3),
                }
            )
    for key, cost in (("front_weights", "block_weights"), ("front_time", "ms_per_image")):
        for row, on in zip(rows, _on_front([(r[cost], r["test_acc"]) for r in rows])):
            row[key] = on
    return rows


def epoch_sweep(name: str, folder: str | os.PathLike | None = None,
                profile: str | None = None) -> list[dict]:
    """How the budget moves the first claim of experiment ``name``: one row per number of
    epochs, from ``name`` and its sweep experiments (``name_short``, ``name_long``:
    :data:`convlib.experiments.SWEEP`) in one reference set (``profile``, else the strongest set
    whose files are all complete), each with the set (its name in :data:`REFERENCE_SETS`) and the
    claim's difference, 95 % interval and verdict with its budget; rows in epoch order. Empty
    when no set holds all three files complete."""
    names = [name] + [f"{name}_{label}" for label in SWEEP]
    for candidate in (profile,) if profile is not None else REFERENCE_SETS:
        found = [load_reference(n, folder, profile=candidate) for n in names]
        if all(r is not None and is_complete(r) for r in found):
            rows = [{"epochs": r["provenance"]["epochs"], "set": candidate,
                     **_claim_numbers(check_claims(r)[0])} for r in found]
            return sorted(rows, key=lambda row: row["epochs"])
    return []


def sweep_text(rows: list[dict]) -> str:
    """Whether a comparison's verdict survives the budget, from the rows of
    :func:`epoch_sweep`: ``"holds at every budget (2, 4 and 8 epochs): stable"``, or each
    verdict with its epochs and ``"the verdict changes with the budget"``."""
    if not rows:
        return "not available yet"
    by_verdict: dict[str, list[int]] = {}
    for row in rows:  # "inconclusive at this budget" reads "inconclusive at 2 epochs"
        verdict = row["verdict"].removesuffix(" at this budget")
        by_verdict.setdefault(verdict, []).append(row["epochs"])

    def epochs_text(epochs: list[int]) -> str:
        words = [str(e) for e in epochs]
        return (", ".join(words[:-1]) + " and " + words[-1]) if len(words) > 1 else words[0]

    if len(by_verdict) == 1:
        (verdict, epochs), = by_verdict.items()
        return f"{verdict} at every budget ({epochs_text(epochs)} epochs): stable"
    parts = [f"{verdict} at {epochs_text(epochs)} epochs" for verdict, epochs in by_verdict.items()]
    return "; ".join(parts) + ": the verdict changes with the budget"


def _claim_numbers(comparison: dict) -> dict:
    return {
        key: comparison[key] for key in ("difference", "low", "high", "verdict", "verdict_text")
    }


def _construction(results: dict, variant: str) -> tuple:
    """What makes two experiments' variants the same network: the builder and its options (a
    format-1 file: the label and the weight count it stored)."""
    if results["format"] == 1:
        info = results["variants"][variant]
        return ("format 1", info["label"], info["block_weights"])
    for candidate in get_experiment(results["experiment"]).variants:
        if candidate.name == variant:
            return getattr(candidate.build, "spec", (results["experiment"], variant))
    raise ValueError(f"variant must be one of the experiment's variants; got {variant!r}")


def stability_text(results: dict) -> str:
    """Per variant, how many runs went unstable (:func:`convlib.experiments.unstable_seeds`: a
    training loss that climbs back up by more than a quarter of its fall), e.g. ``"g1: 0 of 3
    runs; g8-wide: 2 of 3 runs (seeds 1, 2)"``."""
    parts = []
    for variant in results["variants"]:
        seeds = unstable_seeds(results, variant)
        n = sum(run["variant"] == variant for run in results["runs"])
        where = f" ({_seeds_text(seeds)})" if seeds else ""
        parts.append(f"{variant}: {len(seeds)} of {n} run{'s' if n != 1 else ''}{where}")
    return "; ".join(parts)


ERF_STAGES = ("init", "trained")  # the stored maps: before training and after it
SPREAD_DECIMALS = 2  # ERF spreads and their differences (pixels): far above 1e-6 rounding


def erf_variants(results: dict) -> list[str]:
    """The variants of ``results`` whose runs store effective receptive fields, in file order."""
    return [v for v in results["variants"]
            if any(run["variant"] == v and "erf" in run for run in results["runs"])]


def _erf_runs(results: dict, variant: str, stage: str) -> list[dict]:
    if stage not in ERF_STAGES:
        raise ValueError(f"stage must be one of {list(ERF_STAGES)}; got {stage!r}")
    runs = [run for run in results["runs"] if run["variant"] == variant and "erf" in run]
    if not runs:
        raise ValueError(f"variant must be one of the variants with stored ERF maps "
                         f"{erf_variants(results)}; got {variant!r}")
    return runs


def erf_map(results: dict, variant: str, stage: str = "trained") -> np.ndarray:
    """The mean over seeds of ``variant``'s stored ERF maps (``stage``: before or after
    training), each a share of its total per input pixel (:mod:`convlib.erf`)."""
    maps = [np.asarray(run["erf"][stage], dtype=np.float64)
            for run in _erf_runs(results, variant, stage)]
    return np.mean(maps, axis=0)


def erf_radii(results: dict, variant: str, stage: str = "trained") -> list[float]:
    """``variant``'s ERF spread (:func:`convlib.erf.rms_radius`, pixels), one value per seed."""
    return [rms_radius(run["erf"][stage]) for run in _erf_runs(results, variant, stage)]


def erf_rows(results: dict, radius: float = 4) -> list[dict]:
    """One row per variant with ERF maps: seeds, the mean spread (pixels,
    :func:`convlib.erf.rms_radius`) untrained and trained, and the mean share of the map within
    ``radius`` pixels of the centre (%)."""
    rows = []
    for variant in erf_variants(results):
        row = {"variant": variant, "seeds": len(_erf_runs(results, variant, "trained"))}
        for stage, word in zip(ERF_STAGES, ("untrained", "trained")):
            runs = _erf_runs(results, variant, stage)
            row[f"{word} spread (px)"] = round(float(np.mean(erf_radii(results, variant, stage))),
                                               SPREAD_DECIMALS)
            share = np.mean([mass_within(run["erf"][stage], radius) for run in runs])
            row[f"{word} within {radius:g} px (%)"] = round(100 * float(share), 1)
        rows.append(row)
    return rows


def erf_mass_curves(results: dict, radii: range | list) -> dict[str, dict[str, list[float]]]:
    """Per variant with ERF maps and per stage: the mean over seeds of the share of the map
    within each radius of ``radii`` (pixels), for a cumulative figure."""
    return {variant: {stage: [float(np.mean([mass_within(run["erf"][stage], r)
                                             for run in _erf_runs(results, variant, stage)]))
                              for r in radii]
                      for stage in ERF_STAGES}
            for variant in erf_variants(results)}


def erf_comparison(results: dict, wider: str, narrower: str, stage: str = "trained") -> dict:
    """The claim "``wider``'s effective receptive field is wider than ``narrower``'s": the
    difference of their mean spreads (pixels, :func:`convlib.erf.rms_radius` per seed) with its
    95 % Welch t interval over seeds (:func:`convlib.stats.welch_interval`), and the verdict with
    the file's budget: holds when the interval lies above 0, contradicted below, else
    inconclusive; not comparable when either variant had an unstable run. Every run's map is
    averaged over the same first test images (:data:`convlib.experiments.runner.ERF_IMAGES`), so
    the interval covers the seeds' variation, not the choice of images."""
    diff, low, high = stats.welch_interval(erf_radii(results, wider, stage),
                                           erf_radii(results, narrower, stage))
    seeds = tuple(len(_erf_runs(results, v, stage)) for v in (wider, narrower))
    if unstable_seeds(results, wider) or unstable_seeds(results, narrower):
        verdict = stats.NOT_COMPARABLE
    else:
        verdict = (stats.HOLDS if low > 0 else stats.CONTRADICTED if high < 0
                   else stats.INCONCLUSIVE)
    return {"wider": wider, "narrower": narrower, "stage": stage,
            "difference": round(diff, SPREAD_DECIMALS), "low": round(low, SPREAD_DECIMALS),
            "high": round(high, SPREAD_DECIMALS), "verdict": verdict,
            "verdict_text": stats.with_budget(verdict, budget_text(results, seeds)),
            "seeds": list(seeds)}


def erf_comparison_line(comparison: dict) -> str:
    """One line for :func:`erf_comparison`: the difference of spreads in pixels with its 95 %
    interval, the seeds, the verdict with its budget."""
    first, second = comparison["wider"], comparison["narrower"]
    seeds = " and ".join(str(n) for n in comparison["seeds"])
    return (f"ERF spread ({comparison['stage']}) {first} - {second} "
            f"{comparison['difference']:+.2f} pixels, 95% interval [{comparison['low']:+.2f}, "
            f"{comparison['high']:+.2f}] (Welch t over {seeds} seeds) -> "
            f"{comparison['verdict_text']}")


def set_cost(experiments: dict[str, dict]) -> list[dict]:
    """What a reference set cost to make: one row per experiment (``{name: results}``, one set),
    :func:`convlib.experiments.progress.experiment_cost` with the experiment's name."""
    return [{"experiment": name, **experiment_cost(results)}
            for name, results in experiments.items()]


__all__ = ["REFERENCE_SETS", "comparison_line", "comparisons_table", "curves", "epoch_sweep",
           "erf_comparison", "erf_comparison_line", "erf_map", "erf_mass_curves", "erf_radii",
           "erf_rows", "erf_variants", "images_per_second", "is_complete", "load_reference",
           "load_set", "method_text", "pareto_points", "provenance_line", "set_cost",
           "stability_text", "sweep_text", "table"]
