"""One vocabulary for the whole book: is network A really better than B, or really the same?

Every comparison of two variants' test accuracies goes through this module, so that the
experiments, the claims registry and the chapters speak the same language.

**What is stored.** For each run, which test images the network got right: a boolean vector,
one entry per test image, packed into bits for the results file
(:func:`convlib.store.pack_correctness`).

**What is compared.** Variant A against variant B, trained with the same seeds. Runs of the
same seed share data order and augmentation, so the seed pairs A's run with B's; all runs are
scored on the same test images, so each image pairs A's answer with B's. With ``S`` seeds and
``N`` test images, let ``D[s, i] = a[s, i] - b[s, i]`` (``+1``: only A right, ``-1``: only B
right, ``0``: both or neither). The reported difference is

    ``diff = mean over seeds and images of D = mean over seeds of (accuracy_A - accuracy_B)``.

**The 95 % interval** accounts for both sources of chance in that number: which seeds were run
(seed-to-seed spread of training) and which test images were drawn (test-set sampling; about
0.7 points of accuracy on 5,000 images). It is a *paired t interval over seeds and test images*
(:func:`compare`). With ``d_s`` the difference of seed ``s`` (mean over images of ``D[s, i]``) and
``e_i`` image ``i``'s mean over seeds of ``D[s, i]``::

    V_seed  = var_s(d_s) / S          (S - 1 degrees of freedom)
    V_image = var_i(e_i) / N          (N - 1 degrees of freedom)
    half    = sqrt( (t(0.975, S - 1))^2 V_seed + (t(0.975, N - 1))^2 V_image )
    interval = diff +- half

Why this form: the test set is the same for every seed, so its sampling error is common to the
``d_s``, and their spread measures the seeds alone; the image term measures the test set's part.
Each term gets its own quantile: the seed term has only ``S - 1`` degrees of freedom, so with 3
seeds its half-width is ``t(2) = 4.30`` standard errors, not 1.96. (A Welch-Satterthwaite pooled
``df`` was tried first: when 3 seeds happen to agree it jumps to hundreds, and it covered a known
difference in only 90 % of simulated experiments at a seed spread of 1.5-3 points. The book's
interval, a two-way percentile bootstrap, cannot be wider than the range of 3 seed means: it
covered a known difference in only 76-89 % of simulated experiments at a seed spread of 1.5-3
points.) The seed-by-image interaction (an image that one seed gets right and another wrong) is
counted in both terms, and the two half-widths are combined by the root of their sum of squares,
so the interval errs on the wide side (removing the interaction from the image term by a two-way
analysis of variance brought the simulated coverage down to 93 %, with no margin);
``tests/test_stats.py`` checks its coverage by simulation at seed spreads of 0, 0.5, 1.5
and 3 points (at least 93 % at 95 %). With one seed it is the paired interval over test images.

A *gap* (training minus test accuracy, :func:`compare_gaps`) is paired the same way on the
training sample's images and on the test images: two image terms, each with its own size.

**Rounding happens once.** Sums of ``D`` are exact integers; the interval is computed from them in
float64 and every reported number is rounded once, to :data:`DECIMALS` (4) decimals: a fraction of
accuracy to 0.01 points, far above any machine's rounding noise.

**Verdicts** (:func:`judge`), one vocabulary:

- a "better" claim (:data:`BETTER`, "A beats B"): :data:`HOLDS` when the whole interval lies
  above 0, :data:`CONTRADICTED` when it lies below 0, :data:`INCONCLUSIVE` ("inconclusive at this
  budget") when it contains 0. A difference of exactly 0 with interval [0, 0] is inconclusive:
  nothing shows that A beats B.
- a "same performance" claim (:data:`SAME`) is an equivalence test against a margin stated in
  the text (for example 0.01, ±1 point): :data:`HOLDS` only when the whole 95 % interval lies
  strictly inside ``(-margin, +margin)``; :data:`CONTRADICTED` when it lies wholly at or beyond
  the margin on one side (``low >= margin`` or ``high <= -margin``); otherwise inconclusive.
  A non-significant difference is *not* evidence of equivalence: an interval that contains 0
  but pokes out of the margin is inconclusive, not "holds". (Requiring the 95 % interval inside
  the margin is stricter than the usual two one-sided tests at 5 %, which use a 90 % interval.)

Verdicts are made on the rounded numbers, so what the text shows is what was judged.

Every verdict word of the book is defined here and nowhere else: :data:`VERDICTS` (an
interval's), :data:`EXPERIMENT_VERDICTS` (a trained comparison's, :mod:`convlib.experiments`)
and :data:`CLAIM_VERDICTS` (an article claim's, :mod:`convlib.claims`), each containing the one
before it. The experiments, the claims, the chapters and the exercises import them from here.

**Results without per-image correctness** (files made before it was stored) keep only each run's
final accuracy: :func:`compare_means` gives them an analytic interval (Welch t over the seeds plus
the binomial noise of the test set, unpaired, so wider than the paired interval; see there).
Both return a :class:`Comparison` whose ``method`` names the procedure; :func:`judge` is the same.

Example: ``stats.judge(stats.compare(a_runs, b_runs, labels=("3x3 stack", "5x5")), stats.BETTER)``
gives ``Verdict(verdict='holds', explanation='3x3 stack - 5x5 = +1.30 points, 95% interval
[+0.40, +2.20] (paired t over 3 seeds and 10,000 test images): holds', ...)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from convlib.store import correctness_vector

HOLDS = "holds"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive at this budget"
VERDICTS = (HOLDS, CONTRADICTED, INCONCLUSIVE)
# Two more for trained comparisons, where the interval alone can mislead (convlib.experiments):
# the less accurate network was still catching up when training stopped, or its recipe diverged.
UNDER_TRAINED = "inconclusive: under-trained at this budget"
NOT_COMPARABLE = "not comparable: this recipe is unstable for this variant"
EXPERIMENT_VERDICTS = (*VERDICTS, UNDER_TRAINED, NOT_COMPARABLE)
# Three more for the article's claims (convlib.claims), judged by computation: agrees to the
# article's precision (HOLDS), within a stated tolerance, against it, or nothing to check.
HOLDS_APPROXIMATELY = "holds approximately"
WRONG = "wrong"
UNVERIFIABLE = "unverifiable"
CLAIM_VERDICTS = (HOLDS, HOLDS_APPROXIMATELY, WRONG, CONTRADICTED, INCONCLUSIVE, UNDER_TRAINED,
                  NOT_COMPARABLE, UNVERIFIABLE)

BETTER = "better"  # A beats B
SAME = "same"  # A and B perform the same, within a stated margin
CLAIM_KINDS = (BETTER, SAME)

CONFIDENCE = 0.95
DECIMALS = 4  # reported differences and bounds: fractions of accuracy rounded to 0.01 points
METHOD = "paired t interval over seeds and test images"
ANALYTIC_METHOD = "analytic interval over seeds and test images (Welch t, unpaired)"
_SHORT = {METHOD: "paired t", ANALYTIC_METHOD: "analytic interval, unpaired,"}


# --------------------------------------------------------------------------- comparison

@dataclass(frozen=True)
class Comparison:
    """A - B in test accuracy (fractions, not points), with its 95 % interval."""

    difference: float  # mean over seeds of accuracy_A - accuracy_B, rounded to DECIMALS
    low: float  # lower end of the interval, rounded to DECIMALS
    high: float  # upper end of the interval, rounded to DECIMALS
    accuracy_a: float  # A's mean test accuracy over seeds, rounded to DECIMALS
    accuracy_b: float  # B's mean test accuracy over seeds, rounded to DECIMALS
    n_seeds: int
    n_images: int
    multiplier: float  # the half-width in standard errors of the difference, rounded to 0.01
    seed_share: float  # the seeds' share of the interval's squared half-width, rounded to 0.01
    confidence: float = CONFIDENCE
    method: str = METHOD
    labels: tuple[str, str] = ("A", "B")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (labels as a list)."""
        out = asdict(self)
        out["labels"] = list(self.labels)
        return out


