"""One vocabulary for the whole book: is network A really better than B, or really the same?

Every comparison of two variants' test accuracies goes through this module, so that the
experiments, the claims registry and the chapters speak the same language.

**What is stored.** For each run, which test images the network got right: a boolean vector,
one entry per test image, packed into bits for the results file (:func:`pack_correctness`,
:func:`unpack_correctness`; 10,000 test images take 1,250 bytes, 1,668 base64 characters).

**What is compared.** Variant A against variant B, trained with the same seeds. Runs of the
same seed share data order and augmentation, so the seed pairs A's run with B's; all runs are
scored on the same test images, so each image pairs A's answer with B's. With ``S`` seeds and
``N`` test images, let ``D[s, i] = a[s, i] - b[s, i]`` (``+1``: only A right, ``-1``: only B
right, ``0``: both or neither). The reported difference is

    ``diff = mean over seeds and images of D = mean over seeds of (accuracy_A - accuracy_B)``.

**The 95 % interval** accounts for both sources of chance in that number: which seeds were run
(seed-to-seed spread of training) and which test images were drawn (test-set sampling; about
0.7 points of accuracy on 5,000 images). It is a *paired bootstrap over seeds and test images*:

1. draw ``S`` seeds with replacement from the ``S`` seeds, and, independently, ``N`` test images
   with replacement from the ``N`` test images; the same image indices are used for A and B and
   for every drawn seed (seeds and images are crossed, as in the real experiment);
2. compute ``diff`` on that resample: the mean of ``D`` over the drawn (seed, image) pairs;
3. repeat :data:`N_RESAMPLES` (2,000) times; the interval is the 2.5th and 97.5th percentiles
   of the resampled differences (order statistics ``k`` and ``R - 1 - k`` of the ``R`` sorted
   values, ``k = round(0.025 R)`` = 50 for ``R = 2,000``: no interpolation).

This two-way ("pigeonhole", Owen 2007) bootstrap errs on the wide side (the seed-by-image
interaction is counted by both draws): with 3 seeds and 1,000 images its intervals were 1.35-1.5
times as wide as needed and 99 of 100 covered the true difference; cautious, never overconfident.
With one seed it is the classical paired bootstrap over test images (half-width close to the
McNemar-style ``1.96 sqrt(var(D) / N)``). Few seeds show only as much seed spread as they have.

**Computed exactly, identical on every machine.** numpy's ``Generator(PCG64)`` with the fixed
seed :data:`BOOTSTRAP_SEED`, integer draws only (seed draws of all resamples first, then image
draws in blocks of 200); each resample is reduced to draw counts and its sum of ``D`` is an exact
integer in float64. 5 seeds x 10,000 test images take about 0.4 s. Every reported number is
rounded to :data:`DECIMALS` (4) decimals: a fraction of accuracy to 0.01 points.

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

**Results without per-image correctness** (files made before it was stored) keep only each run's
final accuracy: :func:`compare_means` gives them an analytic interval (Welch t over the seeds plus
the binomial noise of the test set, unpaired, so wider than the paired bootstrap's; see there).
Both return a :class:`Comparison` whose ``method`` names the procedure; :func:`judge` is the same.

Example: ``stats.judge(stats.compare(a_runs, b_runs, labels=("3x3 stack", "5x5")), stats.BETTER)``
gives ``Verdict(verdict='holds', explanation='3x3 stack - 5x5 = +1.30 points, 95% interval
[+0.40, +2.20] (paired bootstrap over 3 seeds and 10,000 test images): holds', ...)``.
"""

from __future__ import annotations

import base64
import binascii
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

HOLDS = "holds"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive at this budget"
VERDICTS = (HOLDS, CONTRADICTED, INCONCLUSIVE)

BETTER = "better"  # A beats B
SAME = "same"  # A and B perform the same, within a stated margin
CLAIM_KINDS = (BETTER, SAME)

N_RESAMPLES = 2_000  # bootstrap resamples per comparison
BOOTSTRAP_SEED = 12_345  # numpy Generator seed: the same interval on every call and machine
CONFIDENCE = 0.95
DECIMALS = 4  # reported differences and bounds: fractions of accuracy rounded to 0.01 points
METHOD = "paired bootstrap over seeds and test images"
ANALYTIC_METHOD = "analytic interval over seeds and test images (Welch t, unpaired)"
_SHORT = {METHOD: "paired bootstrap", ANALYTIC_METHOD: "analytic interval, unpaired,"}
PACKED_FORMAT = "packbits-base64"  # numpy.packbits (big bit order) of the bools, then base64

_CHUNK = 200  # resamples drawn per block: bounds memory (200 x N int32); fixed, so results are too


