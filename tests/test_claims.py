"""convlib.claims: the registry's shape, verdicts, JSON output, and values that come from code."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
import textwrap

import pytest

from convlib import claims
from convlib.book import ROOT

KEYS = {"id", "chapter", "quote", "article_value", "computed_value", "verdict", "explanation"}


def test_json_cli_lists_every_claim_with_the_required_keys():
    out = subprocess.run([sys.executable, "-m", "convlib.claims", "--json"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    rows = json.loads(out)
    assert isinstance(rows, list) and len(rows) == len(claims.all_claims())
    for row in rows:
        assert KEYS <= set(row), row["id"]
        assert row["verdict"] in claims.VERDICTS
        assert row["explanation"] and row["quote"]


def test_table_cli_prints_a_summary():
    out = subprocess.run([sys.executable, "-m", "convlib.claims", "--chapter", "3"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "ch3-ratio-5x5" in out and "ch1-" not in out


def test_ids_are_unique_and_chapters_cover_the_article():
    ids = [c.id for c in claims.all_claims()]
    assert len(ids) == len(set(ids))
    assert {c.chapter for c in claims.all_claims()} == {1, 2, 3, 4, 5, 6, 7}


def _returns_only_literals(function) -> bool:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    returns = [node for node in ast.walk(tree) if isinstance(node, ast.Return)]
    return bool(returns) and all(isinstance(r.value, ast.Constant) for r in returns)


@pytest.mark.parametrize("claim", claims.all_claims(), ids=lambda c: c.id)
def test_computed_value_comes_from_code_not_a_literal(claim):
    assert callable(claim.compute) and not _returns_only_literals(claim.compute)


def test_changing_the_library_changes_the_computed_values(monkeypatch):
    """If the formulas in convlib.params change, the dependent claims change: nothing is typed in."""
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