def _as_runs(name: str, runs: Any) -> np.ndarray:
    """``runs`` (one correctness vector per seed, or a 2-D bool array) as an (S, N) bool array."""
    if isinstance(runs, np.ndarray) and runs.ndim == 2:
        if runs.dtype != np.bool_:
            raise TypeError(f"{name} must hold booleans (per-test-image correctness); "
                            f"got dtype {runs.dtype}")
        vectors = list(runs)
    elif hasattr(runs, "detach") and getattr(runs, "ndim", None) == 2:
        return _as_runs(name, runs.detach().cpu().numpy())
    elif isinstance(runs, Sequence) and not isinstance(runs, (str, bytes)):
        vectors = [correctness_vector(v, f"{name}[{k}]") for k, v in enumerate(runs)]
    else:
        raise TypeError(f"{name} must be a sequence with one correctness vector per seed (or a "
                        f"2-D bool array, seeds x test images); got {type(runs).__name__}")
    if not vectors:
        raise ValueError(f"{name} holds no runs: give one correctness vector per seed (at least "
                         "one)")
    lengths = sorted({len(v) for v in vectors})
    if len(lengths) > 1:
        raise ValueError(f"{name}'s runs must all cover the same test images; got lengths "
                         f"{lengths}")
    if lengths[0] == 0:
        raise ValueError(f"{name}'s runs cover no test images")
    return np.stack(vectors)


