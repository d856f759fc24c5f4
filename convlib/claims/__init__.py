"""Every quantitative claim of the article, with the value the book computes and a verdict.

The source is *How to optimize Convolutional Layer with Convolution Kernel* (Arnault Chazareix,
2022). Each :class:`ArticleClaim` holds the article's words (a short quotation), the value the
article states, a function that computes the book's value by calling convlib (never a literal),
and a judge that turns the two into a verdict and a one-line explanation:

- ``holds``: the computed value agrees (to the article's stated precision);
- ``holds approximately``: it agrees within the tolerance the claim names (e.g. 20% for an
  "approximately"), or holds with a caveat the explanation gives;
- ``wrong``: the computed value contradicts the article;
- ``contradicted``: the book's evidence shows the opposite of the claim: for an experiment, the
  whole 95 % interval of the difference lies on the other side of 0 (or, for a "same
  performance" claim, wholly outside the stated margin); for ``ch3-lighter-network``, the book's
  reconstruction of the article's network;
- ``inconclusive at this budget``: the experiment's 95 % interval contains 0 (or, for a "same
  performance" claim, is not wholly inside the margin): the seeds and test images of the book's
  budget cannot tell; a larger budget might;
- ``inconclusive: under-trained at this budget`` and ``not comparable: this recipe is unstable
  for this variant``: an experiment whose interval decided, but whose less accurate network was
  still catching up, or whose training diverged (:mod:`convlib.experiments`);
- ``unverifiable``: the article gives no value to check (the explanation says what the book
  finds), or the budget cannot test the claim at all (the explanation says why).

Claims are of two kinds (:data:`KINDS`). An *arithmetic* claim (a count, a ratio, an identity,
a date) is judged by computation and its verdict needs no budget. An *empirical* claim is judged
by the book's reference experiments, through :mod:`convlib.stats` (the vocabulary of the whole
book, :data:`convlib.stats.EXPERIMENT_VERDICTS`) and the comparisons of
:mod:`convlib.experiments`, recomputed from the reference runs: the difference in the claim's
favour with its 95 % interval (the paired t interval over seeds and test images when the runs
stored per-image correctness, else the analytic interval, unpaired). A "better" claim holds when
the interval lies above 0; a "same performance" claim is an equivalence test against
:data:`SAME_MARGIN` (±1 point): it holds only when the whole interval lies inside the margin.
An empirical verdict always reads with the budget that produced it (``verdict_text``: "holds at
4 epochs, cpu set, 3 seeds"), and the explanation names the interval, its method, seeds, test
images, profile and data.

The claims live in one module per group of chapters (``dense_vs_conv``, ``kernel_sizes``,
``stacking``, ``depth``, and ``large_kernels`` for the two sentences chapter 9 checks); this
module collects them. ``python -m convlib.claims`` prints a table,
``--json`` the full list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

from convlib import results, stats
from convlib.experiments.verdicts import check_claims
from convlib.stats import CLAIM_VERDICTS, HOLDS, HOLDS_APPROXIMATELY, UNVERIFIABLE, WRONG

ARITHMETIC, EMPIRICAL = "arithmetic", "empirical"
KINDS = (ARITHMETIC, EMPIRICAL)  # judged by computation; judged by trained networks at a budget
SAME_MARGIN = 0.01  # "same performance" claims: equivalence within ±1 point of test accuracy
Judgement = tuple[str, str]


@dataclass(frozen=True)
class ArticleClaim:
    """One quantitative statement of the article and how the book checks it."""

    id: str
    chapter: int
    section: str
    quote: str
    article_value: Any
    compute: Callable[[], Any]
    judge: Callable[[Any, Any], Judgement]
    check: str


# ---- judges: (article_value, computed_value) -> (verdict, explanation) ----------------------

def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 or not 1000 <= value <= 2100 else str(value)
    return str(value)


def exact(what: str) -> Callable[[Any, Any], Judgement]:
    """Holds when the computed value equals the article's."""
    def judge(article: Any, computed: Any) -> Judgement:
        if computed == article:
            return HOLDS, f"{what}: the book computes {_fmt(computed)}, as the article says."
        return WRONG, f"{what}: the book computes {_fmt(computed)}, not {_fmt(article)}."
    return judge


