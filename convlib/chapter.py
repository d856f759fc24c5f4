"""What the chapters call to show a claim or an experiment's reference results, in one place.

Chapters 4 to 7 each defined these for themselves (``check``, ``show_claim``, and the block that
loads a reference file, states where it came from and says what to run when it is missing).
Verdicts are shown the book's way: an empirical verdict always with its budget
(:func:`convlib.claims.verdict_text`, :func:`convlib.stats.with_budget`), numbers rounded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import torch
from torch import nn

from convlib import claims, results, stats
from convlib.experiments.registry import EXPERIMENTS
from convlib.experiments.verdicts import check_claims, summarize, unstable_seeds
from convlib.models import ArticleNet
from convlib.plots import glue
from convlib.plots.style import construction_of, line_style, variant_styles

NOT_AVAILABLE = "reference results not available yet"
MARGINS = (0.005, 0.01, 0.02)  # equivalence margins a "same performance" table shows: ±0.5, 1, 2


_WIDE = {"stem": 64, "widths": (64, 64)}
_GROUPED = {"stem": 32, "widths": (64, 64)}
# The networks of the format-1 reference sets, made in the article's frame (ArticleNet: the
# article's network, its Flatten + Dense head included) before the fair frame: per experiment and
# variant, (block kind, kernel size, options), as convlib.experiments built them then.
ARTICLE_FRAME = {
    "stacking": {
        "5x5": ("plain", 5, {}),
        "2x3x3": ("stacked", 5, {}),
        "7x7": ("plain", 7, {}),
        "3x3x3": ("stacked", 7, {}),
    },
    "separable": {"2x3x3": ("stacked", 5, {}), "2xsep3x3": ("separable", 3, {"repeats": 2})},
    "separable_wide": {
        "2x3x3": ("stacked", 5, {}),
        "2xsep3x3-wide": ("separable", 3, {"repeats": 2, "widths": (94, 188)}),
    },
    "bottleneck": {"3x3": ("plain", 3, _WIDE), "bottleneck": ("bottleneck", 3, _WIDE)},
    "bottleneck_deep": {
        "3x3": ("plain", 3, _WIDE),
        "bottleneck-deep": ("bottleneck", 3, {**_WIDE, "repeats": 8, "residual": True}),
    },
    "grouped": {f"g{g}": ("grouped", 3, {**_GROUPED, "groups": g}) for g in (1, 2, 4, 8)},
    "grouped_wide": {
        "g1": ("grouped", 3, {**_GROUPED, "groups": 1}),
        "g8-wide": ("grouped", 3, {"stem": 32, "widths": (208, 208), "groups": 8}),
    },
    "stacking_matched": {
        "2x3x3": ("stacked", 5, {}),
        "5x5-wide": ("plain", 5, {"widths": (36, 72)}),
    },
    "dense_vs_conv": {"cnn": ("plain", 3, {})},  # beside the MLP, which is no ArticleNet
}


def _article_frame_networks(name: str, found: dict | None) -> dict[str, nn.Module]:
    """The format-1 networks (:data:`ARTICLE_FRAME`), checked against ``found``'s stored
    weights."""
    if name not in ARTICLE_FRAME:
        raise ValueError(f"name must be one of {sorted(ARTICLE_FRAME)} for a format-1 file; "
                         f"got {name!r}")
    return _checked(name, found, {v: ArticleNet(kind, k, **options)
                                  for v, (kind, k, options) in ARTICLE_FRAME[name].items()})


def _checked(name: str, found: dict | None, nets: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """``nets``, after checking that each one's weights are those ``found`` stored for it."""
    stored = (found or {}).get("variants", {})
    for variant, net in nets.items():
        info = stored.get(variant)
        counts = (net.block_weights(), net.total_params())
        if info is not None and counts != (info["block_weights"], info["total_params"]):
            raise ValueError(f"{name}/{variant}: the stored weights {info['block_weights']:,} "
                             f"(convolutions) and {info['total_params']:,} (all) are not those "
                             f"of the network built for it ({counts[0]:,} and {counts[1]:,})")
    return nets


