"""convlib.results: comparison lines and tables carry the 95 % interval and stay portable."""

from __future__ import annotations

from convlib import results as R
from convlib import stats
from convlib.book import unportable_numbers


def synthetic(accuracies: dict, test_size=5000):
    """A results dict like an old reference file: final accuracies only, no per-image data."""
    runs = [{"variant": variant, "seed": seed, "history": {"test_acc": [value], "train_eval_acc": [value]}}
            for variant, values in accuracies.items() for seed, value in enumerate(values)]
    return {"format": 1, "experiment": "dense_vs_conv", "provenance": {"test_size": test_size},
            "variants": {v: {} for v in accuracies}, "runs": runs}


def test_comparison_line_and_table_show_the_interval_and_the_verdict():
    found = synthetic({"cnn": [0.6282, 0.6278], "mlp": [0.6152, 0.6152]})
    accuracy, gap = R.check_claims(found)
    line = R.comparison_line(accuracy)
    assert line == ("test accuracy cnn 62.8% vs mlp 61.5%; cnn - mlp +1.3 points, 95% interval "
                    "[-0.6, +3.2] (analytic, unpaired, 2 seeds, 5,000 test images) -> "
                    "inconclusive at this budget")
    assert "mlp - cnn" in R.comparison_line(gap)
    rows = R.comparisons_table(found)
    assert rows[0] == {"comparison": "cnn - mlp (test accuracy)", "difference (points)": "+1.3",
                       "95% interval (points)": "[-0.6, +3.2]", "method": "analytic, unpaired",
                       "seeds": 2, "test images": 5000, "verdict": stats.INCONCLUSIVE}
    assert not unportable_numbers(line + str(rows))


def test_the_reference_comparisons_use_the_stats_vocabulary():
    for name in ("dense_vs_conv", "stacking", "separable", "bottleneck", "grouped", "overfitting"):
        found = R.load_reference(name)
        if found is None:
            continue
        for comparison in R.check_claims(found):
            assert comparison["verdict"] in stats.VERDICTS
            assert comparison["method"] in (stats.METHOD, stats.ANALYTIC_METHOD)
            assert comparison["low"] <= comparison["difference"] <= comparison["high"]
