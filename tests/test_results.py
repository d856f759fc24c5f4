"""convlib.results: comparison lines and tables carry the 95 % interval and stay portable."""

from __future__ import annotations

import os

import numpy as np
import pytest

from convlib import results as R
from convlib import stats, store
from convlib.book import unportable_numbers
from convlib.experiments.files import load_results
from convlib.experiments.registry import EXPERIMENTS


def synthetic(accuracies: dict, test_size=5000):
    """A dense_vs_conv results dict: final accuracies, the test images each run got right (the
    first ones, as many as its accuracy says) and no training-sample answers (as format 1)."""
    runs = [{"variant": variant, "seed": seed,
             "history": {"test_acc": [value], "train_eval_acc": [value], "train_loss": [1.0],
                         "train_size": 50_000},
             "test_correct": store.pack_correctness(np.arange(test_size)
                                                    < round(value * test_size))}
            for variant, values in accuracies.items() for seed, value in enumerate(values)]
    seeds = sorted({r["seed"] for r in runs})
    return {"format": 2, "experiment": "dense_vs_conv",
            "provenance": {"test_size": test_size, "epochs": 4, "profile": "cpu", "seeds": seeds},
            "variants": {v: {} for v in accuracies}, "runs": runs}


def test_comparison_line_and_table_show_the_interval_and_the_verdict():
    found = synthetic({"cnn": [0.6282, 0.6278], "mlp": [0.6152, 0.6152]})
    accuracy, gap = R.check_claims(found)
    line = R.comparison_line(accuracy)
    assert line == ("test accuracy cnn 62.8% vs mlp 61.5%; cnn - mlp +1.3 points, 95% interval "
                    "[+0.9, +1.7] (paired t, 2 seeds, 5,000 test images) -> "
                    "holds at 4 epochs, cpu set, 2 seeds")
    assert R.comparison_line(gap).startswith("train-test gap cnn 0.0% vs mlp 0.0%; mlp - cnn ")
    rows = R.comparisons_table(found)
    assert rows[1] == {"comparison": "mlp - cnn (gap)", "difference (points)": "+0.0",
                       "95% interval (points)": "[-2.7, +2.7]", "method": "analytic, unpaired",
                       "seeds": 2, "test images": 5000,
                       "verdict": "inconclusive at this budget (4 epochs, cpu set, 2 seeds)"}
    assert rows[0]["method"] == "paired t"
    assert not unportable_numbers(line + str(rows))


def test_the_reference_comparisons_use_the_stats_vocabulary():
    from convlib.experiments import EXPERIMENTS

    for name in EXPERIMENTS:
        found = R.load_reference(name)
        if found is None:
            continue
        for comparison in R.check_claims(found):
            assert comparison["verdict"] in stats.EXPERIMENT_VERDICTS
            assert comparison["verdict_text"].startswith(comparison["verdict"])
            assert comparison["method"] in (stats.METHOD, stats.ANALYTIC_METHOD)
            assert comparison["low"] <= comparison["difference"] <= comparison["high"]