def _is_article_frame(found: dict | None) -> bool:
    return found is not None and found["format"] == 1


def experiment_networks(name: str, found: dict | None = None) -> dict[str, nn.Module]:
    """``{variant: network}`` of experiment ``name`` as the results ``found`` trained them (built,
    untrained), checked against the weights the file stored for each: a format-1 file's networks
    in the article's frame (:data:`ARTICLE_FRAME`; its MLP left out), a format-2 file's (and,
    without ``found``, today's) from the registry's builders (:mod:`convlib.experiments`)."""
    if _is_article_frame(found):
        return _article_frame_networks(name, found)
    if name not in EXPERIMENTS:
        raise ValueError(f"name must be one of {sorted(EXPERIMENTS)}; got {name!r}")
    return _checked(name, found, {v.name: v.build() for v in EXPERIMENTS[name].variants})


def experiment_construction(name: str, variant: str,
                            found: dict | None = None) -> tuple[str, int | None]:
    """The style map's construction of one variant of experiment ``name`` in the frame of
    ``found`` (:func:`convlib.plots.style.construction_of`): ``("plain", k)`` for a plain k x k
    network, ``(kind, None)`` or ``(kind, k)`` for the other block kinds, ``("cnn", None)`` for
    a network outside the map (the MLP)."""
    if _is_article_frame(found):
        kind, kernel_size, _ = ARTICLE_FRAME.get(name, {}).get(variant, ("cnn", None, None))
        return (kind, kernel_size if kind == "plain" else None)
    if name not in EXPERIMENTS:
        raise ValueError(f"name must be one of {sorted(EXPERIMENTS)}; got {name!r}")
    for candidate in EXPERIMENTS[name].variants:
        if candidate.name == variant:
            return construction_of(getattr(candidate.build, "spec", None))
    raise ValueError(f"variant must be one of {[v.name for v in EXPERIMENTS[name].variants]}; "
                     f"got {variant!r}")


def experiment_styles(name: str, found: dict | None = None) -> dict[str, dict]:
    """``{variant: line style}`` of experiment ``name``'s networks in the frame of ``found``, from
    the book's style map (one colour per construction; a plain network's by its kernel size),
    without the construction's label (the variant has its own)."""
    if not _is_article_frame(found):
        if name not in EXPERIMENTS:
            raise ValueError(f"name must be one of {sorted(EXPERIMENTS)}; got {name!r}")
        return variant_styles(EXPERIMENTS[name].variants)
    styles = {}
    for variant in ARTICLE_FRAME.get(name, {}):
        style = line_style(*experiment_construction(name, variant, found))
        styles[variant] = {key: value for key, value in style.items() if key != "label"}
    return styles


def check_claim(claim_id: str) -> dict:
    """The claim of the registry, evaluated (:func:`convlib.claims.evaluate_claim`). Some claims
    run a layer on a random input: no gradients are needed to compare outputs."""
    with torch.no_grad():
        return claims.evaluate_claim(claim_id)


def glue_key(claim_id: str) -> str:
    """The glue name of a claim: ``"ch6-less-efficient"`` -> ``"ch6_less_efficient"``."""
    return claim_id.replace("-", "_")


def show_claim(claim_id: str) -> dict:
    """Print a claim's verdict (with its budget when empirical) and explanation, glue them as
    ``<chN_name>_verdict`` and ``<chN_name>_explanation`` for the page's claim-check box, and
    return the evaluated claim."""
    claim = check_claim(claim_id)
    glue(f"{glue_key(claim_id)}_verdict", claim["verdict_text"], display=False)
    glue(f"{glue_key(claim_id)}_explanation", claim["explanation"], display=False)
    print(f"{claim_id}: {claim['verdict_text']}\n    {claim['explanation']}")
    return claim


def load_experiment(name: str) -> dict | None:
    """The reference results of experiment ``name`` (:func:`convlib.results.load_reference`),
    or None after printing what to run to make them."""
    if name not in EXPERIMENTS:
        raise ValueError(f"name must be one of {sorted(EXPERIMENTS)}; got {name!r}")
    found = results.load_reference(name)
    if found is None:
        print(f"{NOT_AVAILABLE} for '{name}': the figures, tables and verdicts that need them "
              f"are skipped. Make them with `python -m convlib.experiments run {name}`.")
    return found


