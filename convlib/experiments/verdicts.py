"""The verdict of every comparison of an experiment, recomputed from its runs.

Every comparison of an experiment (an :class:`~convlib.experiments.registry.ExperimentClaim`:
``better`` beats ``worse``) is made by :mod:`convlib.stats`, the book's one vocabulary: the mean
difference over seeds, its 95 % interval and a verdict, ``holds`` (interval above 0),
``contradicted`` (below 0) or ``inconclusive at this budget`` (contains 0), with a one-line
explanation. The interval is the *paired t interval over seeds and test images*
(:func:`convlib.stats.compare`) over the seeds both variants ran: every run stores which test
images it got right (``test_correct``, packed). A train-test gap claim ("overfits less": lower is
better) compares the worse variant's gap minus the better one's, paired on the training sample's
images too where the runs stored them (``train_correct``, the fair-frame files); the format-1
files did not, and their gaps get the analytic interval (:func:`convlib.stats.compare_means`:
Welch t over the seeds plus the binomial noise of the test set and of the training sample,
unpaired, so wider).

An interval that decides can still mislead when the less accurate network's training went
unstable or it was still catching up as training stopped: the verdict then says so
(:data:`convlib.stats.NOT_COMPARABLE`, :data:`convlib.stats.UNDER_TRAINED`).
"""

from __future__ import annotations

import math

from convlib import stats
from convlib.experiments.files import file_claims
from convlib.experiments.registry import ExperimentClaim


def final_metric(run: dict, metric: str) -> float:
    """A run's last-epoch ``metric``: ``test_acc``, or ``gap`` (the training sample's accuracy,
    measured like the test one, minus the test accuracy)."""
    history = run["history"]
    if metric == "test_acc":
        return history["test_acc"][-1]
    if metric == "gap":
        return history["train_eval_acc"][-1] - history["test_acc"][-1]
    raise ValueError(f"metric must be 'test_acc' or 'gap'; got {metric!r}")


def summarize(results: dict, metric: str = "test_acc") -> dict[str, dict]:
    """Per variant: number of seeds, mean and sample standard deviation of the final ``metric``."""
    summary = {}
    for variant in results["variants"]:
        values = [final_metric(r, metric) for r in results["runs"] if r["variant"] == variant]
        mean = sum(values) / len(values)
        spread = sum((v - mean) ** 2 for v in values)
        std = math.sqrt(spread / (len(values) - 1)) if len(values) > 1 else 0.0
        summary[variant] = {"n": len(values), "mean": mean, "std": std, "values": values}
    return summary


def _runs(results: dict, variant: str) -> list[dict]:
    return sorted((r for r in results["runs"] if r["variant"] == variant), key=lambda r: r["seed"])


def compare_variants(results_a: dict, a: str, results_b: dict, b: str, metric: str = "test_acc",
                     labels: tuple[str, str] | None = None) -> stats.Comparison:
    """Variant ``a`` of ``results_a`` against variant ``b`` of ``results_b`` (the same file, or two
    experiments' files), as a :class:`convlib.stats.Comparison` of ``a - b``, over the seeds both
    ran.

    Paired (:func:`convlib.stats.compare`, :func:`convlib.stats.compare_gaps`) on the test images,
    and for a gap on the training sample's images too where every run stored them; the
    format-1 files' gaps get the analytic unpaired interval (:func:`_unpaired_gaps`).
    """
    runs_a, runs_b = _runs(results_a, a), _runs(results_b, b)
    if not runs_a or not runs_b:
        raise ValueError(f"no runs of {a if not runs_a else b!r} in the results")
    both = {r["seed"] for r in runs_a} & {r["seed"] for r in runs_b}
    if not both:
        raise ValueError(f"{a!r} and {b!r} ran no seed in common: nothing to pair")
    runs_a, runs_b = ([r for r in runs if r["seed"] in both] for runs in (runs_a, runs_b))
    labels = labels or (a, b)
    if metric == "test_acc":
        return stats.compare([r["test_correct"] for r in runs_a],
                             [r["test_correct"] for r in runs_b], labels=labels)
    if metric != "gap":
        raise ValueError(f"metric must be 'test_acc' or 'gap'; got {metric!r}")
    if all(r.get("train_correct") for r in runs_a + runs_b):
        return stats.compare_gaps(*([r[key] for r in runs] for runs in (runs_a, runs_b)
                                    for key in ("train_correct", "test_correct")),
                                  labels=labels)
    n_images = min(results_a["provenance"]["test_size"], results_b["provenance"]["test_size"])
    return _unpaired_gaps(runs_a, runs_b, n_images, labels)


