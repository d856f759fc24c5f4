"""convlib.plots.pareto: chapter 7's accuracy-against-cost figure follows the book's figure
rules, and every point carries its number, clear of the others."""

from __future__ import annotations

import pytest


def test_the_pareto_figure_follows_the_figure_rules():
    import matplotlib.pyplot as plt

    from convlib import results as R
    from convlib.experiments import get_experiment
    from convlib.plots.pareto import plot_pareto, point_numbers
    from convlib.plots.style import construction_of, figure_problems

    found = {n: R.load_reference(n) for n in ("stacking", "grouped", "bottleneck")}
    found = {n: r for n, r in found.items() if r is not None}
    rows = R.pareto_points(found)
    constructions = {(n, v.name): construction_of(v.build.spec) for n in found
                     for v in get_experiment(n).variants}
    fig, axes = plt.subplots(1, 2, figsize=(7, 7.2), sharey=True, layout="constrained")
    plot_pareto(axes, rows, constructions)
    assert figure_problems(fig) == []  # no number over another text, none clipped
    key = [t.get_text() for t in fig.legends[0].get_texts()]
    assert key[0].startswith("Pareto front") and len(key) == 1 + len(rows)
    assert [entry.split()[0] for entry in key[1:]] == [str(i) for i in range(1, len(rows) + 1)]
    numbers = [text for text in point_numbers(rows) if text]
    for ax in axes:  # every point's number, once, inside its panel
        assert sorted(t.get_text() for t in ax.texts) == sorted(numbers)
        for text in ax.texts:
            box = text.get_window_extent()
            assert ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1
    plt.close(fig)
    with pytest.raises(ValueError, match="two panels"):
        plot_pareto(axes[:1], rows, constructions)
    fig, axes = plt.subplots(1, 2, sharey=True, layout="constrained")
    plot_pareto(axes, [], {})  # no reference set yet
    assert figure_problems(fig) == []
    assert [ax.texts[0].get_text() for ax in axes] == ["reference results not available yet"] * 2
    plt.close(fig)


def test_a_wild_interval_does_not_set_the_accuracy_range():
    import matplotlib.pyplot as plt

    from convlib.plots.pareto import plot_pareto

    rows = [{"experiment": "stacking", "variant": v, "block_weights": w, "ms_per_image": t,
             "test_acc": a, "low": lo, "high": hi, "front_weights": True, "front_time": True}
            for v, w, t, a, lo, hi in (("5x5", 50_000, 1.0, 0.72, 0.71, 0.73),
                                        ("2x3x3", 60_000, 2.0, 0.44, -0.08, 0.95))]
    kinds = {("stacking", "5x5"): ("plain", 5), ("stacking", "2x3x3"): ("stacked", 5)}
    fig, axes = plt.subplots(1, 2, sharey=True)
    plot_pareto(axes, rows, kinds)
    assert axes[0].get_ylim() == (39.0, 77.0)  # the means 44 and 72, ±5 points
    plt.close(fig)


def _row(variant, weights, ms, acc, label=None):
    return {"experiment": "e", "variant": variant, "block_weights": weights, "ms_per_image": ms,
            "test_acc": acc, "low": acc - 0.01, "high": acc + 0.01, "front_weights": False,
            "front_time": False, **({"label": label} if label else {})}


def test_one_network_shown_twice_gets_one_number_text():
    from convlib.plots.pareto import key_label, point_numbers

    rows = [_row("a", 100, 1.0, 0.7), _row("b", 200, 2.0, 0.6), _row("c", 100, 1.0, 0.7)]
    assert point_numbers(rows) == ["1, 3", "2", ""]
    assert key_label(2, _row("b", 1, 1, 0.5, "two 3x3 per block")) == "2  two 3x3"
    assert key_label(1, rows[0]) == "1  a"  # no label: the variant's name
    long = key_label(16, _row("g", 1, 1, 0.5, "ResNeXt block, 8 groups, widened to equal weights"))
    assert long == "16  ResNeXt block, 8 groups, widened\n        to equal weights"
    assert all(len(line) <= 38 for line in long.splitlines())


def test_crowded_points_get_numbers_that_cover_nothing():
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from convlib.plots.pareto import MARKER_PT, place_labels

    fig, ax = plt.subplots(figsize=(4, 3))
    points = [(1.0 + 0.02 * i, 50.0 + 0.1 * (i % 3), 49.5, 50.5) for i in range(6)]
    ax.plot([p[0] for p in points], [p[1] for p in points], "o", markersize=MARKER_PT)
    ax.set(xlim=(0.5, 1.6), ylim=(45, 55))
    labels = place_labels(ax, points, [str(i) for i in range(6)])
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72 * MARKER_PT / 2
    centres = ax.transData.transform([(x, y) for x, y, _, _ in points])
    boxes = []
    for label in labels:
        label.update_positions(renderer)
        boxes.append(Text.get_window_extent(label, renderer))  # the text, not its leader
    for i, box in enumerate(boxes):
        assert all(box.x1 < other.x0 or other.x1 < box.x0 or box.y1 < other.y0
                   or other.y1 < box.y0 for other in boxes[i + 1:])
        assert all(box.x1 < cx - px or cx + px < box.x0 or box.y1 < cy - px or cy + px < box.y0
                   for cx, cy in centres)  # no number over a marker
    plt.close(fig)
    with pytest.raises(ValueError, match="one entry per point"):
        place_labels(ax, points, ["1"])