def provenance(found: dict | None) -> str:
    """Where an experiment's numbers come from (:func:`convlib.results.provenance_line`), for
    the page's collapsed provenance note; :data:`NOT_AVAILABLE` without results."""
    return results.provenance_line(found) if found is not None else NOT_AVAILABLE


def verdict(found: dict | None, index: int = 0) -> tuple[dict | None, str]:
    """``(comparison, text)`` of the ``index``-th claim of an experiment's results
    (:func:`convlib.experiments.verdicts.check_claims`): the text is the verdict with its budget
    and, when the interval alone would say otherwise, why; ``(None, "not available yet")``
    without results."""
    if found is None:
        return None, "not available yet"
    comparison = check_claims(found)[index]
    if "note" in comparison:
        return comparison, f"{comparison['verdict_text']} ({comparison['note']})"
    return comparison, comparison["verdict_text"]


def exact_mean(found: dict, variant: str) -> Fraction:
    """A variant's mean final test accuracy over its seeds, exactly: every run's accuracy is a
    count of right images over the test images, so the mean is a fraction, rounded once where
    it is shown."""
    n_images = found["provenance"]["test_size"]
    values = summarize(found, "test_acc")[variant]["values"]
    counts = [round(value * n_images) for value in values]
    if any(abs(count - value * n_images) > 1e-6 for count, value in zip(counts, values)):
        raise ValueError(f"the test accuracies of {variant!r} are not counts over "
                         f"{n_images} images: {values}")
    return Fraction(sum(counts), n_images * len(counts))


def accuracy_rows(found: dict) -> list[dict]:
    """One row per variant, for a reader: label, convolution weights, mean final test accuracy
    in % (rounded once, from :func:`exact_mean`) with its 95 % interval
    (:func:`convlib.stats.accuracy_interval`), or the per-seed values of a variant whose training
    went unstable (no interval for a recipe that diverged), and the seeds."""
    rows = []
    for variant, info in found["variants"].items():
        values = summarize(found, "test_acc")[variant]["values"]
        if unstable_seeds(found, variant):
            shown = "per seed: " + ", ".join(f"{100 * v:.1f}" for v in values)
        else:
            _, low, high = stats.accuracy_interval(values, found["provenance"]["test_size"])
            shown = (f"{float(100 * exact_mean(found, variant)):.1f} "
                     f"[{100 * low:.1f}, {100 * high:.1f}]")
        rows.append({"network": info["label"], "conv weights": f"{info['block_weights']:,}",
                     "test accuracy (%)": shown, "seeds": len(values)})
    return rows


def margin_rows(comparison: stats.Comparison, budget: str,
                margins: Sequence[float] = MARGINS) -> list[dict]:
    """A "same performance" claim judged at several equivalence margins
    (:func:`convlib.stats.judge` with :data:`convlib.stats.SAME`): per margin, the verdict with
    its ``budget`` (:func:`convlib.experiments.budget_text`) and what the interval shows instead
    (the direction when it excludes 0, the smallest margin it can show), in the words of
    :mod:`convlib.stats`."""
    rows = []
    for margin in margins:
        judged = stats.judge(comparison, stats.SAME, margin=margin)
        # the explanation: "... (paired t over ...)[; what it shows instead]: verdict"
        _, _, detail = judged.explanation.rpartition(f": {judged.verdict}")[0].partition("); ")
        rows.append({"margin (points)": f"±{100 * margin:g}",
                     "verdict": stats.with_budget(judged.verdict, budget),
                     "what the interval shows": detail or "the whole interval inside the margin"})
    return rows


def glue_values(values: dict[str, object]) -> None:
    """Glue every value of ``values`` under its name, not displayed: the page shows each one
    where its text cites it (``{glue:text}`name` ``)."""
    for name, value in values.items():
        glue(name, value, display=False)