def _check_labels(labels: Any) -> tuple[str, str]:
    if (not isinstance(labels, Sequence) or isinstance(labels, str) or len(labels) != 2
            or not all(isinstance(x, str) and x for x in labels)):
        raise TypeError(f"labels must be two non-empty strings (names of A and B); got {labels!r}")
    return (labels[0], labels[1])


def _paired_runs(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as (seeds, images) boolean arrays, checked to pair seed by seed and image
    by image."""
    runs_a, runs_b = _as_runs("a", a), _as_runs("b", b)
    if runs_a.shape[0] != runs_b.shape[0]:
        raise ValueError(f"a and b must have one run per seed each, paired by seed; got "
                         f"{runs_a.shape[0]} runs in a and {runs_b.shape[0]} in b")
    if runs_a.shape[1] != runs_b.shape[1]:
        raise ValueError(f"a and b must be scored on the same test images; got "
                         f"{runs_a.shape[1]} images in a and {runs_b.shape[1]} in b")
    return runs_a, runs_b


def _paired_interval(per_seed: np.ndarray, image_terms: Sequence[tuple[float, int]]
                     ) -> tuple[float, float, float, float, float]:
    """``(diff, low, high, df)`` of the mean of ``per_seed`` (one difference per seed): each
    term's own half-width, ``t(0.975, S - 1) sqrt(V_seed)`` and ``t(0.975, n - 1) sqrt(V_image)``
    per image term, combined as the root of their sum of squares (the module docstring); the
    last two values are the half-width in standard errors of the difference and the seed
    term's share of the squared half-width."""
    n_seeds = len(per_seed)
    diff = math.fsum(per_seed) / n_seeds
    seed_term = (math.fsum((d - diff) ** 2 for d in per_seed) / (n_seeds - 1) / n_seeds
                 if n_seeds > 1 else 0.0)
    halves = [(_t_quantile(n_seeds - 1) if n_seeds > 1 else 0.0) ** 2 * seed_term]
    halves += [_t_quantile(n - 1) ** 2 * v for v, n in image_terms]
    half = math.sqrt(math.fsum(halves))
    variance = seed_term + math.fsum(v for v, _ in image_terms)
    multiplier = half / math.sqrt(variance) if variance > 0 else _t_quantile(math.inf)
    seed_share = halves[0] / math.fsum(halves) if half > 0 else 0.0
    return diff, diff - half, diff + half, multiplier, seed_share


def _image_term(diff: np.ndarray) -> tuple[float, int]:
    """The variance of the mean over images of each image's mean over seeds of ``diff``
    (seeds x images, integers), and the number of images ``N``."""
    n_seeds, n_images = diff.shape
    if n_images < 2:
        return 0.0, n_images
    per_image = diff.sum(axis=0)  # exact integers; e_i = per_image / S
    mean = int(per_image.sum()) / n_images
    variance = float(((per_image - mean) ** 2).sum()) / (n_images - 1)
    return variance / n_seeds ** 2 / n_images, n_images


def _rounded_multiplier(value: float) -> float:
    return round(value, 2)


def compare(a: Any, b: Any, *, labels: Sequence[str] = ("A", "B")) -> Comparison:
    """Mean difference A - B in test accuracy, with its 95 % paired t interval.

    ``a``, ``b``: for each seed, the per-test-image correctness of variant A (resp. B): a sequence
    of 1-D boolean vectors (numpy arrays, torch tensors, lists, or dicts from
    :func:`convlib.store.pack_correctness`) or a 2-D boolean array (seeds, test images); ``a[k]``
    and ``b[k]``
    are the runs of the same seed, scored on the same test images in the same order. Returns a
    :class:`Comparison` for :func:`judge`; the module docstring gives the procedure.
    """
    labels = _check_labels(labels)
    runs_a, runs_b = _paired_runs(a, b)
    n_seeds, n_images = runs_a.shape
    diff = runs_a.astype(np.int64) - runs_b.astype(np.int64)  # (S, N) in {-1, 0, +1}
    per_seed = diff.sum(axis=1) / n_images
    mean, low, high, multiplier, seed_share = _paired_interval(per_seed, [_image_term(diff)])
    scale = n_seeds * n_images
    return Comparison(
        difference=round(mean, DECIMALS), low=round(low, DECIMALS), high=round(high, DECIMALS),
        accuracy_a=round(int(runs_a.sum()) / scale, DECIMALS),
        accuracy_b=round(int(runs_b.sum()) / scale, DECIMALS),
        n_seeds=int(n_seeds), n_images=int(n_images), multiplier=_rounded_multiplier(multiplier),
        seed_share=round(seed_share, 2), labels=labels)


def compare_gaps(a_train: Any, a_test: Any, b_train: Any, b_test: Any, *,
                 labels: Sequence[str] = ("A", "B")) -> Comparison:
    """Gap of A minus gap of B, where a gap is training minus test accuracy, with its 95 % paired
    t interval: per seed, ``(train_A - train_B) - (test_A - test_B)``, the two image terms from
    the training sample's images and the test images (each its own size). ``*_train``: per seed,
    the correctness on the fixed training sample; ``*_test``: on the test images. The
    :class:`Comparison`'s accuracies are the two mean gaps and ``n_images`` the test images."""
    labels = _check_labels(labels)
    train_a, train_b = _paired_runs(a_train, b_train)
    test_a, test_b = _paired_runs(a_test, b_test)
    if train_a.shape[0] != test_a.shape[0]:
        raise ValueError(f"the training and test correctness must have one run per seed each; "
                         f"got {train_a.shape[0]} and {test_a.shape[0]}")
    train_diff = train_a.astype(np.int64) - train_b.astype(np.int64)
    test_diff = test_a.astype(np.int64) - test_b.astype(np.int64)
    per_seed = (train_diff.sum(axis=1) / train_diff.shape[1]
                - test_diff.sum(axis=1) / test_diff.shape[1])
    mean, low, high, multiplier, seed_share = _paired_interval(per_seed,
                                           [_image_term(train_diff), _image_term(test_diff)])

    def gap(train: np.ndarray, test: np.ndarray) -> float:
        return round(float(train.mean() - test.mean()), DECIMALS)

    return Comparison(
        difference=round(mean, DECIMALS), low=round(low, DECIMALS), high=round(high, DECIMALS),
        accuracy_a=gap(train_a, test_a), accuracy_b=gap(train_b, test_b),
        n_seeds=int(train_a.shape[0]), n_images=int(test_a.shape[1]),
        multiplier=_rounded_multiplier(multiplier), seed_share=round(seed_share, 2), labels=labels)


def _t_quantile(df: float, q: float = 1 - (1 - CONFIDENCE) / 2) -> float:
    """Student's t quantile (df >= 1; inf: normal) by bisection on Simpson's rule of the density."""
    if not math.isfinite(df):
        return NormalDist().inv_cdf(q)
    df = max(float(df), 1.0)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(t: float) -> float:
        y = np.exp(log_c - (df + 1) / 2 * np.log1p(np.linspace(0.0, t, 2001) ** 2 / df))
        return 0.5 + t / 6000 * (y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum())
    low, high = 0.0, 20.0  # t(0.975) is 12.71 at df = 1
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < q else (low, middle)
    return (low + high) / 2


def _seed_side(name: str, values: Any) -> tuple[float, float, int]:
    """``(mean, s²/n, n)`` of one side's per-seed values (``name`` for the error message)."""
    if (isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__")
            or not len(values)
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                       and math.isfinite(v) for v in values)):
        raise TypeError(f"{name} must be a non-empty sequence of finite numbers (one final "
                        f"value per seed); got {values!r}")
    n, mean = len(values), math.fsum(values) / len(values)
    spread = math.fsum((v - mean) ** 2 for v in values) / (n - 1) / n if n > 1 else 0.0
    return mean, spread, n