def _unpaired_gaps(runs_a: list[dict], runs_b: list[dict], n_images: int,
                   labels: tuple[str, str]) -> stats.Comparison:
    """The gaps of runs without per-image answers on the training sample (format-1 files): the
    binomial noise of the test set (``n_images``) and of the training sample (as many images as
    the test set, or the whole training set when smaller)."""
    sampling = []
    for runs in (runs_a, runs_b):
        test = sum(r["history"]["test_acc"][-1] for r in runs) / len(runs)
        train = sum(r["history"]["train_eval_acc"][-1] for r in runs) / len(runs)
        train = min(max(train, 0.0), 1.0)
        sample = min(n_images, runs[0]["history"]["train_size"] or n_images)
        sampling.append(test * (1 - test) / n_images + train * (1 - train) / sample)
    gaps = [[final_metric(r, "gap") for r in runs] for runs in (runs_a, runs_b)]
    return stats.compare_means(gaps[0], gaps[1], n_images, labels=labels, sampling=sampling)


# A run is unstable when its training loss climbs back by more than this share of the way it had
# come down: judged on the whole curve, so a bump of 2 % near the end (noise) is not a collapse.
UNSTABLE_SHARE = 0.25
# The less accurate network is under-trained when it was still catching up as training stopped:
# its test accuracy rose, in the last epoch, by UNDER_TRAINED_RISE more than the winner's; or it
# rose more than the winner's while its training loss ended UNDER_TRAINED_LOSS times the winner's
# or more (it had not fitted its training set yet).
UNDER_TRAINED_RISE = 0.02
UNDER_TRAINED_LOSS = 1.25


def _unstable(losses: list[float]) -> bool:
    """Whether a training-loss curve (one mean per epoch) climbs back above its lowest point so
    far by more than :data:`UNSTABLE_SHARE` of the fall from its first epoch to that point."""
    for t in range(1, len(losses)):
        lowest = min(losses[:t])
        fall = losses[0] - lowest
        if losses[t] - lowest > UNSTABLE_SHARE * max(fall, 0.0) and losses[t] > lowest * 1.05:
            return True
    return False


def unstable_seeds(results: dict, variant: str) -> list[int]:
    """The seeds of ``variant`` whose training went unstable (:func:`_unstable` on the run's
    training loss): the recipe's peak learning rate throwing the network back, which measured on
    the book's widened networks sent the loss back near chance, ln 10."""
    return [run["seed"] for run in _runs(results, variant)
            if _unstable(run["history"]["train_loss"])]


def last_epoch_rise(results: dict, variant: str) -> float:
    """The mean over ``variant``'s runs of the test accuracy gained in the last epoch (0 with
    one epoch)."""
    rises = [h[-1] - h[-2] if len(h) > 1 else 0.0
             for h in (run["history"]["test_acc"] for run in _runs(results, variant))]
    return sum(rises) / len(rises)


def final_train_loss(results: dict, variant: str) -> float:
    """The mean over ``variant``'s runs of the last epoch's training loss."""
    losses = [run["history"]["train_loss"][-1] for run in _runs(results, variant)]
    return sum(losses) / len(losses)


def _caveat(results: dict, claim: ExperimentClaim, difference: float) -> tuple[str, str] | None:
    """For a test-accuracy claim whose interval decided: ``(verdict, reason)`` when the less
    accurate variant's runs went unstable or it was still catching up (under-trained), else
    None. A gap claim, or an unstable winner, leaves the interval's verdict alone."""
    if claim.metric != "test_acc":
        return None
    loser, winner = (claim.worse, claim.better) if difference > 0 else (claim.better, claim.worse)
    unstable = unstable_seeds(results, loser)
    if unstable:
        n = len(_runs(results, loser))
        return stats.NOT_COMPARABLE, (f"the training of {loser} went unstable in {len(unstable)} "
                                      f"of {n} runs (its training loss climbed back up)")
    rise, rival = last_epoch_rise(results, loser), last_epoch_rise(results, winner)
    loss, rival_loss = final_train_loss(results, loser), final_train_loss(results, winner)
    if rise - rival > UNDER_TRAINED_RISE or (
            rise > rival and loss >= UNDER_TRAINED_LOSS * rival_loss):
        return stats.UNDER_TRAINED, (f"{loser} was still catching up: its test accuracy rose "
                                     f"{100 * rise:.1f} points in the last epoch ({winner}'s "
                                     f"{100 * rival:.1f}), its training loss ended at {loss:.2f} "
                                     f"({winner}'s {rival_loss:.2f})")
    return None