def glue_claims(*claim_ids: str) -> dict[str, dict]:
    """Evaluate claims (:func:`check_claim`) and glue, for each, its short computed value
    (:func:`convlib.claims.short_value`), its verdict (with its budget when empirical) and its
    explanation as ``<chN_name>_value``, ``_verdict`` and ``_explanation`` (:func:`glue_key`)
    for the page's claim-check boxes, without printing: ``{claim id: evaluated claim}``."""
    evaluated = {}
    for claim_id in claim_ids:
        claim = evaluated[claim_id] = check_claim(claim_id)
        glue_values({f"{glue_key(claim_id)}_value": claims.short_value(claim["computed_value"]),
                     f"{glue_key(claim_id)}_verdict": claim["verdict_text"],
                     f"{glue_key(claim_id)}_explanation": claim["explanation"]})
    return evaluated


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def claim_rows(chapter: int, quote_width: int = 70, value_width: int = 60) -> list[dict]:
    """One row per claim of chapter ``chapter``, for its closing table: the claim's id, the
    article's words and the book's computed value, each cut to a width with "...", and the
    verdict (with its budget when empirical)."""
    return [{"claim": c["id"], "the article": _shorten(c["quote"], quote_width),
             "the book": _shorten(claims.short_value(c["computed_value"]), value_width),
             "verdict": c["verdict_text"]} for c in claims.evaluate_all(chapter)]


# The verdicts a chapter-8 sentence lists layers under, by the glue name's word.
_TIME_VERDICTS = {"holds": stats.HOLDS, "contra": stats.CONTRADICTED,
                  "open": stats.INCONCLUSIVE}


def layers_judged(table: Sequence[dict], claim: str, verdict: str, width: int | None = None,
                  mode: str = "forward") -> str:
    """The layers of a :func:`convlib.roofline.time_claims` table whose ``claim``
    (``"faster"`` or ``"proportional"``) got ``verdict`` in ``mode``, for a sentence: at one
    ``width`` their labels, at every width (None) each with its width in brackets; "none"."""
    if claim not in ("faster", "proportional"):
        raise ValueError(f"claim must be one of ['faster', 'proportional']; got {claim!r}")
    names = [c["label"] + ("" if width else f" ({c['width']})") for c in table
             if c[claim] == verdict and width in (None, c["width"]) and c["mode"] == mode]
    return ", ".join(names) if names else "none"


def glue_time_verdicts(prefix: str, table: Sequence[dict],
                       widths: Sequence[int | None] = (None,)) -> None:
    """Glue, for the forward passes of a :func:`convlib.roofline.time_claims` table, at each
    width of ``widths`` (None: all widths together), the layers for which "faster" holds, is
    contradicted and is inconclusive, and those "as many times faster as lighter":
    ``<prefix>_holds``, ``_contra``, ``_open`` and ``_prop``, ending in ``_<width>`` for a width."""
    values = {}
    for width in widths:
        suffix = "" if width is None else f"_{width}"
        values.update({f"{prefix}_{word}{suffix}": layers_judged(table, "faster", verdict, width)
                       for word, verdict in _TIME_VERDICTS.items()})
        values[f"{prefix}_prop{suffix}"] = layers_judged(table, "proportional", stats.HOLDS,
                                                         width)
    glue_values(values)


def speedup_of(table: Sequence[dict], label: str, width: int, mode: str = "forward") -> str:
    """How many times faster than its baseline the layer ``label`` ran at ``width`` in a
    :func:`convlib.roofline.time_claims` table, to two decimals; "not measured" if absent."""
    found = [c for c in table if (c["label"], c["width"], c["mode"]) == (label, width, mode)]
    return f"{found[0]['speedup']:.2f}" if found else "not measured"