def _welch_df(sides: Sequence[tuple[float, float, int]], variance: float) -> float:
    """Welch-Satterthwaite degrees of freedom of ``variance`` whose seed terms are the sides'
    ``s²/n`` (the other terms count as infinite degrees of freedom)."""
    denominator = math.fsum(t * t / (n - 1) for (_, t, n) in sides if n > 1)
    return variance ** 2 / denominator if denominator > 0 else math.inf


def welch_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """``(diff, low, high)``: mean(a) - mean(b) of two independent sets of per-seed values of a
    continuous measurement (not an accuracy: no test-set term), with its 95 % Welch t interval::

        V = s_a²/n_a + s_b²/n_b,   df = V² / [(s_a²/n_a)² / (n_a - 1) + (s_b²/n_b)² / (n_b - 1)]
        interval = diff ± t(0.975, df) sqrt(V)

    With 3 seeds a side, df lies between 2 and 4 (t = 4.30 to 2.78): the interval pays for how
    few seeds there are. Unrounded (the caller rounds once, where it shows them). Each side needs
    at least 2 values: one seed has no spread to measure."""
    sides = [_seed_side("a", a), _seed_side("b", b)]
    if min(n for _, _, n in sides) < 2:
        raise ValueError("a and b must each hold at least 2 values (one per seed): one seed "
                         "has no spread to measure")
    variance = math.fsum(term for _, term, _ in sides)
    diff = sides[0][0] - sides[1][0]
    half = _t_quantile(_welch_df(sides, variance)) * math.sqrt(variance) if variance > 0 else 0.0
    return diff, diff - half, diff + half