def _write_set(folder, commits, profile="quick", **overrides):
    """Files of a reference set in ``folder``: one per experiment, with the given commits."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    for name, commit in zip(("stacking", "grouped", "bottleneck"), commits):
        provenance = {
            "profile": profile,
            "git_commit": commit,
            "device": "CPU (x86_64, 1 threads)",
            "threads": 1,
            "precision": "bfloat16",
            "torch": "2.14.1",
            **overrides.get(name, {}),
        }
        (folder / f"{name}.json").write_text(
            json.dumps(
                {
                    "format": 1,
                    "experiment": name,
                    "provenance": provenance,
                    "variants": {},
                    "runs": [],
                }
            )
        )


# What must be the same in every file of one set (one clean commit, one machine, one precision).
SET_KEYS = ("git_commit", "device", "threads", "precision", "torch")


def set_problems(profile: str, folder: str | os.PathLike | None = None) -> list[str]:
    """Why the files of one reference set could not be one set: files that disagree on a
    ``SET_KEYS`` entry, a commit marked ``+dirty`` or unknown, a file of another profile. Empty
    when the set is sound (or has no file yet). Only these tests call it."""
    problems, seen = [], {}
    for path in sorted(store.set_folder(profile, folder).glob("*.json")):
        if path.stem not in EXPERIMENTS:
            continue
        provenance = load_results(path)["provenance"]
        if provenance.get("profile") != profile:
            problems.append(f"{path.name}: profile {provenance.get('profile')!r}, not {profile!r}")
        commit = str(provenance.get("git_commit", "unknown"))
        if commit.endswith("+dirty") or commit == "unknown":
            problems.append(f"{path.name}: made from commit {commit!r}, not one clean commit")
        for key in SET_KEYS:
            value = provenance.get(key)
            first = seen.setdefault(key, (path.name, value))
            if value != first[1]:
                problems.append(f"{path.name}: {key}={value!r}, but {first[0]} has {first[1]!r}")
    return problems


def test_a_reference_set_from_one_clean_commit_passes(tmp_path):
    _write_set(tmp_path, ["abc"] * 3)
    assert set_problems("quick", tmp_path) == []


def test_a_reference_set_that_mixes_commits_threads_or_a_dirty_tree_fails(tmp_path):
    _write_set(tmp_path, ["abc", "abc+dirty", "def"], grouped={"threads": 2})
    problems = set_problems("quick", tmp_path)
    assert any("abc+dirty" in p and "not one clean commit" in p for p in problems)
    assert any("git_commit=" in p and "bottleneck.json has 'def'" in p for p in problems)
    assert any(p.startswith("grouped.json: threads=2") for p in problems)
    _write_set(tmp_path / "cpu", ["abc"] * 3, profile="quick")
    assert any("profile 'quick', not 'cpu'" in p for p in set_problems("cpu", tmp_path))


def test_the_committed_reference_sets_are_each_one_clean_commit_one_machine_one_precision():
    for profile in R.REFERENCE_SETS:
        assert set_problems(profile) == [], profile


def test_load_reference_prefers_a_complete_cpu_set(tmp_path):
    import json

    from convlib.experiments import get_experiment

    def write(folder, profile, seeds):
        folder.mkdir(parents=True, exist_ok=True)
        runs = [{"variant": v.name, "seed": s, "history": {"test_acc": [0.5]}}
                for v in get_experiment("separable").variants for s in seeds]
        (folder / "separable.json").write_text(json.dumps({
            "format": 2, "experiment": "separable", "provenance": {"profile": profile},
            "variants": {}, "runs": runs}))

    write(tmp_path, "quick", (0, 1))
    write(tmp_path / "cpu", "cpu", (0, 1))  # seed 2 missing: incomplete, not used
    assert R.load_reference("separable", tmp_path)["provenance"]["profile"] == "quick"
    assert R.load_reference("separable", tmp_path, profile="cpu")["provenance"]["profile"] == "cpu"
    write(tmp_path / "cpu", "cpu", (0, 1, 2))
    assert R.load_reference("separable", tmp_path)["provenance"]["profile"] == "cpu"
    write(tmp_path / "full", "full", (0, 1, 2))  # the GPU set (recipes/gpu/reference.sh) wins
    assert R.load_reference("separable", tmp_path)["provenance"]["profile"] == "full"


def test_pareto_front_keeps_only_undominated_variants():
    assert R._on_front([(1, 0.5), (2, 0.6), (3, 0.55), (2, 0.6), (0.5, 0.4)]) == [
        True,
        True,
        False,
        True,
        True,
    ]


def test_pareto_points_of_the_reference_results():
    found = {name: R.load_reference(name) for name in ("stacking", "grouped", "dense_vs_conv")}
    rows = R.pareto_points({k: v for k, v in found.items() if v is not None})
    assert rows and all(r["block_weights"] > 0 for r in rows)  # the MLP is left out
    assert all(r["low"] <= r["test_acc"] <= r["high"] and r["ms_per_image"] > 0 for r in rows)
    best = max(rows, key=lambda r: r["test_acc"])
    assert best["front_weights"] and best["front_time"]  # the most accurate is never dominated
    lightest = min(rows, key=lambda r: r["block_weights"])
    assert lightest["front_weights"]


def test_load_set_never_mixes_budgets(tmp_path):
    import json

    from convlib.experiments import get_experiment

    def write(folder, name, profile, seeds):
        folder.mkdir(parents=True, exist_ok=True)
        runs = [{"variant": v.name, "seed": s, "history": {"test_acc": [0.5]}}
                for v in get_experiment(name).variants for s in seeds]
        (folder / f"{name}.json").write_text(
            json.dumps(
                {
                    "format": 1,
                    "experiment": name,
                    "provenance": {"profile": profile},
                    "variants": {},
                    "runs": runs,
                }
            )
        )

    for name in ("separable", "grouped"):
        write(tmp_path, name, "quick", (0, 1))
    write(tmp_path / "cpu", "separable", "cpu", (0, 1, 2))  # grouped's cpu file is missing
    profile, found = R.load_set(["separable", "grouped"], tmp_path)
    assert profile == "quick" and {r["provenance"]["profile"] for r in found.values()} == {"quick"}
    write(tmp_path / "cpu", "grouped", "cpu", (0, 1, 2))
    assert R.load_set(["separable", "grouped"], tmp_path)[0] == "cpu"  # a tie: the stronger set
    profile, found = R.load_set(["separable", "grouped", "stacking"], tmp_path)
    assert profile == "cpu" and sorted(found) == ["grouped", "separable"]  # stacking: nowhere
    assert R.load_set(["stacking"], tmp_path) == (None, {})


def test_accuracy_curves_carry_the_95_percent_interval_per_epoch():
    found = synthetic({"cnn": [0.62, 0.64], "mlp": [0.60, 0.60]})
    found["runs"][0]["history"]["test_acc"] = [0.5, 0.62]
    found["runs"][1]["history"]["test_acc"] = [0.52, 0.64]
    for run in found["runs"][2:]:
        run["history"]["test_acc"] = [0.55, 0.60]
    curve = R.curves(found)["cnn"]
    assert (curve["low"][1], curve["high"][1]) == stats.accuracy_interval([0.62, 0.64], 5000)[1:]
    assert curve["low"][0] < curve["mean"][0] < curve["high"][0]


def test_set_cost_counts_a_reused_run_once_where_it_was_trained():
    made = synthetic({"cnn": [0.6, 0.62], "mlp": [0.5, 0.5]})
    for run, seconds in zip(made["runs"], (100.0, 120.5, 10.0, 12.0)):
        run["seconds"] = seconds
    copied = synthetic({"cnn": [0.6, 0.62], "mlp": [0.5, 0.5]})
    for run, seconds in zip(copied["runs"], (100.0, 120.5, 30.0, 31.0)):
        run["seconds"] = seconds
    for run in copied["runs"][:2]:
        run["reused_from"] = "dense_vs_conv/cnn"
    made["lr_selection"] = {"cnn": {"lr": 0.1, "seconds": 300.0},
                            "mlp": {"lr": 0.2, "seconds": 40.5}}
    copied["lr_selection"] = {"cnn": {"lr": 0.1, "seconds": 300.0,
                                      "reused_from": "made/cnn"},
                              "mlp": {"lr": 0.2, "seconds": 41.0}}
    rows = R.set_cost({"made": made, "copied": copied})
    assert rows == [
        {"experiment": "made", "trained": 4, "reused": 0, "seconds": 242.5, "slowest": 120.5,
         "grid_seconds": 340.5},
        {"experiment": "copied", "trained": 2, "reused": 2, "seconds": 61.0, "slowest": 31.0,
         "grid_seconds": 41.0},
    ]
    del made["lr_selection"]  # format 1: no grids
    assert R.set_cost({"made": made})[0]["grid_seconds"] == 0.0


def test_the_cpu_reference_set_cost_is_the_sum_of_its_trained_runs():
    _, found = R.load_set(list(EXPERIMENTS))
    rows = R.set_cost(found)
    assert all(
        row["trained"] + row["reused"] == len(found[row["experiment"]]["runs"]) for row in rows
    )
    assert all(0 < row["slowest"] <= row["seconds"] for row in rows if row["trained"])


def test_comparison_line_says_why_a_decided_interval_reads_otherwise():
    budget = "4 epochs, cpu set, 3 seeds"
    comparison = {"better": "g8-wide", "worse": "g1", "metric": "test_acc", "mean_better": 0.436,
                  "mean_worse": 0.745, "difference": -0.3095, "low": -0.5437, "high": -0.1846,
                  "method": stats.METHOD, "seeds": 3, "test_images": 10000,
                  "verdict": stats.NOT_COMPARABLE, "interval_verdict": stats.CONTRADICTED,
                  "verdict_text": stats.with_budget(stats.NOT_COMPARABLE, budget),
                  "unstable": {"g8-wide": [0, 2]}}
    line = R.comparison_line(comparison)
    assert line.endswith(
        "-> not comparable: this recipe is unstable for this variant (4 epochs, cpu "
        "set, 3 seeds) (training of g8-wide unstable with seeds 0, 2: the interval "
        "alone says contradicted)"
    )
    comparison.update(unstable={}, verdict=stats.UNDER_TRAINED,
                      verdict_text=stats.with_budget(stats.UNDER_TRAINED, budget))
    assert R.comparison_line(comparison).endswith("(g8-wide still catching up in the last epoch: "
                                                  "the interval alone says contradicted)")
    del comparison["interval_verdict"]
    assert R.comparison_line(comparison).endswith(
        f"-> {stats.with_budget(stats.UNDER_TRAINED, budget)}"
    )


def test_stability_text_counts_the_unstable_runs_of_each_variant():
    found = synthetic({"cnn": [0.6, 0.62], "mlp": [0.5, 0.5]})
    for run, losses in zip(found["runs"], ([2.0, 1.5], [2.0, 1.5], [2.0, 1.4, 2.3], [2.0, 1.9])):
        run["history"]["train_loss"] = losses
    assert R.stability_text(found) == "cnn: 0 of 2 runs; mlp: 1 of 2 runs (seed 0)"


def test_images_per_second_is_the_median_over_every_epoch_of_every_run():
    found = synthetic({"cnn": [0.6, 0.62], "mlp": [0.5, 0.5]})
    for run, rates in zip(found["runs"], ([100.0, 300.0], [200.0, 50.0], [1.0, 2.0], [3.0, 4.0])):
        run["history"]["images_per_second"] = rates
    assert R.images_per_second(found, "cnn") == 200.0  # of 50, 100, 200, 300: the upper middle
    assert R.images_per_second(found, "mlp") == 3.0
    with pytest.raises(ValueError, match="variant 'gcn'"):
        R.images_per_second(found, "gcn")


def _gaussian(sigma: float, size: int = 21) -> list[list[float]]:
    rows, cols = np.indices((size, size)) - size // 2
    values = np.exp(-(rows**2 + cols**2) / (2 * sigma**2))
    return (values / values.sum()).tolist()


def erf_results(spreads: dict, losses=(2.0, 1.5, 1.2, 1.0)) -> dict:
    """A results file whose runs store ERF maps: Gaussians of the given per-seed widths (sigma per
    axis) after training, all of width 2 before."""
    runs = [{"variant": variant, "seed": seed,
             "history": {"train_loss": list(losses), "test_acc": [0.5]},
             "erf": {"images": 64, "init": _gaussian(2.0), "trained": _gaussian(sigma)}}
            for variant, sigmas in spreads.items() for seed, sigma in enumerate(sigmas)]
    return {"format": 2, "experiment": "large_kernel", "variants": {v: {} for v in spreads},
            "provenance": {"epochs": 4, "profile": "cpu", "seeds": [0, 1, 2]}, "runs": runs}


def test_erf_rows_and_maps_average_the_seeds_maps():
    found = erf_results({"wide": [3.0, 3.1, 2.9], "narrow": [1.5, 1.6, 1.4]})
    found["runs"].append({"variant": "mlp", "seed": 0, "history": {"train_loss": [1.0]}})
    found["variants"]["mlp"] = {}
    assert R.erf_variants(found) == ["wide", "narrow"]
    np.testing.assert_allclose(
        R.erf_map(found, "wide"), np.mean([_gaussian(s) for s in (3.0, 3.1, 2.9)], axis=0))
    rows = {row["variant"]: row for row in R.erf_rows(found, radius=2)}
    # a Gaussian of sigma s per axis spreads R = s * sqrt(2) (to sampling error on 21 x 21)
    assert rows["narrow"]["trained spread (px)"] == pytest.approx(1.5 * np.sqrt(2), abs=0.02)
    assert rows["wide"]["untrained spread (px)"] == rows["narrow"]["untrained spread (px)"]
    assert rows["narrow"]["trained within 2 px (%)"] > rows["wide"]["trained within 2 px (%)"]
    curves = R.erf_mass_curves(found, range(0, 11))
    assert curves["wide"]["trained"][-1] == pytest.approx(1.0, abs=0.01)
    assert all(a <= b for a, b in zip(curves["wide"]["trained"], curves["wide"]["trained"][1:]))
    with pytest.raises(ValueError, match=r"variant must be one of .*'wide', 'narrow'"):
        R.erf_map(found, "mlp")
    with pytest.raises(ValueError, match="stage must be one of"):
        R.erf_radii(found, "wide", "final")


def test_erf_comparison_says_holds_contradicted_inconclusive_or_not_comparable():
    spread = {"wide": [3.0, 3.1, 2.9], "narrow": [1.5, 1.6, 1.4], "same": [2.9, 3.2, 3.0]}
    found = erf_results(spread)
    wide = R.erf_comparison(found, "wide", "narrow")
    assert wide["verdict"] == stats.HOLDS and wide["low"] > 0
    assert wide["verdict_text"] == "holds at 4 epochs, cpu set, 3 seeds"
    assert wide["difference"] == pytest.approx(1.5 * np.sqrt(2), abs=0.02)
    line = R.erf_comparison_line(wide)
    assert line.startswith("ERF spread (trained) wide - narrow +2.11 pixels, "
                           "95% interval [+1.79, +2.42]")
    assert line.endswith("(Welch t over 3 and 3 seeds) -> holds at 4 epochs, cpu set, 3 seeds")
    assert not unportable_numbers(line)
    assert R.erf_comparison(found, "narrow", "wide")["verdict"] == stats.CONTRADICTED
    assert R.erf_comparison(found, "wide", "same")["verdict"] == stats.INCONCLUSIVE
    assert R.erf_comparison(found, "wide", "narrow", stage="init")["difference"] == 0.0
    unstable = erf_results(spread, losses=(2.0, 1.2, 2.3, 2.3))
    assert R.erf_comparison(unstable, "wide", "narrow")["verdict"] == stats.NOT_COMPARABLE
