"""The roofline model: how fast a layer *could* run on this machine, given its arithmetic intensity.

A pass that does ``F`` FLOPs and moves ``B`` bytes has arithmetic intensity ``I = F / B``
(FLOP/byte). On a machine with peak compute ``P`` (FLOP/s) and peak memory bandwidth ``M``
(bytes/s) it cannot run faster than ``F / P`` (compute-bound) nor than ``B / M`` (memory-bound),
so its achieved FLOP/s is at most::

    roofline_bound(I, P, M) = min(P, I * M)

The *ridge point* ``P / M`` (FLOP/byte) separates the two regimes: a layer whose intensity is
below it is limited by memory traffic, whatever its FLOP count (Williams, Waterman and Patterson,
"Roofline: an insightful visual performance model for multicore architectures", CACM 2009).

The peaks (:class:`Peaks`):

- on a known GPU, the vendor's datasheet (:data:`GPU_PEAKS`, matched by device name): dense FP32
  (non-tensor-core, the figure that applies to float32 timings without TF32), dense BF16
  tensor-core, and memory bandwidth;
- on a CPU (or an unknown GPU), measured by :func:`measure_peaks`: compute is the best of several
  runs of float32 matrix products (``2 n^3`` FLOPs), through ``torch.mm`` and, on the CPU,
  also through oneDNN, the library PyTorch's CPU convolutions call (on some CPUs the BLAS that
  PyTorch is built with, MKL on an AMD processor for instance, runs well below oneDNN, and a
  BLAS-only "peak" would be beaten by the convolutions), at several sizes (a product whose
  matrices fit in cache runs nearest the arithmetic units' peak); bandwidth is the best of several
  copies of a large tensor (bytes read + bytes written).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from convlib._checks import as_int, as_positive_number
from convlib.bench import as_clock, device_label, measure_calls, torch_threads
from convlib.device import as_device
from convlib.plots.roofline import plot_roofline as _plot_roofline  # re-exported below (chapter 8)
from convlib.stats import BETTER, DECIMALS, SAME, Comparison, judge

TERA, GIGA = 1e12, 1e9

# (regex on the lower-cased torch.cuda.get_device_name, card, FP32 TFLOP/s, dense BF16 tensor
# TFLOP/s or None, memory GB/s, source). First match wins, so specific names come first.
# Datasheets print tensor-core figures "with sparsity"; the dense figure is half of it.
GPU_PEAKS: tuple[tuple[str, str, float, float | None, float, str], ...] = (
    # NVIDIA H200 Tensor Core GPU datasheet (2024): SXM 67 FP32, 1,979* BF16, 4.8 TB/s;
    # NVL 60 FP32, 1,671* BF16, 4.8 TB/s (* with sparsity).
    (r"h200.*nvl", "H200 NVL", 60.0, 835.5, 4800.0, "NVIDIA H200 datasheet"),
    (r"h200", "H200 SXM", 67.0, 989.5, 4800.0, "NVIDIA H200 datasheet"),
    # NVIDIA H100 Tensor Core GPU datasheet (2023): SXM 67 FP32, 1,979* BF16, 3.35 TB/s;
    # PCIe 51 FP32, 1,513* BF16, 2 TB/s; NVL 60 FP32, 1,671* BF16, 3.9 TB/s.
    (r"h100.*nvl", "H100 NVL", 60.0, 835.5, 3900.0, "NVIDIA H100 datasheet"),
    (r"h100.*pcie", "H100 PCIe", 51.0, 756.5, 2000.0, "NVIDIA H100 datasheet"),
    (r"h100", "H100 SXM", 67.0, 989.5, 3350.0, "NVIDIA H100 datasheet"),
    # NVIDIA A100 Tensor Core GPU datasheet (2021): 19.5 FP32, 312 BF16 (624*); 40GB 1,555 GB/s,
    # 80GB PCIe 1,935 GB/s, 80GB SXM 2,039 GB/s.
    (r"a100.*80\s*gb.*pcie|a100.*pcie.*80\s*gb", "A100 80GB PCIe", 19.5, 312.0, 1935.0,
     "NVIDIA A100 datasheet"),
    (r"a100.*80\s*gb", "A100 80GB SXM", 19.5, 312.0, 2039.0, "NVIDIA A100 datasheet"),
    (r"a100", "A100 40GB", 19.5, 312.0, 1555.0, "NVIDIA A100 datasheet"),
    # NVIDIA V100 datasheet (2020): SXM2 15.7 FP32, PCIe 14 FP32, 900 GB/s; V100S 16.4, 1,134 GB/s.
    # Volta has no BF16.
    (r"v100s", "V100S PCIe", 16.4, None, 1134.0, "NVIDIA V100 datasheet"),
    (r"v100.*pcie", "V100 PCIe", 14.0, None, 900.0, "NVIDIA V100 datasheet"),
    (r"v100", "V100 SXM2", 15.7, None, 900.0, "NVIDIA V100 datasheet"),
    # NVIDIA T4 datasheet: 8.1 FP32, 320 GB/s; Turing has no BF16.
    (r"\bt4\b", "T4", 8.1, None, 320.0, "NVIDIA T4 datasheet"),
    # NVIDIA L4 datasheet: 30.3 FP32, 242* BF16, 300 GB/s.
    (r"\bl4\b", "L4", 30.3, 121.0, 300.0, "NVIDIA L4 datasheet"),
    # NVIDIA Ada GPU architecture whitepaper (AD102, RTX 4090): 82.6 FP32, 165.2 BF16 tensor
    # (FP32 accumulate, dense), 1,008 GB/s.
    (r"rtx\s*4090", "GeForce RTX 4090", 82.6, 165.2, 1008.0, "NVIDIA Ada architecture whitepaper"),
    # NVIDIA Ampere GA102 GPU architecture whitepaper: RTX 3090 Ti 40 FP32, 80 BF16 (dense, FP32
    # accumulate), 1,008 GB/s; RTX 3090 35.6 FP32, 71 BF16, 936 GB/s.
    (r"rtx\s*3090\s*ti", "GeForce RTX 3090 Ti", 40.0, 80.0, 1008.0,
     "NVIDIA Ampere GA102 whitepaper"),
    (r"rtx\s*3090", "GeForce RTX 3090", 35.6, 71.0, 936.0, "NVIDIA Ampere GA102 whitepaper"),
)


@dataclass(frozen=True)
class Peaks:
    """A machine's roofline: ``flops`` (FP32 FLOP/s), ``bandwidth`` (bytes/s), and, where known,
    ``bf16_flops`` (dense BF16 tensor-core FLOP/s). ``source`` says where they come from."""

    device: str
    flops: float
    bandwidth: float
    source: str
    bf16_flops: float | None = None
    measured: bool = False
    threads: int | None = None  # CPU threads of a measurement

    def __post_init__(self) -> None:
        as_positive_number("flops", self.flops)
        as_positive_number("bandwidth", self.bandwidth)
        if self.bf16_flops is not None:
            as_positive_number("bf16_flops", self.bf16_flops)

    @property
    def ridge(self) -> float:
        """The ridge point ``flops / bandwidth`` (FLOP/byte)."""
        return self.flops / self.bandwidth

    def bound(self, intensity: float) -> float:
        """:func:`roofline_bound` of ``intensity`` on this machine (FP32)."""
        return roofline_bound(intensity, self.flops, self.bandwidth)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Peaks:
        return cls(**data)


def roofline_bound(intensity: float, peak_flops: float, peak_bandwidth: float) -> float:
    """The most FLOP/s a pass of arithmetic intensity ``intensity`` (FLOP/byte) can achieve:
    ``min(peak_flops, intensity * peak_bandwidth)`` (FLOP/s, bytes/s)."""
    intensity = as_positive_number("intensity", intensity)
    return min(as_positive_number("peak_flops", peak_flops),
               intensity * as_positive_number("peak_bandwidth", peak_bandwidth))


def roofline_time(flops: float, nbytes: float, peak_flops: float, peak_bandwidth: float) -> float:
    """The least time (s) a pass of ``flops`` FLOPs moving ``nbytes`` bytes can take:
    ``max(flops / peak_flops, nbytes / peak_bandwidth)`` (the roofline, read as a time)."""
    compute = as_positive_number("flops", flops) / as_positive_number("peak_flops", peak_flops)
    memory = (as_positive_number("nbytes", nbytes)
              / as_positive_number("peak_bandwidth", peak_bandwidth))
    return max(compute, memory)


def datasheet_peaks(device_name: str) -> Peaks | None:
    """The datasheet peaks of a GPU named ``device_name`` (as ``torch.cuda.get_device_name``
    spells it), or None if the card is not in :data:`GPU_PEAKS`."""
    if not isinstance(device_name, str):
        raise TypeError(f"device_name must be a string; got {type(device_name).__name__}")
    name = device_name.lower()
    for pattern, card, fp32, bf16, gbps, source in GPU_PEAKS:
        if re.search(pattern, name):
            return Peaks(device=device_name, flops=fp32 * TERA, bandwidth=gbps * GIGA,
                         source=f"{source} ({card})",
                         bf16_flops=None if bf16 is None else bf16 * TERA)
    return None


def _best_seconds(fn: Any, repeats: int, threads: int, clock: str) -> float:
    """The shortest of ``repeats`` single calls of ``fn``, timed by
    :func:`convlib.bench.measure_calls` (convlib's one timing path)."""
    return min(measure_calls(fn, runs=repeats, threads=threads, clock=clock).times)


def _onednn_matmul(a: torch.Tensor, b: torch.Tensor) -> Any:
    """``a @ b.T`` through oneDNN (PyTorch's CPU convolution library), or None if unavailable."""
    try:
        if not torch.backends.mkldnn.is_available():
            return None
        a_dnn, b_dnn = a.to_mkldnn(), b.to_mkldnn()
        product = torch._C._nn.mkldnn_linear  # private, hence the fallback below
        product(a_dnn, b_dnn, None)
        return lambda: product(a_dnn, b_dnn, None)
    except (AttributeError, RuntimeError):
        return None


def measure_peaks(
    device: str | torch.device = "cpu",
    *,
    threads: int | None = None,
    matmul_sizes: Sequence[int] = (512, 1024, 2048),
    copy_bytes: int = 256 * 2**20,
    repeats: int = 5,
    clock: str = "wall",
) -> Peaks:
    """Measured peaks of ``device``.

    Compute: ``2 n^3 / t`` for the fastest of ``repeats`` float32 ``n x n`` products, over every
    ``n`` of ``matmul_sizes`` and, on the CPU, through both ``torch.mm`` and oneDNN; the best rate
    counts (a product whose matrices fit in cache runs nearest the arithmetic units' peak, and
    which backend is faster depends on the CPU). Bandwidth: ``2 * copy_bytes / t`` for the fastest
    of ``repeats`` copies of a ``copy_bytes`` float32 tensor (read once, written once; make it
    much larger than the last-level cache). CPU measurements use ``threads`` threads (default
    ``torch.get_num_threads()``); ``clock`` is the wall clock, or ``"cpu"`` (the process's CPU
    time; CPU and one thread only), as in :mod:`convlib.bench`.
    """
    device = torch.device(device)
    threads = torch.get_num_threads() if threads is None else as_int("threads", threads)
    if isinstance(matmul_sizes, (str, bytes)) or not isinstance(matmul_sizes, Sequence) \
            or len(matmul_sizes) == 0:
        raise TypeError(f"matmul_sizes must be a non-empty sequence of ints; got {matmul_sizes!r}")
    sizes = [as_int(f"matmul_sizes[{i}]", n, minimum=16) for i, n in enumerate(matmul_sizes)]
    nbytes = as_int("copy_bytes", copy_bytes, minimum=2**20)
    repeats = as_int("repeats", repeats)
    clock = as_clock(clock, device, threads)
    generator = torch.Generator().manual_seed(0)
    rates: dict[tuple[str, int], float] = {}
    with torch_threads(threads):
        for n in sizes:
            a = torch.randn(n, n, generator=generator).to(device)
            b = torch.randn(n, n, generator=generator).to(device)
            candidates = {"torch.mm": functools.partial(torch.mm, a, b)}
            if device.type == "cpu":
                onednn = _onednn_matmul(a, b)
                if onednn is not None:
                    candidates["oneDNN"] = onednn
            for name, fn in candidates.items():
                rates[(name, n)] = 2 * n**3 / _best_seconds(fn, repeats, threads, clock)
            del a, b, candidates
        source_tensor = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
        target = torch.empty_like(source_tensor)
        copy_seconds = _best_seconds(lambda: target.copy_(source_tensor), repeats, threads, clock)
    (winner, best_n), flops = max(rates.items(), key=lambda item: item[1])
    bandwidth = 2 * source_tensor.numel() * 4 / copy_seconds
    source = (f"measured: best of {repeats} float32 n x n products, n in {sizes}, "
              f"best {winner} n={best_n} ("
              + ", ".join(f"{k} {n}: {r / GIGA:.0f}" for (k, n), r in rates.items())
              + f" GFLOP/s), and of {repeats} copies of {nbytes // 2**20} MiB"
              + ("; process CPU-time clock" if clock == "cpu" else ""))
    return Peaks(device=device_label(device, threads), flops=flops, bandwidth=bandwidth,
                 source=source, measured=True, threads=threads if device.type == "cpu" else None)


def machine_peaks(device: str | torch.device | None = None, **measure_options: Any) -> Peaks:
    """The peaks of ``device`` (default: CUDA if available, else the CPU): the datasheet of a known
    GPU, else :func:`measure_peaks` (with ``measure_options``)."""
    device = as_device(device)
    if device.type == "cuda":
        known = datasheet_peaks(torch.cuda.get_device_name(device))
        if known is not None:
            return known
    return measure_peaks(device, **measure_options)


def fraction_of_peak(achieved_flops: float, peaks: Peaks) -> float:
    """``achieved_flops / peaks.flops``: how much of the machine's compute a pass used."""
    return as_positive_number("achieved_flops", achieved_flops) / peaks.flops


def fraction_of_roof(achieved_flops: float, intensity: float, peaks: Peaks) -> float:
    """``achieved_flops / roofline_bound(intensity)``: how close a pass came to its own roof."""
    return as_positive_number("achieved_flops", achieved_flops) / peaks.bound(intensity)


# ---------------------------------------------------------------------------- time claims

# The "proportionally faster" claim: time ratio / weight ratio within 1 +- this margin.
PROPORTIONAL_MARGIN = 0.2
TIME_METHOD = "quartiles of the timed runs of both layers"


def _time_comparison(ratio: float, low: float, high: float, runs: int, label: str):
    """A :class:`convlib.stats.Comparison` of ``ratio - 1`` and its interval, so that
    :func:`convlib.stats.judge` gives the verdict in the book's one vocabulary. The accuracy
    fields (and the seeds' share of the interval: times have runs, not seeds) do not apply to
    times and hold NaN; ``confidence`` is 0.5 (quartiles)."""
    nan = float("nan")
    return Comparison(round(ratio - 1, DECIMALS), round(low - 1, DECIMALS),
                      round(high - 1, DECIMALS), nan, nan, runs, 0, 0, confidence=0.5,
                      method=TIME_METHOD, labels=(label, "baseline"), seed_share=nan)


def speedup_interval(base: dict[str, Any], row: dict[str, Any]) -> tuple[float, float, float]:
    """``(speedup, low, high)`` of ``row`` over ``base`` (timed rows with ``median_s`` and
    ``iqr_s``): the ratio of the medians, and the ratios the two inter-quartile ranges allow
    (slowest quarter of the baseline over the fastest of the layer, and the reverse). Rows
    without ``iqr_s`` (a prediction) get ``low = high = speedup``."""
    b, t = (as_positive_number("median_s", r["median_s"]) for r in (base, row))
    ib, it = (float(r.get("iqr_s") or 0.0) / 2 for r in (base, row))
    return b / t, max(b - ib, 0.0) / (t + it), (b + ib) / max(t - it, t * 1e-9)


def time_claims(rows: Sequence[dict[str, Any]],
                margin: float = PROPORTIONAL_MARGIN) -> list[dict[str, Any]]:
    """For each timed row with a ``baseline`` (as :func:`convlib.latency.measure_layers`
    returns them), the article's promise "lighter, hence faster" judged with
    :func:`convlib.stats.judge` (verdicts :data:`convlib.stats.VERDICTS`) on two claims:

    - ``faster``: a "better" claim on ``speedup - 1``: holds when the whole interval of
      :func:`speedup_interval` lies above 1x, contradicted when below;
    - ``proportional``: a "same" claim on ``speedup / weight_ratio - 1`` with ``margin``
      (0.2: the time saved is the weights saved within 20 %): holds only when the interval lies
      inside, contradicted when it lies wholly outside.

    Each dict: label, width, mode, weight_ratio, speedup, low, high, faster, proportional.
    """
    index = {(r["label"], r["width"], r["mode"]): r for r in rows}
    out = []
    for row in rows:
        base = index.get((row.get("baseline"), row["width"], row["mode"]))
        if base is None:
            continue
        weight_ratio = base["params"] / row["params"]
        speedup, low, high = speedup_interval(base, row)
        runs = int(min(base.get("runs") or 1, row.get("runs") or 1))
        faster = judge(_time_comparison(speedup, low, high, runs, row["label"]), BETTER)
        share = _time_comparison(speedup / weight_ratio, low / weight_ratio,
                                 high / weight_ratio, runs, row["label"])
        out.append({"label": row["label"], "width": row["width"], "mode": row["mode"],
                    "weight_ratio": weight_ratio, "speedup": speedup, "low": low, "high": high,
                    "faster": faster.verdict,
                    "proportional": judge(share, SAME, margin=margin).verdict})
    return out


def plot_roofline(ax: Any, points: Sequence[dict[str, Any]], peaks: Peaks, **options: Any) -> None:
    """Place measured layers on the roofline of ``peaks`` (see
    :func:`convlib.plots.roofline.plot_roofline`)."""
    _plot_roofline(ax, points, peaks, **options)


__all__ = ["GPU_PEAKS", "PROPORTIONAL_MARGIN", "Peaks", "datasheet_peaks", "fraction_of_peak",
           "fraction_of_roof", "machine_peaks", "measure_peaks", "plot_roofline", "roofline_bound",
           "roofline_time", "speedup_interval", "time_claims"]