def compare_means(a: Sequence[float], b: Sequence[float], n_images: int, *,
                  labels: Sequence[str] = ("A", "B"),
                  sampling: Sequence[float] | None = None) -> Comparison:
    """Mean difference A - B of per-seed final accuracies, with a 95 % *analytic* interval.

    For results that keep each run's final accuracy but not which test images it got right (the
    reference files made before per-image correctness was stored). With ``n_a``, ``n_b`` seeds,
    seed means ``m_a``, ``m_b``, sample variances ``s_a²``, ``s_b²`` and ``N`` test images::

        diff = m_a - m_b
        V    = s_a²/n_a + s_b²/n_b + m_a(1 - m_a)/N + m_b(1 - m_b)/N
        df   = V² / [(s_a²/n_a)² / (n_a - 1) + (s_b²/n_b)² / (n_b - 1)]   (Welch-Satterthwaite)
        interval = diff ± t(0.975, df) sqrt(V)

    The ``s²`` terms are the seed-to-seed spread, the binomial ones the test set's sampling noise;
    the binomial terms count as infinite degrees of freedom (a side with one seed adds no seed
    term; with one seed per side, or no spread at all, df is infinite: the normal quantile 1.96).
    A std of 0 over seeds still leaves the test-set noise. The binomial terms treat A and B as
    independent (unpaired), although both are scored on the same test images and get many of the
    same images right: the interval is *conservative* (wider) compared with the paired interval
    of :func:`compare`, which stored per-image correctness allows.

    ``a``, ``b``: final values of A's (B's) runs, one per seed (fractions: 0.6152, not 61.52);
    ``n_images``: ``N``; ``sampling``: optionally the two test-sampling variance terms (of A's and
    B's mean) instead of the binomial ones, e.g. for a train-test gap measured on two image sets.
    """
    labels = _check_labels(labels)
    if isinstance(n_images, bool) or not isinstance(n_images, numbers.Integral) or n_images < 1:
        raise ValueError(f"n_images must be an int >= 1 (test images per run); got {n_images!r}")
    sides = [_seed_side("a", a), _seed_side("b", b)]
    if sampling is None:
        if not all(0 <= m <= 1 for m, _, _ in sides):
            raise ValueError("a and b must be accuracies in [0, 1] for the binomial test-set term; "
                             "pass sampling= for other quantities")
        sampling = [m * (1 - m) / int(n_images) for m, _, _ in sides]
    seed_terms = [term for _, term, _ in sides]
    variance = math.fsum(seed_terms) + math.fsum(float(v) for v in sampling)
    df = _welch_df(sides, variance)
    half = _t_quantile(df) * math.sqrt(variance)
    diff = sides[0][0] - sides[1][0]
    return Comparison(
        difference=round(diff, DECIMALS), low=round(diff - half, DECIMALS),
        high=round(diff + half, DECIMALS),
        accuracy_a=round(sides[0][0], DECIMALS), accuracy_b=round(sides[1][0], DECIMALS),
        n_seeds=min(sides[0][2], sides[1][2]), n_images=int(n_images),
        multiplier=_rounded_multiplier(_t_quantile(df)),
        seed_share=round(math.fsum(seed_terms) / variance, 2) if variance > 0 else 0.0,
        method=ANALYTIC_METHOD, labels=labels)


