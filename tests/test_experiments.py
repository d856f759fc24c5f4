"""convlib.experiments: registry, resumable runner, provenance, verdicts, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from convlib import experiments as E
from convlib import stats
from convlib.data import CIFAR10, CLASSES


@pytest.fixture(scope="module")
def fake_data():
    """A tiny stand-in for CIFAR-10 (smaller than the smoke subset, so all of it is used)."""
    g = torch.Generator().manual_seed(0)
    make = lambda n: (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),  # noqa: E731
                      torch.arange(n) % 10)
    (tx, ty), (vx, vy) = make(160), make(60)
    return CIFAR10(tx, ty, vx, vy, CLASSES, source="test fixture", lossy=False)


def run(tmp_path, fake_data, seeds, log=None):
    return E.run_experiment("dense_vs_conv", "smoke", seeds, tmp_path, data=fake_data, device="cpu",
                            progress=False, log=log)


def test_results_file_has_runs_provenance_and_verdicts(tmp_path, fake_data):
    results = run(tmp_path, fake_data, [0, 1])
    stored = json.loads((tmp_path / "dense_vs_conv.json").read_text())
    assert stored == json.loads(json.dumps(results))
    prov = stored["provenance"]
    for key in ("dataset", "jpeg_copy", "profile", "seeds", "epochs", "device", "torch", "git_commit",
                "started", "updated", "wall_seconds"):
        assert key in prov, key
    assert prov["profile"] == "smoke" and prov["seeds"] == [0, 1]
    assert {(r["variant"], r["seed"]) for r in stored["runs"]} == {(v, s) for v in ("mlp", "cnn") for s in (0, 1)}
    assert stored["variants"]["mlp"]["conv_params"] == 0
    assert all(c["verdict"] in E.VERDICTS for c in stored["comparisons"])
    assert E.check_claims(stored) == stored["comparisons"]


def test_same_seed_gives_identical_smoke_results(tmp_path, fake_data):
    a = run(tmp_path / "a", fake_data, [0])
    b = run(tmp_path / "b", fake_data, [0])
    strip = lambda r: [(x["variant"], x["history"]["train_loss"], x["history"]["test_acc"]) for x in r["runs"]]  # noqa: E731
    assert strip(a) == strip(b)


def test_rerun_skips_finished_runs(tmp_path, fake_data):
    run(tmp_path, fake_data, [0])
    messages = []
    results = run(tmp_path, fake_data, [0, 1], log=messages.append)
    assert sum("already done" in m for m in messages) == 2  # mlp and cnn, seed 0
    assert len(results["runs"]) == 4


def test_results_of_another_profile_are_never_mixed(tmp_path, fake_data):
    run(tmp_path, fake_data, [0])
    with pytest.raises(E.ResultsFileError, match="profile"):
        E.run_experiment("dense_vs_conv", "quick", [0], tmp_path, data=fake_data, device="cpu", progress=False)


def test_corrupted_results_file_gives_a_clear_error(tmp_path, fake_data):
    (tmp_path / "dense_vs_conv.json").write_text('{"format": 1, "runs": [')
    with pytest.raises(E.ResultsFileError, match="corrupted"):
        run(tmp_path, fake_data, [0])


def test_bad_names_and_profiles_list_the_valid_ones(tmp_path, capsys):
    with pytest.raises(ValueError, match="stacking"):
        E.get_experiment("stackin")
    with pytest.raises(ValueError, match="smoke"):
        E.run_experiment("stacking", "medium", [0], tmp_path)
    with pytest.raises(SystemExit):
        E.main(["run", "stacking", "--profile", "medium"])
    assert "smoke" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        E.main(["run", "nope"])
    assert "stacking" in capsys.readouterr().err


def test_list_names_every_experiment(capsys):
    assert E.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("stacking", "separable", "bottleneck", "grouped", "dense_vs_conv"):
        assert name in out


def synthetic(accuracies: dict, *, test_size=5000, correct=None, train=None):
    """A results dict as an old reference file (final accuracies only) or, with ``correct``
    (variant -> one bool vector per seed), as a new one with per-image correctness."""
    runs = []
    for variant, values in accuracies.items():
        for seed, value in enumerate(values):
            history = {"test_acc": [0.1, value], "train_eval_acc": [0.1, (train or {}).get(variant, [value] * 9)[seed]]}
            run = {"variant": variant, "seed": seed, "history": history}
            if correct is not None:
                run["test_correct"] = stats.pack_correctness(correct[variant][seed])
            runs.append(run)
    return {"format": 1, "experiment": "dense_vs_conv", "provenance": {"test_size": test_size},
            "variants": {v: {} for v in accuracies}, "runs": runs}


def test_old_files_without_per_image_data_get_the_analytic_interval():
    # chapter 5's situation: both seeds of the worse variant scored exactly the same (std 0)
    results = synthetic({"cnn": [0.6282, 0.6278], "mlp": [0.6152, 0.6152]})
    accuracy, gap = E.check_claims(results)
    assert accuracy["method"] == stats.ANALYTIC_METHOD
    assert (accuracy["difference"], accuracy["low"], accuracy["high"]) == (0.0128, -0.0062, 0.0318)
    assert accuracy["verdict"] == stats.INCONCLUSIVE  # the old sqrt(s_a² + s_b²) rule said "holds"
    assert accuracy["explanation"].startswith("cnn - mlp = +1.28 points, 95% interval [-0.62, +3.18]")
    assert accuracy["seeds"] == 2 and accuracy["test_images"] == 5000 and accuracy["claim"] == stats.BETTER
    assert gap["metric"] == "gap" and gap["explanation"].startswith("mlp gap - cnn gap = ")


@pytest.mark.parametrize("cnn, mlp, expected", [
    ([0.80, 0.81, 0.80], [0.70, 0.71, 0.70], stats.HOLDS),
    ([0.70, 0.71, 0.70], [0.80, 0.81, 0.80], stats.CONTRADICTED),
    ([0.75, 0.75, 0.75], [0.75, 0.75, 0.75], stats.INCONCLUSIVE),
])
def test_analytic_verdicts_are_the_stats_vocabulary(cnn, mlp, expected):
    accuracy = E.check_claims(synthetic({"cnn": cnn, "mlp": mlp}))[0]
    assert accuracy["verdict"] == expected and accuracy["verdict"] in E.VERDICTS
    assert accuracy["explanation"].endswith(": " + expected)


def test_the_gap_claim_is_judged_lower_is_better():
    results = synthetic({"cnn": [0.60, 0.60], "mlp": [0.45, 0.45]},
                        train={"cnn": [0.62, 0.62], "mlp": [0.75, 0.75]})
    gap = E.check_claims(results)[1]
    assert gap["difference"] == 0.28 and gap["verdict"] == stats.HOLDS  # mlp's gap 0.30, cnn's 0.02


def test_new_files_with_per_image_data_are_paired():
    rng = np.random.default_rng(0)
    base = rng.random((2, 5000))
    correct = {"cnn": list(base < 0.65), "mlp": list(base < 0.64)}  # the cnn gets a superset right
    accuracies = {v: [float(x.mean()) for x in runs] for v, runs in correct.items()}
    paired = E.check_claims(synthetic(accuracies, correct=correct))[0]
    unpaired = E.check_claims(synthetic(accuracies))[0]
    assert paired["method"] == stats.METHOD and unpaired["method"] == stats.ANALYTIC_METHOD
    assert paired["difference"] == unpaired["difference"]
    assert paired["verdict"] == stats.HOLDS and unpaired["verdict"] == stats.INCONCLUSIVE
    assert "paired bootstrap over 2 seeds and 5,000 test images" in paired["explanation"]


def test_new_runs_store_their_per_image_correctness(tmp_path, fake_data):
    results = run(tmp_path, fake_data, [0])
    for record in results["runs"]:
        correct = stats.unpack_correctness(record["test_correct"])
        assert len(correct) == 60 and correct.mean() == pytest.approx(record["history"]["test_acc"][-1])
        assert "test_correct" not in record["history"]
    assert results["comparisons"][0]["method"] == stats.METHOD
    assert results["comparisons"][1]["method"] == stats.ANALYTIC_METHOD


@pytest.mark.parametrize("name", sorted(n for n in E.EXPERIMENTS if E.results_path(n).is_file()))
def test_stored_reference_comparisons_are_what_the_runs_give_today(name):
    """A results file never carries a stale verdict: `recompare` rewrites it after a change of
    method, and this test fails until it has."""
    results = E.load_results(E.results_path(name))
    assert results["comparisons"] == E.check_claims(results), f"run: python -m convlib.experiments recompare {name}"


def test_recompare_rewrites_stale_comparisons_without_training(tmp_path, capsys):
    source = E.results_path("grouped")
    stale = json.loads(source.read_text())
    stale["comparisons"] = [{**c, "verdict": "does not hold"} for c in stale["comparisons"]]
    (tmp_path / source.name).write_text(json.dumps(stale))
    assert E.main(["recompare", "grouped", "--out", str(tmp_path)]) == 0
    rewritten = json.loads((tmp_path / source.name).read_text())
    assert rewritten["comparisons"] == E.check_claims(stale) and rewritten["runs"] == stale["runs"]
    assert "inconclusive at this budget" in capsys.readouterr().out


def test_the_overfitting_experiment_trains_a_small_set_long_without_augmentation():
    from convlib.profiles import PROFILES

    experiment = E.get_experiment("overfitting")
    quick = experiment.budget(PROFILES["quick"])
    assert quick["augment"] is False and quick["train_size"] < PROFILES["quick"].train_size
    assert quick["epochs"] > PROFILES["quick"].epochs
    assert E.get_experiment("dense_vs_conv").budget(PROFILES["quick"]) == {
        "train_size": PROFILES["quick"].train_size, "epochs": PROFILES["quick"].epochs, "augment": True}
    reference = E.load_results(E.results_path("overfitting"))
    assert reference["provenance"]["augment"] is False and reference["provenance"]["epochs"] == quick["epochs"]
    assert all(run["history"]["train_eval_acc"][-1] >= 0.95 for run in reference["runs"])  # both overfit


def test_a_run_another_experiment_already_made_is_reused_not_retrained(tmp_path, fake_data):
    """separable's '2x3x3' is stacking's '2x3x3' (same builder, options and seed): with the same
    budget in the same folder, it is copied from stacking's file, marked, not trained again; the
    separable variant is trained."""
    kwargs = dict(data=fake_data, device="cpu", progress=False, log=None)
    stacking = E.run_experiment("stacking", "smoke", [0], tmp_path, **kwargs,
                                select=lambda variant, seed: variant == "2x3x3")
    separable = E.run_experiment("separable", "smoke", [0], tmp_path, **kwargs)
    twin = next(r for r in separable["runs"] if r["variant"] == "2x3x3")
    original = next(r for r in stacking["runs"] if r["variant"] == "2x3x3")
    assert twin["reused_from"] == "stacking/2x3x3"
    assert twin["history"] == original["history"] and twin["test_correct"] == original["test_correct"]
    trained = next(r for r in separable["runs"] if r["variant"] == "2xsep3x3")
    assert "reused_from" not in trained
    assert separable["provenance"]["threads"] == torch.get_num_threads()


def test_a_run_is_not_reused_across_budgets(tmp_path, fake_data):
    kwargs = dict(data=fake_data, device="cpu", progress=False, log=None)
    E.run_experiment("stacking", "smoke", [0], tmp_path, **kwargs, select=lambda v, s: v == "2x3x3")
    stacking = json.loads((tmp_path / "stacking.json").read_text())
    stacking["provenance"]["epochs"] += 1  # as if made with another budget
    (tmp_path / "stacking.json").write_text(json.dumps(stacking))
    separable = E.run_experiment("separable", "smoke", [0], tmp_path, **kwargs)
    assert all("reused_from" not in r for r in separable["runs"])


@pytest.mark.parametrize("name", ["stacking_matched", "bottleneck_deep", "grouped_wide", "separable_wide"])
def test_matched_budget_variants_have_equal_convolution_weights_within_3_percent(name):
    """Each matched-budget experiment compares two networks with (nearly) the same weights."""
    first, second = (v.build().conv_params() for v in E.get_experiment(name).variants)
    assert abs(first - second) / max(first, second) <= 0.03


def test_make_reference_runs_every_experiment_exactly_once():
    """The two lanes of `make reference` together name each registered experiment once."""
    import re

    makefile = (E.REPO_ROOT / "Makefile").read_text()
    lanes = [re.search(rf"^{lane} = (.*)$", makefile, re.M).group(1).split() for lane in ("LANE1", "LANE2")]
    assert sorted(lanes[0] + lanes[1]) == sorted(E.EXPERIMENTS)


def test_extend_adds_seeds_only_to_the_variants_of_undecided_comparisons(tmp_path, fake_data):
    kwargs = dict(data=fake_data, device="cpu", progress=False, log=None)
    E.run_experiment("separable", "smoke", [0, 1], tmp_path, **kwargs)
    before = E.check_claims(E.load_results(tmp_path / "separable.json"))
    extended = E.extend_inconclusive("separable", "smoke", tmp_path, extra_seeds=(2,), **kwargs)
    after = E.load_results(tmp_path / "separable.json")
    if before[0]["verdict"] == stats.INCONCLUSIVE:
        assert extended == ["2x3x3", "2xsep3x3"]
        assert sorted({r["seed"] for r in after["runs"]}) == [0, 1, 2]
        assert after["comparisons"] == E.check_claims(after) and after["comparisons"][0]["seeds"] == 3
    else:
        assert extended == [] and len(after["runs"]) == 4


def _grouped_wide(losses_wide: list[list[float]]) -> dict:
    """A grouped_wide results file whose g8-wide runs are clearly less accurate than g1's, with
    the given training-loss histories for g8-wide (one per seed)."""
    rng = np.random.default_rng(1)
    base = rng.random((3, 5000))
    correct = {"g1": list(base < 0.75), "g8-wide": list(base < 0.55)}
    results = synthetic({v: [float(x.mean()) for x in runs] for v, runs in correct.items()}, correct=correct)
    results["experiment"] = "grouped_wide"
    for run in results["runs"]:
        run["history"]["train_loss"] = (losses_wide[run["seed"]] if run["variant"] == "g8-wide"
                                        else [1.5, 1.1, 0.9, 0.8])
    return results


def test_a_training_loss_that_rises_between_epochs_marks_the_run_unstable():
    results = _grouped_wide([[2.0, 2.3, 1.8, 1.4], [2.0, 2.03, 1.8, 1.4], [2.0, 1.9, 1.8, 1.4]])
    assert E.unstable_seeds(results, "g8-wide") == [0]  # +15 %; +1.5 % is under the 2 % rule
    assert E.unstable_seeds(results, "g1") == []


def test_an_unstable_loser_makes_a_decided_comparison_inconclusive():
    steady = E.check_claims(_grouped_wide([[2.0, 1.9, 1.8, 1.4]] * 3))[0]
    assert steady["verdict"] == stats.CONTRADICTED and "unstable" not in steady
    shaky = E.check_claims(_grouped_wide([[2.0, 1.9, 1.8, 1.4], [2.0, 2.3, 2.3, 2.1], [2.0, 1.9, 1.8, 1.4]]))[0]
    assert shaky["verdict"] == stats.INCONCLUSIVE and shaky["interval_verdict"] == stats.CONTRADICTED
    assert shaky["unstable"] == {"g8-wide": [1]} and (shaky["low"], shaky["high"]) == (steady["low"], steady["high"])
    assert "training of g8-wide went unstable in 1 of 3 runs" in shaky["explanation"]


def test_an_unstable_winner_leaves_the_verdict_alone():
    results = _grouped_wide([[2.0, 1.9, 1.8, 1.4]] * 3)
    for run in results["runs"]:
        if run["variant"] == "g1":
            run["history"]["train_loss"] = [1.5, 1.8, 0.9, 0.8]  # the more accurate side wobbled
    assert E.check_claims(results)[0]["verdict"] == stats.CONTRADICTED