def budget_text(results: dict, seeds: int | tuple[int, int] | None = None) -> str:
    """The budget behind a verdict of a results file: ``"4 epochs, cpu set, 3 seeds"``. ``seeds``:
    the seeds the comparison used (the seeds both variants ran, or each side's count), which
    can be fewer than the file's when only some variants were extended; default the file's."""
    p = results["provenance"]
    n = len(p["seeds"]) if seeds is None else seeds
    if isinstance(n, tuple):
        n = n[0] if n[0] == n[1] else f"{n[0]} and {n[1]}"
    return f"{p['epochs']} epochs, {p['profile']} set, {n} seed{'s' if n != 1 else ''}"


def _judged(results: dict, claim: ExperimentClaim) -> tuple[stats.Comparison, str, str, dict]:
    """The claim's comparison, its verdict and explanation (without the verdict), and what a
    caveat adds to the comparison's record (the interval's own verdict)."""
    if claim.metric == "test_acc":
        comparison = compare_variants(results, claim.better, results, claim.worse)
    else:
        comparison = compare_variants(results, claim.worse, results, claim.better, "gap",
                                      labels=(f"{claim.worse} gap", f"{claim.better} gap"))
    judged = stats.judge(comparison, stats.BETTER)
    verdict, explanation = judged.verdict, judged.explanation.rsplit(": ", 1)[0]
    if verdict == stats.INCONCLUSIVE:
        return comparison, verdict, explanation, {}
    caveat = _caveat(results, claim, comparison.difference)
    if caveat is None:
        return comparison, verdict, explanation, {}
    return comparison, caveat[0], f"{explanation}; but {caveat[1]}", {
        "interval_verdict": judged.verdict}


def comparison_dict(results: dict, claim: ExperimentClaim) -> dict:
    """The claim's comparison: means and spreads per variant, then the difference in the claim's
    favour (``better - worse`` for test accuracy, ``worse - better`` for the gap), its 95 %
    interval, the method, the verdict (:data:`convlib.stats.EXPERIMENT_VERDICTS`), the verdict
    with its budget (``verdict_text``) and the explanation."""
    summary = summarize(results, claim.metric)
    head = {"better": claim.better, "worse": claim.worse, "metric": claim.metric,
            "statement": claim.statement, "claim": stats.BETTER, "budget": budget_text(results)}
    if claim.better not in summary or claim.worse not in summary:
        return {**head, "verdict": stats.INCONCLUSIVE, "note": "not run yet",
                "verdict_text": stats.with_budget(stats.INCONCLUSIVE, head["budget"])}
    a, b = summary[claim.better], summary[claim.worse]
    comparison, verdict, explanation, caveat = _judged(results, claim)
    head.update(caveat)
    head["unstable"] = {v: unstable_seeds(results, v) for v in (claim.better, claim.worse)
                        if unstable_seeds(results, v)}
    head["budget"] = budget_text(results, comparison.n_seeds)  # the seeds it paired
    verdict_text = stats.with_budget(verdict, head["budget"])
    return {**head, "mean_better": round(a["mean"], 6), "std_better": round(a["std"], 6),
            "mean_worse": round(b["mean"], 6), "std_worse": round(b["std"], 6),
            "seeds": comparison.n_seeds, "test_images": comparison.n_images,
            "difference": comparison.difference, "low": comparison.low, "high": comparison.high,
            "confidence": comparison.confidence, "method": comparison.method,
            "seed_share": comparison.seed_share, "verdict": verdict, "verdict_text": verdict_text,
            "explanation": f"{explanation}: {verdict_text}"}


def check_claims(results: dict) -> list[dict]:
    """The verdict of every claim of ``results`` (:func:`~convlib.experiments.files.file_claims`),
    recomputed from its runs."""
    return [comparison_dict(results, claim) for claim in file_claims(results)]