def accuracy_interval(values: Sequence[float], n_images: int) -> tuple[float, float, float]:
    """Mean of one variant's per-seed final accuracies and its 95 % interval, ``(mean, low, high)``
    (fractions clipped to [0, 1], not rounded: the caller rounds once, where it shows them, as a
    table's one decimal in points or a figure's bar). Two terms, each with its
    own quantile as in :func:`compare`: the seeds' ``t(0.975, S - 1)^2 s^2 / S`` and the test
    set's ``z^2 m (1 - m) / N``, combined by the root of their sum."""
    if isinstance(n_images, bool) or not isinstance(n_images, numbers.Integral) or n_images < 1:
        raise ValueError(f"n_images must be an int >= 1 (test images per run); got {n_images!r}")
    if (isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__")
            or not len(values)
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v <= 1
                       for v in values)):
        raise TypeError(f"values must be a non-empty sequence of accuracies in [0, 1], one per "
                        f"seed; got {values!r}")
    mean = math.fsum(values) / len(values)
    per_seed = np.asarray(values, dtype=np.float64)
    _, low, high, _, _ = _paired_interval(per_seed, [(mean * (1 - mean) / int(n_images), math.inf)])
    return mean, max(low, 0.0), min(high, 1.0)


# --------------------------------------------------------------------------- verdicts

@dataclass(frozen=True)
class Verdict:
    """A claim's verdict (one of :data:`VERDICTS`) with its one-line explanation."""

    verdict: str
    explanation: str
    claim: str  # BETTER or SAME
    margin: float | None  # the equivalence margin of a SAME claim (a fraction), else None
    comparison: Comparison

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["comparison"] = self.comparison.as_dict()
        return out


def with_budget(verdict: str, budget: str) -> str:
    """An empirical verdict with the budget that produced it: ``"holds at 4 epochs, cpu set, 3
    seeds"``, ``"inconclusive at this budget (4 epochs, cpu set, 3 seeds)"``. ``budget``: the
    budget's words (:func:`convlib.experiments.budget_text`)."""
    if verdict not in EXPERIMENT_VERDICTS:
        raise ValueError(f"verdict must be one of {list(EXPERIMENT_VERDICTS)}; got {verdict!r}")
    if verdict in (HOLDS, CONTRADICTED):
        return f"{verdict} at {budget}"
    return f"{verdict} ({budget})"


def smallest_margin(comparison: Comparison) -> float:
    """The smallest equivalence margin this interval could show: ``max(|low|, |high|)`` (a
    fraction of accuracy). An equivalence claim holds only at a margin strictly beyond it."""
    return max(abs(comparison.low), abs(comparison.high))