# --------------------------------------------------------------------------- packed correctness

def _as_bool_vector(name: str, value: Any) -> np.ndarray:
    """A 1-D numpy bool array from a bool numpy array, torch tensor or sequence of bools."""
    if isinstance(value, Mapping):
        return unpack_correctness(value, name=name)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes)) or not isinstance(value, (np.ndarray, Sequence)):
        raise TypeError(f"{name} must be a 1-D vector of booleans (per-test-image correctness: "
                        f"numpy array, torch tensor, list of bools or a packed dict); "
                        f"got {type(value).__name__}")
    array = np.asarray(value)
    if array.dtype != np.bool_:
        if array.size == 0 and not isinstance(value, np.ndarray):
            array = array.astype(np.bool_)  # an empty list: caught below as "no test images"
        else:
            raise TypeError(f"{name} must hold booleans (True: test image classified correctly); "
                            f"got dtype {array.dtype}. Compare predictions with labels first, "
                            "e.g. (predictions == labels)")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per test image); got shape {array.shape}")
    return array


def pack_correctness(correct: Any) -> dict[str, Any]:
    """Pack one run's per-test-image correctness (1-D booleans: numpy array, torch tensor or list;
    ``True`` where the run got that test image right, in the test set's order) into
    ``{"format": "packbits-base64", "n": N, "bits": "<base64 of numpy.packbits>"}``, JSON-storable;
    :func:`unpack_correctness` gives the vector back exactly."""
    array = _as_bool_vector("correct", correct)
    bits = base64.b64encode(np.packbits(array).tobytes()).decode("ascii")
    return {"format": PACKED_FORMAT, "n": int(array.size), "bits": bits}


def unpack_correctness(packed: Mapping[str, Any], *, name: str = "packed") -> np.ndarray:
    """The boolean vector stored by :func:`pack_correctness` (numpy ``bool``, length ``n``)."""
    if not isinstance(packed, Mapping):
        raise TypeError(f"{name} must be a dict made by pack_correctness; got {type(packed).__name__}")
    missing = [key for key in ("n", "bits") if key not in packed]
    if missing:
        raise ValueError(f"{name} lacks {missing}: a packed correctness dict has keys "
                         "'format', 'n' and 'bits' (see pack_correctness)")
    fmt = packed.get("format", PACKED_FORMAT)
    if fmt != PACKED_FORMAT:
        raise ValueError(f"{name}['format'] must be {PACKED_FORMAT!r}; got {fmt!r}")
    n = packed["n"]
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"{name}['n'] must be an int >= 0 (the number of test images); got {n!r}")
    if not isinstance(packed["bits"], str):
        raise TypeError(f"{name}['bits'] must be a base64 str; got {type(packed['bits']).__name__}")
    try:
        raw = base64.b64decode(packed["bits"].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ValueError(f"{name}['bits'] is not valid base64: {error}") from error
    if len(raw) != (int(n) + 7) // 8:
        raise ValueError(f"{name}['bits'] holds {len(raw)} bytes; {n} images need {(int(n) + 7) // 8}")
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    if bits[int(n):].any():
        raise ValueError(f"{name}['bits'] has set bits beyond its {n} images: damaged or not "
                         "made by pack_correctness")
    return bits[: int(n)].astype(np.bool_)


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
    n_resamples: int
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
        vectors = [_as_bool_vector(f"{name}[{k}]", v) for k, v in enumerate(runs)]
    else:
        raise TypeError(f"{name} must be a sequence with one correctness vector per seed (or a "
                        f"2-D bool array, seeds x test images); got {type(runs).__name__}")
    if not vectors:
        raise ValueError(f"{name} holds no runs: give one correctness vector per seed (at least one)")
    lengths = sorted({len(v) for v in vectors})
    if len(lengths) > 1:
        raise ValueError(f"{name}'s runs must all cover the same test images; got lengths {lengths}")
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


def _bootstrap_sums(diff: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """The sorted totals of ``diff`` (seeds x images, in {-1, 0, +1}) over ``n_resamples``
    resamples that draw seeds and test images with replacement; exact integers."""
    n_seeds, n_images = diff.shape
    # Images with the same column of D (the same pattern of +1/0/-1 over the seeds) are
    # interchangeable: resampling images only needs how often each pattern was drawn.
    patterns, pattern_of = np.unique(diff.T, axis=0, return_inverse=True)
    pattern_of = pattern_of.astype(np.int32).ravel()
    n_patterns = len(patterns)
    patterns = patterns.astype(np.float64)  # (P, S); exact small integers

    rng = np.random.Generator(np.random.PCG64(seed))
    seed_draws = rng.integers(0, n_seeds, size=(n_resamples, n_seeds), dtype=np.int32)
    seed_counts = np.zeros((n_resamples, n_seeds), dtype=np.float64)
    np.add.at(seed_counts, (np.repeat(np.arange(n_resamples), n_seeds), seed_draws.ravel()), 1.0)

    sums = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, _CHUNK):
        stop = min(start + _CHUNK, n_resamples)
        rows = stop - start
        image_draws = rng.integers(0, n_images, size=(rows, n_images), dtype=np.int32)
        drawn = pattern_of[image_draws]
        drawn += (np.arange(rows, dtype=np.int32) * n_patterns)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=rows * n_patterns)
        counts = counts.reshape(rows, n_patterns).astype(np.float64)
        per_seed = counts @ patterns  # (rows, S): sum over drawn images of D[s, i], exact
        sums[start:stop] = (per_seed * seed_counts[start:stop]).sum(axis=1)  # exact integers
    return np.sort(np.rint(sums).astype(np.int64))


