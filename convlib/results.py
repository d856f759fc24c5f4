"""The reference results under ``book/results/``: loading them and summarising curves for figures.

The files are written by ``python -m convlib.experiments run NAME`` (never by hand); the chapters
read them through this module so that every figure and verdict comes from one place.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

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
            f"{p['test_size']:,} test images, {p['epochs']} epochs), seeds {p['seeds']}, "
            f"{p['device']}, {p.get('precision', 'float32')}, torch {p['torch']}, "
            f"{p.get('updated', p.get('started', ''))[:10]}")


__all__ = ["RESULTS_DIR", "check_claims", "curves", "load_reference", "provenance_line", "table"]
