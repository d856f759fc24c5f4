"""convlib.experiments.progress: what a set cost and still needs, from its files alone."""

from __future__ import annotations

import json

import pytest
import torch

from convlib.data import CIFAR10, CLASSES
from convlib.experiments import cli, files, progress, runner
from convlib.experiments.registry import EXPERIMENTS


@pytest.fixture
def smoke_set(tmp_path):
    """dense_vs_conv, smoke profile, seed 0 of 2, trained on a tiny stand-in for CIFAR-10."""
    g = torch.Generator().manual_seed(0)
    make = lambda n: (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),  # noqa: E731
                      torch.arange(n) % 10)
    (tx, ty), (vx, vy) = make(160), make(60)
    data = CIFAR10(tx, ty, vx, vy, CLASSES, source="test fixture", lossy=False)
    runner.run_experiment("dense_vs_conv", "smoke", [0], tmp_path, data=data, device="cpu",
                          progress=False, log=None)
    return tmp_path


def _runs(variant: str, seeds, seconds: float) -> list[dict]:
    return [{"variant": variant, "seed": s, "seconds": seconds} for s in seeds]


def test_a_half_made_experiment_counts_its_runs_and_prices_the_rest(smoke_set):
    results = files.load_results(smoke_set / "dense_vs_conv.json")
    rows = {row["experiment"]: row for row in progress.set_progress("smoke", smoke_set)}
    assert list(rows) == list(EXPERIMENTS)
    row = rows["dense_vs_conv"]
    assert (row["done"], row["to_run"], row["grids_to_run"]) == (2, 2, 0)  # seed 1 of mlp, cnn
    assert row["extension_known"]  # smoke sets are never extended
    runs = {run["variant"]: run["seconds"] for run in results["runs"]}
    grids = sum(choice["seconds"] for choice in results["lr_selection"].values())
    assert row["seconds"] == pytest.approx(sum(runs.values()) + grids, abs=0.1)
    assert row["seconds_to_go"] == pytest.approx(sum(runs.values()), abs=0.1)
    untouched = rows["stacking"]  # no file, no run of its networks: nothing to price it with
    assert (untouched["done"], untouched["to_run"], untouched["grids_to_run"]) == (0, 8, 4)
    assert untouched["seconds_to_go"] is None
    # overfitting trains the same two networks on other images: not priced from these runs
    assert rows["overfitting"]["seconds_to_go"] is None


def test_the_extension_is_counted_once_the_profiles_seeds_are_in(smoke_set, monkeypatch):
    monkeypatch.setattr(runner, "EXTENDED_PROFILES", ("smoke",))
    (before,) = [r for r in progress.set_progress("smoke", smoke_set)
                 if r["experiment"] == "dense_vs_conv"]
    assert not before["extension_known"] and before["to_run"] == 2  # seed 1 not in yet
    path = smoke_set / "dense_vs_conv.json"
    results = json.loads(path.read_text())  # seed 1 as a copy of seed 0: the seeds are in
    results["runs"] += [{**run, "seed": 1} for run in results["runs"]]
    path.write_text(json.dumps(results))
    done = {(run["variant"], run["seed"]) for run in results["runs"]}
    expected = [(v, s) for v in runner.undecided_variants(files.load_results(path))
                for s in runner.EXTRA_SEEDS if (v, s) not in done]
    (after,) = [r for r in progress.set_progress("smoke", smoke_set)
                if r["experiment"] == "dense_vs_conv"]
    assert after["extension_known"] and after["to_run"] == len(expected)


def test_a_sweep_is_priced_from_its_base_and_runs_no_grid():
    """stacking_short (2 of the cpu profile's 4 epochs) before its first run: each run at half
    its network's run in stacking; the base's learning rates serve, so no grid."""
    base = {"runs": _runs("5x5", (0, 1, 2), 400.0) + _runs("2x3x3", (0, 1, 2), 600.0),
            "lr_selection": {"5x5": {"seconds": 800.0}, "2x3x3": {"seconds": 1200.0}}}
    row = progress.experiment_progress("stacking_short", "cpu", {"stacking": base})
    assert (row["to_run"], row["grids_to_run"], row["extension_known"]) == (6, 0, True)
    assert row["seconds_to_go"] == pytest.approx(3 * (200.0 + 300.0))
    grown = progress.experiment_progress("stacking_matched", "cpu", {"stacking": base})
    assert grown["seconds_to_go"] is None  # its 5x5-matched has never run
    assert not grown["extension_known"]


def test_a_network_lent_by_another_experiment_prices_runs_and_grids():
    """grouped_wide's g1 is grouped's g1 (same network and budget): its runs cost what grouped
    measured, its grid that times the set's grid-to-run ratio (here 2)."""
    grouped = {"runs": _runs("g1", (0, 1, 2), 500.0), "lr_selection": {"g1": {"seconds": 1000.0}}}
    wide = {"runs": _runs("g8-wide", (0,), 900.0), "lr_selection": {}}
    row = progress.experiment_progress("grouped_wide", "smoke",
                                       {"grouped": grouped, "grouped_wide": wide})
    assert (row["done"], row["to_run"], row["grids_to_run"]) == (1, 3, 2)
    assert row["seconds_to_go"] == pytest.approx(2 * 500.0 + 900.0 + 2 * (500.0 + 900.0))
    assert row["seconds"] == pytest.approx(900.0)


def test_status_prints_a_line_per_experiment_and_the_totals(smoke_set, capsys):
    assert cli.main(["status", "--profile", "smoke", "--out", str(smoke_set)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["experiment", "runs", "to", "run", "grids", "spent", "h", "to",
                                "go", "h"]
    assert [line.split()[0] for line in lines[1:-1]] == list(EXPERIMENTS)
    assert lines[-1].startswith("spent ") and "stacking" in lines[-1].split("plus ", 1)[1]


@pytest.mark.parametrize("change, message", [({"format": 1}, "a format-1 file"),
                                             ({"profile": "cpu"}, "of profile 'cpu'")])
def test_status_refuses_a_file_of_the_article_frame_or_another_profile(smoke_set, capsys,
                                                                       change, message):
    path = smoke_set / "dense_vs_conv.json"
    results = json.loads(path.read_text())
    results["format"] = change.get("format", results["format"])
    results["provenance"]["profile"] = change.get("profile", "smoke")
    path.write_text(json.dumps(results))
    assert cli.main(["status", "--profile", "smoke", "--out", str(smoke_set)]) == 2
    assert message in capsys.readouterr().err