def compare(a: Any, b: Any, *, labels: Sequence[str] = ("A", "B"),
            n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Comparison:
    """Mean difference A - B in test accuracy, with a 95 % paired bootstrap interval.

    ``a``, ``b``: for each seed, the per-test-image correctness of variant A (resp. B): a sequence
    of 1-D boolean vectors (numpy arrays, torch tensors, lists, or dicts from
    :func:`pack_correctness`) or a 2-D boolean array (seeds, test images); ``a[k]`` and ``b[k]``
    are the runs of the same seed, scored on the same test images in the same order. ``seed``
    fixes the bootstrap generator: the same input always gives the same interval. Returns a
    :class:`Comparison` for :func:`judge`; the module docstring gives the procedure.
    """
    labels = _check_labels(labels)
    if (isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral)
            or n_resamples < 100):
        raise ValueError(f"n_resamples must be an int >= 100; got {n_resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; got {seed!r}")
    runs_a, runs_b = _paired_runs(a, b)
    n_seeds, n_images = runs_a.shape
    n_resamples = int(n_resamples)
    diff = runs_a.astype(np.int64) - runs_b.astype(np.int64)  # (S, N) in {-1, 0, +1}
    total = int(diff.sum())
    scale = n_seeds * n_images
    sums = _bootstrap_sums(diff, n_resamples, int(seed))
    k = round((1 - CONFIDENCE) / 2 * n_resamples)
    low, high = int(sums[k]), int(sums[n_resamples - 1 - k])

    def fraction(numerator: int) -> float:
        return round(numerator / scale, DECIMALS)

    return Comparison(
        difference=fraction(total), low=fraction(low), high=fraction(high),
        accuracy_a=fraction(int(runs_a.sum())), accuracy_b=fraction(int(runs_b.sum())),
        n_seeds=int(n_seeds), n_images=int(n_images), n_resamples=n_resamples, labels=labels,
    )


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
        low, high = ((low + high) / 2, high) if cdf((low + high) / 2) < q else (low, (low + high) / 2)
    return (low + high) / 2


