"""convlib.plots.sweep and convlib.results.epoch_sweep: the epoch sweep from a reference set."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from convlib import results as R
from convlib import stats, store
from convlib.experiments import get_experiment
from convlib.experiments.files import RESULTS_FORMAT
from convlib.plots.style import figure_problems
from convlib.plots.sweep import plot_epoch_sweep

pytestmark = pytest.mark.usefixtures("book_style")


def _write(folder, name, epochs, gap):
    """A complete cpu-set file for ``name``: 2x3x3 ahead of 5x5 by ``gap`` of the images."""
    rng = np.random.default_rng(epochs)
    runs, variants = [], [v.name for v in get_experiment(name).variants]
    for seed in (0, 1, 2):
        base = rng.random(2_000)
        for variant in variants:
            right = base < (0.7 + (gap if variant == "2x3x3" else 0.0))
            runs.append({"variant": variant, "seed": seed, "lr": 0.1,
                         "test_correct": store.pack_correctness(right),
                         "history": {"test_acc": [float(right.mean())] * epochs,
                                     "train_loss": [2.0 - 0.1 * e for e in range(epochs)]}})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({
        "format": RESULTS_FORMAT, "experiment": name, "runs": runs,
        "variants": {v: {"label": v, "block_weights": 1} for v in variants},
        "provenance": {"profile": "cpu", "epochs": epochs, "seeds": [0, 1, 2],
                       "test_size": 2_000}}))


def test_the_sweep_reads_one_set_in_epoch_order_and_plots_it(tmp_path):
    cpu = tmp_path / "cpu"
    assert R.epoch_sweep("stacking", tmp_path) == []  # nothing yet
    _write(cpu, "stacking", 4, 0.03)
    _write(cpu, "stacking_short", 2, 0.0)
    assert R.epoch_sweep("stacking", tmp_path) == []  # a set with a file missing is not used
    _write(cpu, "stacking_long", 8, 0.05)
    rows = R.epoch_sweep("stacking", tmp_path)
    assert [row["epochs"] for row in rows] == [2, 4, 8]
    assert {row["set"] for row in rows} == {"cpu"}  # the folder it was read from
    assert rows[0]["difference"] == 0 and rows[0]["verdict"] == stats.INCONCLUSIVE
    assert rows[2]["verdict"] == stats.HOLDS
    assert rows[2]["verdict_text"].endswith("8 epochs, cpu set, 3 seeds")
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_epoch_sweep(ax, {"2x3x3 - 5x5": rows})
    assert not figure_problems(fig)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "4", "8"]
    plt.close(fig)
    assert R.sweep_text(rows) == ("inconclusive at 2 epochs; holds at 4 and 8 epochs: the verdict "
                                  "changes with the budget")
    with pytest.raises(ValueError, match="at least one"):
        plot_epoch_sweep(ax, {})


def test_a_sweep_not_made_yet_is_left_out_and_an_empty_figure_says_so():
    rows = [{"epochs": e, "difference": 0.02, "low": 0.01, "high": 0.03,
             "verdict": stats.HOLDS} for e in (2, 4, 8)]
    assert R.sweep_text(rows) == "holds at every budget (2, 4 and 8 epochs): stable"
    assert R.sweep_text([]) == "not available yet"
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_epoch_sweep(ax, {"made": rows, "not made": []})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["made"]
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_epoch_sweep(ax, {"not made": []})
    assert [t.get_text() for t in ax.texts] == ["reference results not available yet"]
    assert not figure_problems(fig)
    plt.close(fig)
