"""convlib.plots.grouped: chapter 5's experiment figure shows the verdict's own intervals and
follows the book's figure rules."""

from __future__ import annotations

import pytest


def _grouped():
    from convlib.results import load_reference

    found = load_reference("grouped")
    if found is None:
        pytest.skip("no reference results of the grouped experiment")
    return found


GROUPS = {"g1": 1, "g2": 2, "g4": 4, "g8": 8}


def test_the_differences_are_the_verdicts_paired_intervals():
    from convlib.experiments.verdicts import check_claims
    from convlib.plots.grouped import group_differences

    found = _grouped()
    rows = group_differences(found, GROUPS)
    assert [row["groups"] for row in rows] == [2, 4, 8]
    (g8,) = [row for row in rows if row["variant"] == "g8"]
    claim = check_claims(found)[0]  # "a dense (1-group) 3x3 is more accurate than an 8-group one"
    assert (g8["low"], g8["high"]) == pytest.approx((100 * claim["low"], 100 * claim["high"]))
    assert all(row["low"] <= row["difference"] <= row["high"] for row in rows)
    assert g8["block_weights"] == found["variants"]["g8"]["block_weights"]
    with pytest.raises(ValueError, match="groups must name variants"):
        group_differences(found, {"g16": 16})


def test_the_figure_follows_the_figure_rules_with_and_without_results():
    import matplotlib.pyplot as plt

    from convlib.plots import use_book_style
    from convlib.plots.grouped import plot_grouped_experiment
    from convlib.plots.style import figure_problems

    use_book_style()
    for found in (_grouped(), None):
        fig, axes = plt.subplots(1, 2, figsize=(7.2, 4.0))
        plot_grouped_experiment(axes, found, GROUPS)
        fig.tight_layout()
        assert figure_problems(fig) == []
        if found is not None:  # each tick names the groups and the network's weights
            weights = found["variants"]["g2"]["block_weights"]
            assert axes[0].get_xticklabels()[0].get_text() == f"2\n{weights:,}"
            assert [t.get_text() for t in axes[1].get_legend().get_texts()][0].startswith(
                "1 group")
        plt.close(fig)
    with pytest.raises(ValueError, match="two panels"):
        plot_grouped_experiment(axes[:1], None, GROUPS)