def compare_means(a: Sequence[float], b: Sequence[float], n_images: int, *,
                  labels: Sequence[str] = ("A", "B"), sampling: Sequence[float] | None = None) -> Comparison:
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
    same images right: the interval is *conservative* (wider) compared with the paired bootstrap
    of :func:`compare`, which stored per-image correctness allows.

    ``a``, ``b``: final values of A's (B's) runs, one per seed (fractions: 0.6152, not 61.52);
    ``n_images``: ``N``; ``sampling``: optionally the two test-sampling variance terms (of A's and
    B's mean) instead of the binomial ones, e.g. for a train-test gap measured on two image sets.
    """
    labels = _check_labels(labels)
    if isinstance(n_images, bool) or not isinstance(n_images, numbers.Integral) or n_images < 1:
        raise ValueError(f"n_images must be an int >= 1 (test images per run); got {n_images!r}")
    sides = []  # (mean, seed term s²/n, n) of A and of B
    for name, values in (("a", a), ("b", b)):
        if (isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__") or not len(values)
                or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
                           for v in values)):
            raise TypeError(f"{name} must be a non-empty sequence of finite numbers (one final value "
                            f"per seed); got {values!r}")
        n, mean = len(values), math.fsum(values) / len(values)
        sides.append((mean, math.fsum((v - mean) ** 2 for v in values) / (n - 1) / n if n > 1 else 0.0, n))
    if sampling is None:
        if not all(0 <= m <= 1 for m, _, _ in sides):
            raise ValueError("a and b must be accuracies in [0, 1] for the binomial test-set term; "
                             "pass sampling= for other quantities")
        sampling = [m * (1 - m) / int(n_images) for m, _, _ in sides]
    seed_terms = [term for _, term, _ in sides]
    variance = math.fsum(seed_terms) + math.fsum(float(v) for v in sampling)
    denominator = math.fsum(t * t / (n - 1) for (_, t, n) in sides if n > 1)
    df = variance ** 2 / denominator if denominator > 0 else math.inf
    half = _t_quantile(df) * math.sqrt(variance)
    diff = sides[0][0] - sides[1][0]
    return Comparison(
        difference=round(diff, DECIMALS), low=round(diff - half, DECIMALS), high=round(diff + half, DECIMALS),
        accuracy_a=round(sides[0][0], DECIMALS), accuracy_b=round(sides[1][0], DECIMALS),
        n_seeds=min(sides[0][2], sides[1][2]), n_images=int(n_images), n_resamples=0,
        method=ANALYTIC_METHOD, labels=labels)


def accuracy_interval(values: Sequence[float], n_images: int) -> tuple[float, float, float]:
    """Mean of one variant's per-seed final accuracies and its 95 % interval, ``(mean, low, high)``
    (fractions, rounded like every reported figure). The variance of the mean has the two parts of
    :func:`compare_means`: ``s²/n`` over the seeds and ``m(1 - m)/N`` for the test set's sampling;
    the t quantile takes the Welch-Satterthwaite degrees of freedom of the seed part (the normal
    quantile when there is one seed or no spread)."""
    if isinstance(n_images, bool) or not isinstance(n_images, numbers.Integral) or n_images < 1:
        raise ValueError(f"n_images must be an int >= 1 (test images per run); got {n_images!r}")
    if (isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__") or not len(values)
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v <= 1
                       for v in values)):
        raise TypeError(f"values must be a non-empty sequence of accuracies in [0, 1], one per seed; "
                        f"got {values!r}")
    n, mean = len(values), math.fsum(values) / len(values)
    seed_term = math.fsum((v - mean) ** 2 for v in values) / (n - 1) / n if n > 1 else 0.0
    variance = seed_term + mean * (1 - mean) / int(n_images)
    df = variance ** 2 / (seed_term ** 2 / (n - 1)) if seed_term > 0 else math.inf
    half = _t_quantile(df) * math.sqrt(variance)
    return round(mean, DECIMALS), round(mean - half, DECIMALS), round(mean + half, DECIMALS)


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


def _points(fraction: float) -> str:
    """A signed fraction of accuracy in points with two decimals: 0.013 -> '+1.30'."""
    value = round(fraction * 100, 2)
    return f"{value:+.2f}" if value != 0 else "+0.00"


def explain(comparison: Comparison, verdict: str, margin: float | None = None) -> str:
    """The one-line explanation of a verdict: difference, interval, margin, seeds and images."""
    name_a, name_b = comparison.labels
    seeds = f"{comparison.n_seeds} seed{'s' if comparison.n_seeds != 1 else ''}"
    images = f"{comparison.n_images:,} test image{'s' if comparison.n_images != 1 else ''}"
    margin_text = f", margin ±{abs(margin) * 100:.2f} points" if margin is not None else ""
    return (f"{name_a} - {name_b} = {_points(comparison.difference)} points, "
            f"{comparison.confidence:.0%} interval [{_points(comparison.low)}, "
            f"{_points(comparison.high)}]{margin_text} ({_SHORT.get(comparison.method, comparison.method)} "
            f"over {seeds} and {images}): "
            f"{verdict}")


def judge(comparison: Comparison, claim: str = BETTER, *, margin: float | None = None) -> Verdict:
    """The verdict on a claim about A and B, from :func:`compare` or :func:`compare_means`.

    ``claim``: :data:`BETTER` ("A beats B") or :data:`SAME` ("A performs the same as B"); a SAME
    claim requires ``margin``, the equivalence margin stated in the text as a fraction of accuracy
    (0.01 = ±1 point). Returns a :class:`Verdict`: :data:`HOLDS`, :data:`CONTRADICTED` or
    :data:`INCONCLUSIVE`, with the explanation line, e.g. ``"A - B = +1.30 points, 95% interval
    [+0.40, +2.20] (paired bootstrap over 3 seeds and 10,000 test images): holds"``.
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
    return Verdict(verdict, explain(comparison, verdict, margin), claim, margin, comparison)


def compare_and_judge(a: Any, b: Any, claim: str = BETTER, *, margin: float | None = None,
                      labels: Sequence[str] = ("A", "B")) -> Verdict:
    """:func:`compare` then :func:`judge`, for the common case."""
    return judge(compare(a, b, labels=labels), claim, margin=margin)
