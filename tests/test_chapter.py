"""convlib.chapter: the chapters' shared helpers, against the registry, the stored bits and
stats."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from convlib import chapter, claims, results, stats, store
from convlib.experiments.files import load_results, results_path
from convlib.experiments.verdicts import budget_text
from convlib.store import set_folder


def test_a_claims_glue_name_keeps_its_chapter():
    assert chapter.glue_key("ch6-less-efficient") == "ch6_less_efficient"


def test_show_claim_prints_the_empirical_verdict_with_its_budget(capsys):
    claim = chapter.show_claim("ch3-better-result")
    out = capsys.readouterr().out
    assert claim == claims.evaluate_claim("ch3-better-result")
    assert out.startswith(f"ch3-better-result: {claim['verdict_text']}\n")
    if claim["computed_value"]["available"]:
        assert " epochs, " in claim["verdict_text"]
    arithmetic = chapter.show_claim("ch4-plain-65536")
    assert arithmetic["verdict_text"] == arithmetic["verdict"] == "wrong"


def test_a_missing_experiment_says_what_to_run(monkeypatch, capsys):
    monkeypatch.setattr(results, "load_reference", lambda name: None)
    assert chapter.load_experiment("grouped") is None
    assert "python -m convlib.experiments run grouped" in capsys.readouterr().out
    assert chapter.provenance(None) == chapter.NOT_AVAILABLE
    assert chapter.verdict(None) == (None, "not available yet")
    with pytest.raises(ValueError, match="name must be one of"):
        chapter.load_experiment("nope")


def _reference(name):
    found = results.load_reference(name)
    if found is None:
        pytest.skip(f"no reference results for {name}")
    return found


def test_the_verdict_is_the_comparisons_with_its_budget():
    found = _reference("stacking")
    comparison, text = chapter.verdict(found)
    assert comparison == results.check_claims(found)[0]
    assert text == comparison["verdict_text"]
    assert text.startswith(comparison["verdict"]) and budget_text(found) in text


def test_the_exact_mean_is_the_count_of_right_images_in_the_stored_bits():
    found = _reference("separable")
    for variant in found["variants"]:
        runs = [r for r in found["runs"] if r["variant"] == variant]
        if not all(r.get("test_correct") for r in runs):
            pytest.skip("runs without per-image correctness")
        right = sum(int(store.unpack_correctness(r["test_correct"]).sum()) for r in runs)
        assert chapter.exact_mean(found, variant) == Fraction(
            right, len(runs) * found["provenance"]["test_size"]
        )


def _fake(values, n_images=10_000):
    runs = [{"variant": "a", "seed": s, "history": {"test_acc": [v], "train_loss": [2.0]}}
            for s, v in enumerate(values)]
    return {"format": 2, "variants": {"a": {"label": "A", "block_weights": 1000}}, "runs": runs,
            "provenance": {"test_size": n_images, "profile": "cpu", "epochs": 1,
                           "seeds": list(range(len(values)))}}


def test_a_mean_is_rounded_once_from_its_exact_value():
    # 21466 / 30000 = 0.715533...: 71.6 %; rounded first to 4 decimals (0.7155) it became 71.5
    values = [0.7150, 0.7155, 0.7161]
    found = _fake(values)
    assert chapter.exact_mean(found, "a") == Fraction(21466, 30000)
    assert f"{100 * round(stats.accuracy_interval(values, 10_000)[0], 4):.1f}" == "71.5"
    assert f"{100 * stats.accuracy_interval(values, 10_000)[0]:.1f}" == "71.6"  # rounded once
    (row,) = chapter.accuracy_rows(found)
    assert row["test accuracy (%)"].startswith("71.6 [") and row["seeds"] == 3


def test_an_accuracy_that_is_no_count_is_refused():
    with pytest.raises(ValueError, match="not counts"):
        chapter.exact_mean(_fake([0.71234567]), "a")


def test_an_unstable_variant_shows_its_seeds_not_an_interval():
    found = _fake([0.5, 0.3, 0.6])
    found["runs"][1]["history"]["train_loss"] = [2.0, 1.0, 2.2, 2.3]
    (row,) = chapter.accuracy_rows(found)
    assert row["test accuracy (%)"] == "per seed: 50.0, 30.0, 60.0"


def _comparison(low, high):
    rng = np.random.default_rng(0)
    real = stats.compare(rng.random((3, 100)) < 0.7, rng.random((3, 100)) < 0.7,
                         labels=("two separable 3x3", "one 5x5"))
    return replace(real, difference=(low + high) / 2, low=low, high=high)


def test_the_margin_table_gives_each_verdict_its_direction_and_smallest_margin():
    budget = "4 epochs, cpu set, 3 seeds"
    rows = chapter.margin_rows(_comparison(-0.0165, -0.0034), budget)
    assert [r["margin (points)"] for r in rows] == ["±0.5", "±1", "±2"]
    assert [r["verdict"] for r in rows] == [
        f"inconclusive at this budget ({budget})", f"inconclusive at this budget ({budget})",
        f"holds at {budget}"]
    assert rows[0]["what the interval shows"] == (
        "one 5x5 is better than two separable 3x3 by 0.34-1.65 points; equivalence within "
        "±0.50 points not shown: this interval shows it only beyond ±1.65 points")
    assert rows[2]["what the interval shows"] == "the whole interval inside the margin"
    far = chapter.margin_rows(_comparison(-0.03, -0.021), budget, margins=[0.02])
    assert far[0]["verdict"] == f"contradicted at {budget}"
    assert (
        far[0]["what the interval shows"]
        == "one 5x5 is better than two separable 3x3 by 2.10-3.00 points"
    )
    assert np.isclose(stats.smallest_margin(_comparison(-0.0165, -0.0034)), 0.0165)


@pytest.mark.parametrize("name", sorted(chapter.ARTICLE_FRAME))
def test_the_article_frame_networks_are_those_the_format_1_sets_trained(name):
    checked = 0
    for profile in ("quick", "cpu"):
        path = results_path(name, set_folder(profile))
        if not path.is_file():
            continue
        found = load_results(path)
        if found["format"] != 1:
            continue
        nets = chapter.experiment_networks(name, found)
        assert set(nets) == set(found["variants"]) - {"mlp"}
        assert all(type(net).__name__ == "ArticleNet" for net in nets.values())
        checked += 1
    if not checked:
        pytest.skip(f"no format-1 file of {name}")


def test_a_format_2_file_or_none_describes_its_networks_from_the_registry():
    from convlib.experiments import get_experiment
    from convlib.params import count_params

    nets = chapter.experiment_networks("large_kernel")
    assert list(nets) == [v.name for v in get_experiment("large_kernel").variants]
    assert all(type(net).__name__ == "FrameNet" for net in nets.values())
    stored = {name: {"block_weights": net.block_weights(), "total_params": count_params(net)}
              for name, net in nets.items()}
    found = {"format": 2, "variants": stored}
    assert set(chapter.experiment_networks("large_kernel", found)) == set(stored)
    found["variants"]["convnext7"]["total_params"] += 1
    with pytest.raises(ValueError, match="convnext7: the stored weights"):
        chapter.experiment_networks("large_kernel", found)
    with pytest.raises(ValueError, match="name must be one of"):
        chapter.experiment_networks("no_such_experiment")


def test_stored_weights_that_do_not_match_are_refused():
    found = {"format": 1, "variants": {"5x5": {"block_weights": 1, "total_params": 2}}}
    with pytest.raises(ValueError, match="not those"):
        chapter.experiment_networks("stacking", found)
    with pytest.raises(ValueError, match="format-1 file"):
        chapter.experiment_networks("large_kernel", {"format": 1, "variants": {}})


def test_a_variant_takes_its_constructions_style_in_either_frame():
    from convlib.experiments import get_experiment
    from convlib.plots.style import line_style, variant_styles

    format_1 = {"format": 1, "variants": {}}
    styles = chapter.experiment_styles("stacking", format_1)
    assert styles["5x5"]["color"] == line_style("plain", 5)["color"] != styles["7x7"]["color"]
    assert styles["2x3x3"] == {k: v for k, v in line_style("stacked").items() if k != "label"}
    assert chapter.experiment_styles("large_kernel") == variant_styles(
        get_experiment("large_kernel").variants)


def test_a_variant_has_its_construction_in_either_frame():
    format_1 = {"format": 1, "variants": {}}
    assert chapter.experiment_construction("stacking", "7x7", format_1) == ("plain", 7)
    assert chapter.experiment_construction("grouped_wide", "g8-wide", format_1) == ("grouped", None)
    assert chapter.experiment_construction("dense_vs_conv", "mlp", format_1) == ("cnn", None)
    assert chapter.experiment_construction("large_kernel", "convnext13") == ("convnext", 13)
    assert chapter.experiment_construction("grouped_wide", "g8-wide") == ("grouped", None)
    assert chapter.experiment_construction("bottleneck", "bottleneck") == ("bottleneck", None)
    with pytest.raises(ValueError, match="variant must be one of"):
        chapter.experiment_construction("stacking", "9x9")


def test_glue_claims_glues_value_verdict_and_explanation_without_printing(monkeypatch, capsys):
    glued = {}
    monkeypatch.setattr(chapter, "glue",
                        lambda name, value, display: glued.update({name: value}))
    found = chapter.glue_claims("ch2-alexnet", "ch3-better-result")
    assert capsys.readouterr().out == ""
    for claim_id, key in (("ch2-alexnet", "ch2_alexnet"),
                          ("ch3-better-result", "ch3_better_result")):
        claim = claims.evaluate_claim(claim_id)
        assert found[claim_id] == claim
        assert glued[f"{key}_value"] == claims.short_value(claim["computed_value"])
        assert glued[f"{key}_verdict"] == claim["verdict_text"]
        assert glued[f"{key}_explanation"] == claim["explanation"]
    assert glued["ch2_alexnet_value"] == "11x11 (2012)"


def test_claim_rows_cut_long_words_and_keep_every_claim_of_the_chapter():
    rows = chapter.claim_rows(2, quote_width=20, value_width=10)
    assert [r["claim"] for r in rows] == [c["id"] for c in claims.evaluate_all(2)]
    assert all(len(r["the article"]) <= 20 and len(r["the book"]) <= 10 for r in rows)
    depth = next(r for r in rows if r["claim"] == "ch2-depth")
    assert depth["the article"].endswith("...")
    assert depth["the article"][:17] in claims.get_claim("ch2-depth").quote


TIMES = [{"label": "a", "width": 64, "mode": "forward", "speedup": 2.0, "faster": "holds",
          "proportional": "contradicted"},
         {"label": "b", "width": 64, "mode": "forward", "speedup": 0.5, "faster": "contradicted",
          "proportional": "contradicted"},
         {"label": "a", "width": 256, "mode": "forward", "speedup": 3.0, "faster": "holds",
          "proportional": "holds"},
         {"label": "a", "width": 256, "mode": "forward_backward", "speedup": 1.234,
          "faster": "holds", "proportional": "holds"}]


def test_layers_judged_lists_labels_at_one_width_and_label_with_width_at_all():
    assert chapter.layers_judged(TIMES, "faster", "holds", 64) == "a"
    assert chapter.layers_judged(TIMES, "faster", "holds") == "a (64), a (256)"
    assert chapter.layers_judged(TIMES, "faster", stats.INCONCLUSIVE) == "none"
    assert chapter.layers_judged(TIMES, "proportional", "holds", mode="forward_backward") == \
        "a (256)"
    with pytest.raises(ValueError, match="claim must be one of"):
        chapter.layers_judged(TIMES, "slower", "holds")


def test_glue_time_verdicts_and_speedup_of(monkeypatch):
    glued = {}
    monkeypatch.setattr(chapter, "glue",
                        lambda name, value, display: glued.update({name: value}))
    chapter.glue_time_verdicts("ch8_live", TIMES, (64, 256))
    assert {k: v for k, v in glued.items() if k.endswith("_64")} == {
        "ch8_live_holds_64": "a", "ch8_live_contra_64": "b", "ch8_live_open_64": "none",
        "ch8_live_prop_64": "none"}
    assert glued["ch8_live_prop_256"] == "a" and len(glued) == 8
    chapter.glue_time_verdicts("ch8_ref", TIMES)
    assert glued["ch8_ref_prop"] == "a (256)" and glued["ch8_ref_contra"] == "b (64)"
    assert chapter.speedup_of(TIMES, "a", 256, "forward_backward") == "1.23"
    assert chapter.speedup_of(TIMES, "c", 64) == "not measured"


def _claim(claim_id, chapter_number, kind, verdict):
    return {"id": claim_id, "chapter": chapter_number, "kind": kind, "verdict": verdict,
            "verdict_text": verdict if kind == claims.ARITHMETIC else f"{verdict} at 4 epochs",
            "explanation": f"why {claim_id}"}


VERDICTS = [
    _claim("a1", 1, claims.ARITHMETIC, "holds"),
    _claim("a2", 1, claims.ARITHMETIC, "wrong"),
    _claim("a3", 2, claims.ARITHMETIC, "holds"),
    _claim("e1", 2, claims.EMPIRICAL, "contradicted"),
]


def test_verdict_tables_count_each_kind_apart_and_list_what_fails():
    counts, empirical, failing = chapter.verdict_tables(VERDICTS)
    assert counts.loc["Chapter 1", (claims.ARITHMETIC, "holds")] == 1
    assert counts.loc["Chapter 2", (claims.EMPIRICAL, "contradicted")] == 1
    assert list(counts.loc["All chapters"]) == [2, 1, 1, 4]  # holds, wrong, contradicted, claims
    assert list(empirical.index) == ["e1"] and empirical.loc["e1", "verdict"].endswith("epochs")
    assert list(failing.index) == ["a2", "e1"] and failing.loc["a2", "why"] == "why a2"
    with pytest.raises(ValueError, match="each claim once"):
        chapter.verdict_tables(VERDICTS + [{**VERDICTS[0], "kind": "guess"}])


def test_glue_verdict_counts_glues_every_verdict_of_each_kind(monkeypatch):
    glued = {}
    monkeypatch.setattr(chapter, "glue",
                        lambda name, value, display: glued.update({name: value}))
    chapter.glue_verdict_counts("ch7", VERDICTS)
    assert glued["ch7_count_claims"] == 4 and glued["ch7_count_arithmetic"] == 3
    assert glued["ch7_count_arithmetic_wrong"] == 1 and glued["ch7_count_empirical_holds"] == 0
    assert glued["ch7_count_empirical_inconclusive_under_trained_at_this_budget"] == 0
    assert len(glued) == 3 + 2 * len(claims.CLAIM_VERDICTS)


def test_trick_rows_format_the_comparison_for_a_reader():
    from convlib.compare import compare_tricks

    rows = compare_tricks(64, 64, 5, 16, accuracy=True)
    shown = chapter.trick_rows(rows)
    assert [r["construction"] for r in shown] == [r["label"] for r in rows]
    assert shown[0]["weights"] == f"{25 * 64 * 64:,}" and shown[0]["x fewer weights"] == 1.0
    assert shown[0]["receptive field"] == "5x5"
    for row, line in zip(rows, shown):
        accuracy = line["test accuracy, % (experiment/variant)"]
        if row["accuracy"] is None:
            assert accuracy == "-"
        else:
            assert accuracy == (f"{100 * row['accuracy']:.1f} ± {100 * row['accuracy_std']:.1f}"
                                f" ({row['experiment']})")