def approximately(what: str, tolerance: float) -> Callable[[Any, Any], Judgement]:
    """Holds to the article's rounding (0.5% relative), approximately within ``tolerance``."""
    def judge(article: float, computed: float) -> Judgement:
        error = abs(float(computed) - float(article)) / abs(float(article))
        detail = (f"{what}: computed {_fmt(float(computed))} against the article's "
                  f"{_fmt(article)} ({error:.1%} off)")
        if error <= 0.005:
            return HOLDS, detail + "."
        if error <= tolerance:
            return (
                HOLDS_APPROXIMATELY,
                detail
                + f", within the {tolerance:.0%} allowed for a rounded or approximate figure.",
            )
        return WRONG, detail + f", beyond a {tolerance:.0%} tolerance."
    return judge


def missing_value(what: str) -> Callable[[Any, Any], Judgement]:
    """The article's sentence lacks its number: nothing to check, but the book gives its value."""
    def judge(article: Any, computed: Any) -> Judgement:
        return UNVERIFIABLE, f"the article omits the number; {what} is {_fmt(computed)}."
    return judge


def experiment_claim(experiment: str, index: int) -> Callable[[], dict]:
    """A compute function: the comparison of an experiment's claim, recomputed by
    :func:`convlib.experiments.check_claims` from the reference runs (never the stored verdict)."""
    def compute() -> dict:
        found = results.load_reference(experiment)
        if found is None:
            return {"available": False}
        comparison = check_claims(found)[index]
        prov = found["provenance"]
        keep = (
            "verdict",
            "explanation",
            "better",
            "worse",
            "metric",
            "mean_better",
            "mean_worse",
            "std_better",
            "std_worse",
            "difference",
            "low",
            "high",
            "method",
            "seeds",
            "test_images",
        )
        computed = {"available": True, **{k: comparison.get(k) for k in keep},
                    "budget": comparison["budget"], "profile": prov["profile"],
                    "dataset": prov["dataset"], "device": prov["device"]}
        if comparison["metric"] == "gap":  # how far training went: can the budget show overfitting?
            computed["train_acc"] = {
                v: round(
                    sum(
                        r["history"]["train_eval_acc"][-1]
                        for r in found["runs"]
                        if r["variant"] == v
                    )
                    / max(1, sum(r["variant"] == v for r in found["runs"])),
                    4,
                )
                for v in (comparison["better"], comparison["worse"])
            }
        return computed
    return compute


def where(computed: dict) -> str:
    """Profile, data and device of an experiment claim's numbers."""
    return f"{computed['dataset']}, profile {computed['profile']}, {computed['device']}"


def judge_experiment(article: Any, computed: dict) -> Judgement:
    """The stats verdict of a "better" experiment claim, with its interval and provenance."""
    if not computed.get("available"):
        return UNVERIFIABLE, "no reference results yet: run python -m convlib.experiments."
    return computed["verdict"], f"{computed['explanation']}; {where(computed)}."


# ---- the registry -------------------------------------------------------------------------

@cache
def all_claims() -> tuple[ArticleClaim, ...]:
    """Every registered claim, in the article's order."""
    # deferred: the claim modules import this package (Claim, the judges)
    from convlib.claims import dense_vs_conv, depth, kernel_sizes, large_kernels, stacking

    claims = (dense_vs_conv.CLAIMS + kernel_sizes.CLAIMS + stacking.CLAIMS + depth.CLAIMS
              + large_kernels.CLAIMS)
    ids = [c.id for c in claims]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise RuntimeError(f"duplicated claim ids: {duplicated}")
    return claims


