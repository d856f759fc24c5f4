"""convlib.plots.pareto: chapter 7's accuracy-against-cost figure follows the book's figure rules."""

from __future__ import annotations

import pytest


def test_the_pareto_figure_follows_the_figure_rules():
    import matplotlib.pyplot as plt

    from convlib import results as R
    from convlib.experiments import get_experiment
    from convlib.plots.pareto import construction_of, plot_pareto
    from convlib.plots.style import figure_problems

    found = {n: R.load_reference(n) for n in ("stacking", "grouped", "bottleneck")}
    found = {n: r for n, r in found.items() if r is not None}
    rows = R.pareto_points(found)
    constructions = {(n, v.name): construction_of(v.build.spec) for n in found
                     for v in get_experiment(n).variants}
    fig, axes = plt.subplots(1, 2, figsize=(7, 5.0), sharey=True, layout="constrained")
    plot_pareto(axes, rows, constructions)
    assert figure_problems(fig) == []
    assert any(line.get_label() == "Pareto front" for line in axes[1].lines)
    assert fig.legends and "Pareto front" in [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)
    with pytest.raises(ValueError, match="two panels"):
        plot_pareto(axes[:1], rows, constructions)


def test_variant_styles_follow_the_style_map():
    from convlib.experiments import get_experiment
    from convlib.plots.pareto import variant_styles
    from convlib.plots.style import construction_style

    styles = variant_styles(get_experiment("stacking").variants)
    assert styles["5x5"]["color"] == construction_style("plain", 5)["color"]
    assert styles["2x3x3"]["color"] == construction_style("stacked")["color"] != styles["5x5"]["color"]
    assert set(styles["7x7"]) == {"color", "linestyle", "marker"}


def test_a_wild_interval_does_not_set_the_accuracy_range():
    import matplotlib.pyplot as plt

    from convlib.plots.pareto import plot_pareto

    rows = [{"experiment": "stacking", "variant": v, "conv_params": w, "ms_per_image": t, "test_acc": a,
             "low": lo, "high": hi, "front_weights": True, "front_time": True}
            for v, w, t, a, lo, hi in (("5x5", 50_000, 1.0, 0.72, 0.71, 0.73),
                                        ("2x3x3", 60_000, 2.0, 0.44, -0.08, 0.95))]
    kinds = {("stacking", "5x5"): ("plain", 5), ("stacking", "2x3x3"): ("stacked", 5)}
    fig, axes = plt.subplots(1, 2, sharey=True)
    plot_pareto(axes, rows, kinds)
    assert axes[0].get_ylim() == (39.0, 77.0)  # the means 44 and 72, ±5 points
    plt.close(fig)


def test_construction_of_reads_both_frames_and_falls_back_for_other_kinds():
    from convlib.plots.pareto import construction_of

    assert construction_of(("ArticleNet", "plain", 5, ())) == ("plain", 5)
    assert construction_of(("FrameNet", "plain-1x1", 5, ())) == ("plain", 5)
    assert construction_of(("FrameNet", "grouped", 3, (("groups", 4),))) == ("grouped", None)
    assert construction_of(("FrameNet", "convnext", 7, ())) == ("cnn", None)  # not in the map
    assert construction_of(("MLP", ())) == ("cnn", None)
