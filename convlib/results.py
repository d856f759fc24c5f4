"""The reference results under ``book/results/``: loading them and summarising curves for figures.

The files are written by ``python -m convlib.experiments run NAME`` (never by hand); the chapters
read them through this module so that every figure and verdict comes from one place.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from convlib import stats
from convlib.experiments import DEFAULT_OUT, check_claims, load_results, summarize

RESULTS_DIR = DEFAULT_OUT


def load_reference(name: str, folder: str | os.PathLike | None = None) -> dict | None:
    """The reference results of experiment ``name``, or None if they have not been made yet."""
    from convlib.experiments import results_path

    path = results_path(name, folder if folder is not None else RESULTS_DIR)
    return load_results(path) if Path(path).is_file() else None


def curves(results: dict, metric: str = "test_acc") -> dict[str, dict[str, list[float]]]:
    """Per variant, the per-epoch mean and sample standard deviation of ``metric`` over seeds."""
    out = {}
    for variant in results["variants"]:
        runs = [r["history"][metric] for r in results["runs"] if r["variant"] == variant]
        epochs = min(len(r) for r in runs)
        mean = [sum(r[e] for r in runs) / len(runs) for e in range(epochs)]
        std = [math.sqrt(sum((r[e] - mean[e]) ** 2 for r in runs) / (len(runs) - 1)) if len(runs) > 1 else 0.0
               for e in range(epochs)]
        out[variant] = {"mean": mean, "std": std, "seeds": len(runs)}
    return out


def table(results: dict) -> list[dict]:
    """One row per variant: label, weights, final test accuracy mean/std, train-test gap, seeds."""
    accuracy, gap = summarize(results, "test_acc"), summarize(results, "gap")
    rows = []
    for variant, info in results["variants"].items():
        rows.append({"variant": variant, "label": info["label"], "conv_params": info["conv_params"],
                     "total_params": info["total_params"],
                     "test_acc_mean": round(accuracy[variant]["mean"], 4),
                     "test_acc_std": round(accuracy[variant]["std"], 4),
                     "gap_mean": round(gap[variant]["mean"], 4), "seeds": accuracy[variant]["n"]})
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
    """The interval's method in a few words (for tables): paired bootstrap or analytic."""
    return "paired bootstrap" if comparison.get("method") == stats.METHOD else "analytic, unpaired"


def _direction(comparison: dict) -> str:
    """Which difference is reported: the claim's favour, better - worse (worse - better for a gap)."""
    first, second = ((comparison["better"], comparison["worse"]) if comparison["metric"] == "test_acc"
                     else (comparison["worse"], comparison["better"]))
    return f"{first} - {second}"


def comparison_line(comparison: dict) -> str:
    """One line for a comparison of :func:`check_claims`: the means, the difference in the claim's
    favour with its 95 % interval (points, one decimal), method, seeds, test images, verdict."""
    if "note" in comparison:
        return f"{comparison['verdict']} ({comparison['note']})"
    what = "test accuracy" if comparison["metric"] == "test_acc" else "train-test gap"
    return (f"{what} {comparison['better']} {100 * comparison['mean_better']:.1f}% vs {comparison['worse']} "
            f"{100 * comparison['mean_worse']:.1f}%; {_direction(comparison)} "
            f"{100 * comparison['difference']:+.1f} points, "
            f"95% interval [{100 * comparison['low']:+.1f}, {100 * comparison['high']:+.1f}] "
            f"({method_text(comparison)}, {comparison['seeds']} seeds, {comparison['test_images']:,} test "
            f"images) -> {comparison['verdict']}")


def comparisons_table(results: dict) -> list[dict]:
    """One row per comparison of the experiment: statement, difference in the claim's favour and its
    95 % interval (points, one decimal), method, seeds, test images and verdict."""
    rows = []
    for c in check_claims(results):
        done = "note" not in c
        rows.append({"comparison": f"{_direction(c)} ({'test accuracy' if c['metric'] == 'test_acc' else 'gap'})",
                     "difference (points)": f"{100 * c['difference']:+.1f}" if done else "-",
                     "95% interval (points)": f"[{100 * c['low']:+.1f}, {100 * c['high']:+.1f}]" if done else "-",
                     "method": method_text(c) if done else "-", "seeds": c.get("seeds", 0),
                     "test images": c.get("test_images", 0), "verdict": c["verdict"]})
    return rows


__all__ = ["RESULTS_DIR", "check_claims", "comparison_line", "comparisons_table", "curves", "load_reference",
           "method_text", "provenance_line", "table"]
