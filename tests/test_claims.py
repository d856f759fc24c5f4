"""convlib.claims: the registry's shape, verdicts, JSON output, and values that come from code."""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest

from convlib import claims, stats
from convlib.book import PORTABLE_ENV
from convlib.claims import __main__ as claims_cli
from convlib.io import REPO_ROOT

KEYS = {"id", "chapter", "quote", "article_value", "computed_value", "verdict", "explanation"}


def cli(capsys, *argv: str) -> str:
    assert claims_cli.main(list(argv)) == 0
    return capsys.readouterr().out


def test_json_cli_lists_every_claim_with_the_required_keys(capsys):
    rows = json.loads(cli(capsys, "--json"))
    assert isinstance(rows, list) and len(rows) == len(claims.all_claims())
    for row in rows:
        assert KEYS <= set(row), row["id"]
        assert row["verdict"] in stats.CLAIM_VERDICTS
        assert row["explanation"] and row["quote"]


@pytest.mark.slow  # evaluates all 42 claims twice, once in a fresh interpreter
def test_the_registry_json_is_the_same_on_another_machine(capsys):
    """The identities' differences are rounding residues that depend on the CPU: the registry
    states them as verdicts against a tolerance, so its JSON does not change with the machine."""
    here = cli(capsys, "--json")
    env = {**os.environ, **PORTABLE_ENV}
    there = subprocess.run([sys.executable, "-m", "convlib.claims", "--json"], cwd=REPO_ROOT,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert there == here
    identities = {row["id"]: row["computed_value"] for row in json.loads(here)
                  if row["check"].startswith("identities.")}
    assert identities and set(identities.values()) == {"below 1e-12"}


def test_table_cli_prints_a_summary(capsys):
    out = cli(capsys, "--chapter", "3")
    assert "ch3-ratio-5x5" in out and "ch1-" not in out


def test_ids_are_unique_and_chapters_cover_the_article():
    ids = [c.id for c in claims.all_claims()]
    assert len(ids) == len(set(ids))
    assert {c.chapter for c in claims.all_claims()} == {1, 2, 3, 4, 5, 6, 7, 9}


def _returns_only_literals(function) -> bool:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    returns = [node for node in ast.walk(tree) if isinstance(node, ast.Return)]
    return bool(returns) and all(isinstance(r.value, ast.Constant) for r in returns)


@pytest.mark.parametrize("claim", claims.all_claims(), ids=lambda c: c.id)
def test_computed_value_comes_from_code_not_a_literal(claim):
    assert callable(claim.compute) and not _returns_only_literals(claim.compute)


def test_changing_the_library_changes_the_computed_values(monkeypatch):
    """If the formulas in convlib.params change, the claims that use them change: nothing is
    typed in."""
    from convlib import params

    before = {row["id"]: row["computed_value"] for row in claims.evaluate_all()}
    original = params.conv2d_params
    monkeypatch.setattr(params, "conv2d_params", lambda *a, **k: original(*a, **k) + 1)
    claims.evaluate_claim.cache_clear()
    try:
        after = {row["id"]: row["computed_value"] for row in claims.evaluate_all()}
    finally:
        claims.evaluate_claim.cache_clear()
    for claim_id in ("ch4-plain-65536", "ch3-ratio-5x5", "ch7-thirteen-times", "ch6-surface-3x3"):
        assert after[claim_id] != before[claim_id], claim_id


def test_the_articles_known_errors_are_found():
    assert claims.evaluate_claim("ch4-plain-65536")["verdict"] == "wrong"
    assert claims.evaluate_claim("ch4-plain-65536")["computed_value"] == 589_824
    assert claims.evaluate_claim("ch5-resnext-year")["verdict"] == "wrong"
    assert claims.evaluate_claim("ch3-ratio-7x7")["verdict"] == "unverifiable"


def test_bad_ids_and_chapters_are_rejected():
    with pytest.raises(ValueError, match="claim_id"):
        claims.get_claim("nope")
    with pytest.raises(TypeError, match="chapter"):
        claims.evaluate_all("3")


def test_verdicts_share_the_stats_vocabulary():
    assert set(stats.VERDICTS) <= set(stats.EXPERIMENT_VERDICTS) <= set(stats.CLAIM_VERDICTS)
    assert "not reproduced" not in stats.CLAIM_VERDICTS
    assert {"holds approximately", "wrong", "unverifiable"} <= set(stats.CLAIM_VERDICTS)


def _available(**fields):
    base = {"available": True, "dataset": "CIFAR-10", "profile": "quick", "device": "CPU",
            "better": "cnn", "worse": "mlp", "metric": "test_acc"}
    return {**base, **fields}


@pytest.mark.parametrize("verdict", ["holds", "contradicted", "inconclusive at this budget"])
def test_an_experiment_claim_takes_the_comparisons_stats_verdict(verdict):
    computed = _available(
        verdict=verdict, explanation=f"cnn - mlp = ... (analytic interval ...): {verdict}"
    )
    got, explanation = claims.judge_experiment(None, computed)
    assert got == verdict and explanation.startswith("cnn - mlp") and "profile quick" in explanation
    assert claims.judge_experiment(None, {"available": False})[0] == "unverifiable"


def test_experiment_claims_are_recomputed_with_an_interval():
    for claim_id in (
        "ch1-overfitting",
        "ch3-better-result",
        "ch6-less-efficient",
        "ch7-same-performance",
    ):
        row = claims.evaluate_claim(claim_id)
        if not row["computed_value"].get("available"):
            continue
            assert row["verdict"] in stats.EXPERIMENT_VERDICTS
        assert row["kind"] == claims.EMPIRICAL
        assert row["verdict_text"].startswith(row["verdict"])
        assert row["computed_value"]["budget"] in row["verdict_text"]
        assert row["verdict_text"] in row["explanation"]
        assert "95% interval" in row["explanation"] and "seeds" in row["explanation"]
        assert "test images" in row["explanation"] and "profile" in row["explanation"]


def test_overfitting_is_unverifiable_when_neither_network_overfits():
    from convlib.claims.dense_vs_conv import _judge_overfitting_gap

    explanation = "mlp gap - cnn gap = -1.68 points, ...: inconclusive at this budget"
    short = _available(metric="gap", verdict="inconclusive at this budget", explanation=explanation,
                       train_acc={"cnn": 0.636, "mlp": 0.454})
    verdict, text = _judge_overfitting_gap(None, short)
    assert verdict == "unverifiable"
    assert text.startswith(
        "unverifiable at this budget: neither network was trained long enough to "
        "overfit (training accuracy 0.636 and 0.454"
    )
    trained = {**short, "train_acc": {"cnn": 0.99, "mlp": 1.0}, "verdict": "holds"}
    assert _judge_overfitting_gap(None, trained)[0] == "holds"
    row = claims.evaluate_claim("ch1-overfitting-gap")
    if (
        row["computed_value"].get("available")
        and max(row["computed_value"]["train_acc"].values()) < 0.95
    ):
        assert row["verdict"] == "unverifiable"


def test_same_performance_is_an_equivalence_test_with_a_one_point_margin():
    from convlib.claims.depth import _judge_same_performance

    assert claims.SAME_MARGIN == 0.01
    row = claims.evaluate_claim("ch7-same-performance")
    computed = row["computed_value"]
    if computed.get("available"):
        inside = -0.01 < computed["low"] and computed["high"] < 0.01
        assert (row["verdict"] == "holds") == inside
        assert "margin ±1.00 points" in row["explanation"]
    base = {"available": True, "two_separable_3x3": 0.6, "one_5x5": 0.6, "margin": 0.01,
            "dataset": "CIFAR-10", "profile": "quick"}
    for verdict in ("holds", "inconclusive at this budget", "contradicted"):
        assert (
            _judge_same_performance(None, {**base, "verdict": verdict, "explanation": "..."})[0]
            == verdict
        )


def test_article_claims_and_run_verdicts_have_distinct_names():
    from convlib.experiments.registry import ExperimentClaim

    assert ExperimentClaim is not claims.ArticleClaim
    assert set(stats.EXPERIMENT_VERDICTS) < set(stats.CLAIM_VERDICTS)


def test_same_performance_compares_two_files_of_one_reference_set():
    """Chapter 7's claim reads two experiments: both from the one set that has both complete,
    even while a stronger set has only one of them (the cpu set is made experiment by
    experiment)."""
    from convlib import results
    from convlib.claims.depth import _same_performance

    computed = _same_performance()
    profile, found = results.load_set(["stacking", "separable"])
    assert computed["available"] == (len(found) == 2)
    if computed["available"]:
        assert computed["profile"] == profile
        assert {r["provenance"]["profile"] for r in found.values()} == {profile}


def test_deeper_is_not_better_than_wider_in_the_literature_and_torchvisions_records():
    row = claims.evaluate_claim("ch9-deeper-not-wider")
    computed = row["computed_value"]
    deep, wide = computed["ResNet-152"], computed["Wide ResNet-50-2"]
    assert (
        deep["convolutions"] > 2 * wide["convolutions"]
        and wide["widest_3x3"] == 2 * deep["widest_3x3"]
    )
    assert row["verdict"] == ("wrong" if wide["top1"] >= deep["top1"] else "unverifiable")
    assert "Wide Residual Networks" in row["explanation"] and "EfficientNet" in row["explanation"]


def test_convolutions_save_weight_memory_not_activation_memory():
    from convlib.claims.large_kernels import _judge_memory

    row = claims.evaluate_claim("ch9-conv-memory")
    conv, dense = row["computed_value"]["conv"], row["computed_value"]["dense"]
    assert conv["weights"] == 8 * 3 * 9 + 8 and dense["weights"] == 768 * 2048 + 2048
    # each keeps its input (3 x 16 x 16) and its ReLU's output (8 x 16 x 16), float32
    assert (
        conv["activation_bytes_per_image"]
        == dense["activation_bytes_per_image"]
        == 4 * (768 + 2048)
    )
    assert row["verdict"] == "holds approximately"
    heavier = {**row["computed_value"], "conv": {**conv, "weight_bytes": 10**9}}
    assert _judge_memory(None, heavier)[0] == "wrong"


def test_arithmetic_verdicts_stand_alone_and_empirical_ones_name_their_budget():
    rows = claims.evaluate_all()
    kinds = {row["id"]: row["kind"] for row in rows}
    assert kinds["ch4-plain-65536"] == kinds["ch5-grouped-split"] == claims.ARITHMETIC
    assert kinds["ch3-better-result"] == kinds["ch7-same-performance"] == claims.EMPIRICAL
    for row in rows:
        if row["kind"] == claims.ARITHMETIC:
            assert row["verdict_text"] == row["verdict"], row["id"]
        elif row["computed_value"]["available"]:
            assert " epochs, " in row["verdict_text"] and " set, " in row["verdict_text"], row["id"]


@pytest.mark.parametrize("verdict, text", [
    ("holds", "holds at 4 epochs, cpu set, 3 seeds"),
    ("inconclusive: under-trained at this budget",
     "inconclusive: under-trained at this budget (4 epochs, cpu set, 3 seeds)"),
    ("unverifiable", "unverifiable at 4 epochs, cpu set, 3 seeds"),
])
def test_an_empirical_verdict_reads_with_its_budget(verdict, text):
    computed = _available(budget="4 epochs, cpu set, 3 seeds")
    assert claims.verdict_text(verdict, computed) == text
    assert claims.verdict_text("unverifiable", {"available": False}) == (
        "unverifiable (no reference results yet)")
    assert claims.verdict_text("holds", 589_824) == "holds"


def test_the_tally_counts_arithmetic_and_empirical_verdicts_apart(capsys):
    rows = [
        {"kind": claims.ARITHMETIC, "verdict": "holds"},
        {"kind": claims.EMPIRICAL, "verdict": "holds"},
        {"kind": claims.EMPIRICAL, "verdict": stats.UNDER_TRAINED},
    ]
    assert claims.verdict_counts(rows) == {claims.ARITHMETIC: {"holds": 1},
                                           claims.EMPIRICAL: {"holds": 1, stats.UNDER_TRAINED: 1}}
    out = cli(capsys)
    assert "\narithmetic: " in out and "\nempirical: " in out
    every = claims.evaluate_all()
    assert sum(sum(c.values()) for c in claims.verdict_counts(every).values()) == len(every)


def test_the_trained_comparisons_own_verdicts_are_claim_verdicts():
    assert set(stats.EXPERIMENT_VERDICTS) <= set(stats.CLAIM_VERDICTS)
