"""convlib.experiments.progress: what a set holds and still needs, from its files alone."""

from __future__ import annotations

import shutil
import statistics

import pytest
import torch

from convlib.data import CIFAR10, CLASSES
from convlib.experiments import cli, files, progress, runner
from convlib.experiments.registry import EXPERIMENTS
from convlib.io import REPO_ROOT

# the fair frame's cpu set while it is made (book/results/cpu/ once it lands)
PENDING_STACKING = REPO_ROOT / "book" / "results" / "pending" / "cpu" / "stacking.json"
ARTICLE_FRAME_CPU = REPO_ROOT / "book" / "results" / "cpu"


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


def test_a_half_made_experiment_counts_its_runs_and_estimates_the_rest(smoke_set):
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
    untouched = rows["stacking"]  # no file: every run and grid to go, nothing to estimate from
    assert (untouched["done"], untouched["to_run"], untouched["grids_to_run"]) == (0, 8, 4)
    assert untouched["seconds_to_go"] is None


def test_the_extension_is_counted_once_the_profiles_seeds_are_in(tmp_path):
    shutil.copy(PENDING_STACKING, tmp_path)  # the cpu set's stacking: 3 seeds of 4 variants
    results = files.load_results(tmp_path / "stacking.json")
    done = {(run["variant"], run["seed"]) for run in results["runs"]}
    expected = [(v, s) for v in runner.undecided_variants(results) for s in runner.EXTRA_SEEDS
                if (v, s) not in done]
    rows = {row["experiment"]: row for row in progress.set_progress("cpu", tmp_path)}
    assert rows["stacking"]["extension_known"] and rows["stacking"]["to_run"] == len(expected)
    assert not rows["stacking_matched"]["extension_known"]  # no file yet
    sweep = rows["stacking_short"]  # never extended; keeps its base's learning rates
    assert sweep["extension_known"] and (sweep["to_run"], sweep["grids_to_run"]) == (6, 0)
    means = {v: statistics.fmean(run["seconds"] for run in results["runs"]
                                 if run["variant"] == v and "reused_from" not in run)
             for v in ("5x5", "2x3x3")}
    assert sweep["seconds_to_go"] == pytest.approx(3 * 0.5 * sum(means.values()), abs=0.1)


def test_status_prints_a_line_per_experiment_and_the_totals(smoke_set, capsys):
    assert cli.main(["status", "--profile", "smoke", "--out", str(smoke_set)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["experiment", "runs", "to", "run", "grids", "spent", "h", "to",
                                "go", "h"]
    assert [line.split()[0] for line in lines[1:-1]] == list(EXPERIMENTS)
    assert lines[-1].startswith("spent ") and "stacking (no measured run)" not in lines[-1]
    assert "stacking" in lines[-1].split("plus ", 1)[1]


def test_status_refuses_a_set_of_the_article_frame(tmp_path, capsys):
    shutil.copy(ARTICLE_FRAME_CPU / "stacking.json", tmp_path)  # a format-1 file
    assert cli.main(["status", "--profile", "cpu", "--out", str(tmp_path)]) == 2
    assert "format-1 file (the article's frame)" in capsys.readouterr().err


def test_status_refuses_a_set_of_another_profile(smoke_set, capsys):
    assert cli.main(["status", "--profile", "cpu", "--out", str(smoke_set)]) == 2
    assert "made with profile 'smoke', not 'cpu'" in capsys.readouterr().err