def trick_rows(rows: Sequence[dict]) -> list[dict]:
    """Chapter 7's table of :func:`convlib.compare.compare_tricks` rows, for a reader: weights,
    how many times fewer than the plain convolution (2 decimals), FLOPs, receptive field and
    the reference experiment's test accuracy (mean ± std over seeds, %), "-" where none."""
    def accuracy(row: dict) -> str:
        if row["accuracy"] is None:
            return "-"
        return (f"{100 * row['accuracy']:.1f} ± {100 * row['accuracy_std']:.1f} "
                f"({row['experiment']})")

    return [{"construction": row["label"], "weights": f"{row['weights']:,}",
             "x fewer weights": round(row["weight_ratio"], 2), "FLOPs": f"{row['flops']:,}",
             "receptive field": f"{row['receptive_field']}x{row['receptive_field']}",
             "test accuracy, % (experiment/variant)": accuracy(row)} for row in rows]


def verdict_tables(evaluated: Sequence[dict]) -> tuple:
    """The book's verdicts on the article (chapter 7), from evaluated claims
    (:func:`convlib.claims.evaluate_all`), as three pandas tables: the claims counted per
    chapter and verdict, arithmetic and empirical apart (:func:`convlib.claims.verdict_counts`),
    with a row for all chapters and a column of claims; the empirical claims with their
    verdict and budget; the claims that do not hold (wrong or contradicted), with why."""
    import pandas as pd  # deferred: importing pandas takes about a second; only tables need it

    by_kind = claims.verdict_counts(list(evaluated))
    columns = [(kind, verdict) for kind in by_kind for verdict in by_kind[kind]]
    frame = pd.DataFrame(evaluated).assign(chapter=lambda f: "Chapter " + f["chapter"].astype(str))
    counts = (frame.pivot_table(index="chapter", columns=["kind", "verdict"], values="id",
                                aggfunc="count", fill_value=0)
              .reindex(columns=pd.MultiIndex.from_tuples(columns), fill_value=0))
    counts.loc["All chapters"] = counts.sum()
    counts["claims"] = counts.sum(axis=1)
    if counts.loc["All chapters", "claims"].item() != len(evaluated):
        raise ValueError("evaluated must hold each claim once, with a verdict of its kind")
    empirical = pd.DataFrame([{"claim": c["id"], "chapter": c["chapter"],
                               "verdict": c["verdict_text"]}
                              for c in evaluated if c["kind"] == claims.EMPIRICAL])
    failing = pd.DataFrame([{"claim": c["id"], "chapter": c["chapter"],
                             "verdict": c["verdict_text"], "why": c["explanation"]}
                            for c in evaluated if c["verdict"] in ("wrong", "contradicted")])
    return counts, empirical.set_index("claim"), failing.set_index("claim")


def glue_verdict_counts(prefix: str, evaluated: Sequence[dict]) -> None:
    """Glue how many of the evaluated claims are of each kind, ``<prefix>_count_<kind>``, and
    how many of each kind got each verdict of :data:`convlib.claims.CLAIM_VERDICTS` (0 for
    those that do not occur), ``<prefix>_count_<kind>_<verdict in snake case>``, and the
    claims in all, ``<prefix>_count_claims``."""
    by_kind = claims.verdict_counts(list(evaluated))
    values = {f"{prefix}_count_claims": len(evaluated)}
    for kind in (claims.ARITHMETIC, claims.EMPIRICAL):
        values[f"{prefix}_count_{kind}"] = sum(by_kind[kind].values())
        for verdict in claims.CLAIM_VERDICTS:
            key = verdict.replace(" ", "_").replace(":", "").replace("-", "_")
            values[f"{prefix}_count_{kind}_{key}"] = by_kind[kind].get(verdict, 0)
    glue_values(values)


__all__ = [
    "ARTICLE_FRAME",
    "MARGINS",
    "NOT_AVAILABLE",
    "accuracy_rows",
    "check_claim",
    "glue_verdict_counts",
    "trick_rows",
    "verdict_tables",
    "claim_rows",
    "exact_mean",
    "experiment_construction",
    "experiment_networks",
    "experiment_styles",
    "glue_claims",
    "glue_key",
    "glue_time_verdicts",
    "glue_values",
    "layers_judged",
    "speedup_of",
    "load_experiment",
    "margin_rows",
    "provenance",
    "show_claim",
    "verdict",
]