def _equivalence_text(comparison: Comparison, verdict: str, margin: float) -> str:
    """What a non-holding equivalence test shows instead: the direction, when the interval
    excludes 0, and the smallest margin the design can show."""
    if verdict == HOLDS:
        return ""
    name_a, name_b = comparison.labels
    low, high = comparison.low, comparison.high
    text = ""
    if low > 0 or high < 0:
        better, worse = (name_a, name_b) if low > 0 else (name_b, name_a)
        text = (f"; {better} is better than {worse} by {abs(low if low > 0 else high) * 100:.2f}"
                f"-{abs(high if low > 0 else low) * 100:.2f} points")
    if verdict == CONTRADICTED:
        return text
    return (f"{text}; equivalence within ±{margin * 100:.2f} points not shown: this interval "
            f"shows it only beyond ±{smallest_margin(comparison) * 100:.2f} points")


def _points(fraction: float) -> str:
    """A signed fraction of accuracy in points with two decimals: 0.013 -> '+1.30'."""
    value = round(fraction * 100, 2)
    return f"{value:+.2f}" if value != 0 else "+0.00"


def explain(comparison: Comparison, verdict: str, margin: float | None = None,
            detail: str = "") -> str:
    """The one-line explanation of a verdict: difference, interval, margin, seeds and images,
    then ``detail`` (e.g. what an equivalence test showed instead), then the verdict."""
    name_a, name_b = comparison.labels
    seeds = f"{comparison.n_seeds} seed{'s' if comparison.n_seeds != 1 else ''}"
    images = f"{comparison.n_images:,} test image{'s' if comparison.n_images != 1 else ''}"
    margin_text = f", margin ±{abs(margin) * 100:.2f} points" if margin is not None else ""
    return (f"{name_a} - {name_b} = {_points(comparison.difference)} points, "
            f"{comparison.confidence:.0%} interval [{_points(comparison.low)}, "
            f"{_points(comparison.high)}]{margin_text} "
            f"({_SHORT.get(comparison.method, comparison.method)} "
            f"over {seeds} and {images}){detail}: {verdict}")


def judge(comparison: Comparison, claim: str = BETTER, *, margin: float | None = None) -> Verdict:
    """The verdict on a claim about A and B, from :func:`compare` or :func:`compare_means`.

    ``claim``: :data:`BETTER` ("A beats B") or :data:`SAME` ("A performs the same as B"); a SAME
    claim requires ``margin``, the equivalence margin stated in the text as a fraction of accuracy
    (0.01 = ±1 point). Returns a :class:`Verdict`: :data:`HOLDS`, :data:`CONTRADICTED` or
    :data:`INCONCLUSIVE`, with the explanation line, e.g. ``"A - B = +1.30 points, 95% interval
    [+0.40, +2.20] (paired t over 3 seeds and 10,000 test images): holds"``.
    """
    if not isinstance(comparison, Comparison):
        raise TypeError(f"comparison must be a Comparison from stats.compare; "
                        f"got {type(comparison).__name__}")
    if claim not in CLAIM_KINDS:
        raise ValueError(f"claim must be one of {list(CLAIM_KINDS)}; got {claim!r}")
    low, high = comparison.low, comparison.high
    if claim == BETTER:
        if margin is not None:
            raise ValueError(f"margin applies to {SAME!r} claims only; got margin={margin!r} "
                             f"for a {BETTER!r} claim")
        verdict = HOLDS if low > 0 else CONTRADICTED if high < 0 else INCONCLUSIVE
        return Verdict(verdict, explain(comparison, verdict), claim, None, comparison)
    if margin is None:
        raise ValueError(f"a {SAME!r} claim needs margin=, the equivalence margin stated in the "
                         "text, as a fraction of accuracy (e.g. 0.01 for ±1 point)")
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not np.isfinite(margin):
        raise TypeError(f"margin must be a finite number (a fraction of accuracy, e.g. 0.01); "
                        f"got {margin!r}")
    if not 0 < margin < 1:
        raise ValueError(f"margin must lie in (0, 1) (a fraction of accuracy, e.g. 0.01 for "
                         f"±1 point); got {margin!r}")
    margin = float(margin)
    if -margin < low and high < margin:
        verdict = HOLDS
    elif low >= margin or high <= -margin:
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    detail = _equivalence_text(comparison, verdict, margin)
    return Verdict(verdict, explain(comparison, verdict, margin, detail), claim, margin, comparison)