def get_claim(claim_id: str) -> ArticleClaim:
    for claim in all_claims():
        if claim.id == claim_id:
            return claim
    raise ValueError(f"claim_id must be one of {[c.id for c in all_claims()]}; got {claim_id!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Fraction):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def claim_kind(computed: Any) -> str:
    """:data:`EMPIRICAL` for a claim judged by reference experiments (its computed value says
    whether their results are ``available``), else :data:`ARITHMETIC`."""
    return EMPIRICAL if isinstance(computed, dict) and "available" in computed else ARITHMETIC


def verdict_text(verdict: str, computed: Any) -> str:
    """The verdict as a reader sees it: an empirical verdict with its budget ("holds at 4 epochs,
    cpu set, 3 seeds"; "unverifiable (no reference results yet)"), an arithmetic one as it is."""
    if claim_kind(computed) == ARITHMETIC:
        return verdict
    if not computed.get("available"):
        return f"{verdict} (no reference results yet)"
    if verdict in stats.EXPERIMENT_VERDICTS:
        return stats.with_budget(verdict, computed["budget"])
    return f"{verdict} at {computed['budget']}"


@cache
def evaluate_claim(claim_id: str) -> dict:
    """The claim as plain data: id, chapter, section, quote, article_value, computed_value,
    check, kind (:data:`KINDS`), verdict, verdict_text (an empirical verdict with its budget)
    and explanation."""
    claim = get_claim(claim_id)
    computed = claim.compute()
    verdict, explanation = claim.judge(claim.article_value, computed)
    if verdict not in CLAIM_VERDICTS:
        raise RuntimeError(f"claim {claim.id}: verdict {verdict!r} is not one of {CLAIM_VERDICTS}")
    return {
        "id": claim.id,
        "chapter": claim.chapter,
        "section": claim.section,
        "quote": claim.quote,
        "article_value": _jsonable(claim.article_value),
        "computed_value": _jsonable(computed),
        "check": claim.check,
        "kind": claim_kind(computed),
        "verdict": verdict,
        "verdict_text": verdict_text(verdict, computed),
        "explanation": explanation,
    }


def verdict_counts(rows: list[dict]) -> dict[str, dict[str, int]]:
    """``{kind: {verdict: count}}`` of evaluated claims, arithmetic and empirical apart (an
    arithmetic HOLDS and a HOLDS at a training budget are not the same kind of evidence);
    verdicts in :data:`CLAIM_VERDICTS` order, only those that occur."""
    return {kind: {v: n for v in CLAIM_VERDICTS
                   if (n := sum(r["kind"] == kind and r["verdict"] == v for r in rows))}
            for kind in KINDS}


def evaluate_all(chapter: int | None = None) -> list[dict]:
    """Every claim (of ``chapter`` when given), evaluated."""
    if chapter is not None and (isinstance(chapter, bool) or not isinstance(chapter, int)):
        raise TypeError(f"chapter must be an int or None; got {type(chapter).__name__}")
    return [evaluate_claim(c.id) for c in all_claims() if chapter is None or c.chapter == chapter]


def claims_frame(chapter: int | None = None):
    """The evaluated claims as a pandas DataFrame (for the chapters' tables)."""
    import pandas as pd  # deferred: importing pandas takes about a second; only tables need it

    rows = evaluate_all(chapter)
    frame = pd.DataFrame(rows, columns=["id", "chapter", "quote", "article_value", "computed_value",
                                        "verdict", "explanation"])
    return frame


def short_value(value: Any) -> str:
    """A compact rendering of a computed value for tables and prose."""
    if isinstance(value, dict):
        if "verdict" in value and value.get("low") is not None:  # an experiment comparison
            a, b = (
                ("mean_better", "mean_worse")
                if "mean_better" in value
                else ("two_separable_3x3", "one_5x5")
            )
            return (f"{value[a]:.3f} vs {value[b]:.3f}, {100 * value['difference']:+.1f} pts "
                    f"[{100 * value['low']:+.1f}, {100 * value['high']:+.1f}]")
        if "verdict" in value and value.get("mean_better") is not None:
            return f"{value['mean_better']:.3f} vs {value['mean_worse']:.3f}"
        return ", ".join(f"{k}: {short_value(v)}" for k, v in value.items())
    return _fmt(value)
