"""convlib.roofline: the bound, the datasheet peaks, measured peaks against measured layers."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from timing import time_module
from torch import nn

from convlib.roofline import (
    GPU_PEAKS,
    Peaks,
    datasheet_peaks,
    fraction_of_peak,
    fraction_of_roof,
    machine_peaks,
    measure_peaks,
    roofline_bound,
    roofline_time,
)

matplotlib.use("Agg")

positive = st.floats(1e-3, 1e15, allow_nan=False, allow_infinity=False)


@given(intensity=positive, peak=positive, bandwidth=positive)
def test_roofline_bound_is_the_lower_roof(intensity, peak, bandwidth):
    bound = roofline_bound(intensity, peak, bandwidth)
    assert bound <= peak and bound <= intensity * bandwidth
    assert bound in (peak, intensity * bandwidth)
    assert roofline_bound(intensity * 2, peak, bandwidth) >= bound  # never decreases


@given(flops=positive, nbytes=positive, peak=positive, bandwidth=positive)
def test_roofline_time_is_the_bound_read_as_a_time(flops, nbytes, peak, bandwidth):
    seconds = roofline_time(flops, nbytes, peak, bandwidth)
    assert seconds == pytest.approx(flops / roofline_bound(flops / nbytes, peak, bandwidth))


def test_roofline_bound_at_the_ridge():
    assert roofline_bound(10.0, 100.0, 10.0) == 100.0
    assert roofline_bound(1.0, 100.0, 10.0) == 10.0
    assert roofline_bound(1000.0, 100.0, 10.0) == 100.0
    assert Peaks("x", 100.0, 10.0, "test").ridge == 10.0


@pytest.mark.parametrize("args, error, name", [
    ((0.0, 1.0, 1.0), ValueError, "intensity"), ((1.0, -1.0, 1.0), ValueError, "peak_flops"),
    ((1.0, 1.0, math.inf), ValueError, "peak_bandwidth"), (("1", 1.0, 1.0), TypeError, "intensity"),
])
def test_roofline_bound_refuses_nonsense(args, error, name):
    with pytest.raises(error, match=name):
        roofline_bound(*args)


def test_peaks_refuse_nonsense():
    with pytest.raises(ValueError, match="bandwidth"):
        Peaks("x", 1.0, 0.0, "test")


@pytest.mark.parametrize("name, card, fp32_tflops, gbps", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 67.0, 3350.0),
    ("NVIDIA H100 PCIe", "H100 PCIe", 51.0, 2000.0),
    ("NVIDIA H100 NVL", "H100 NVL", 60.0, 3900.0),
    ("NVIDIA H200", "H200 SXM", 67.0, 4800.0),
    ("NVIDIA A100-SXM4-40GB", "A100 40GB", 19.5, 1555.0),
    ("NVIDIA A100-PCIE-40GB", "A100 40GB", 19.5, 1555.0),
    ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM", 19.5, 2039.0),
    ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe", 19.5, 1935.0),
    ("Tesla V100-SXM2-16GB", "V100 SXM2", 15.7, 900.0),
    ("Tesla V100-PCIE-32GB", "V100 PCIe", 14.0, 900.0),
    ("Tesla T4", "T4", 8.1, 320.0),
    ("NVIDIA L4", "L4", 30.3, 300.0),
    ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090", 82.6, 1008.0),
    ("NVIDIA GeForce RTX 3090", "GeForce RTX 3090", 35.6, 936.0),
    ("NVIDIA GeForce RTX 3090 Ti", "GeForce RTX 3090 Ti", 40.0, 1008.0),
])
def test_datasheet_peaks_by_device_name(name, card, fp32_tflops, gbps):
    peaks = datasheet_peaks(name)
    assert peaks is not None and card in peaks.source and peaks.device == name
    assert peaks.flops == fp32_tflops * 1e12 and peaks.bandwidth == gbps * 1e9
    assert not peaks.measured


@pytest.mark.parametrize("name", ["NVIDIA L40S", "NVIDIA GeForce RTX 4080", "AMD Instinct MI300X",
                                  "NVIDIA A40"])
def test_unknown_cards_are_not_guessed(name):
    assert datasheet_peaks(name) is None


def test_every_datasheet_entry_is_sane():
    for _, _card, fp32, bf16, gbps, source in GPU_PEAKS:
        assert 1 < fp32 < 200 and 100 < gbps < 10_000 and source.startswith("NVIDIA")
        assert bf16 is None or bf16 > fp32  # tensor cores beat the FP32 pipes
    volta_turing = {card for _, card, _, bf16, _, _ in GPU_PEAKS if bf16 is None}
    assert volta_turing == {"V100S PCIe", "V100 PCIe", "V100 SXM2", "T4"}  # no BF16 there


def test_measure_peaks_is_positive():
    peaks = measure_peaks("cpu", threads=1, matmul_sizes=(128, 256), copy_bytes=8 * 2**20,
                          repeats=2)
    assert peaks.measured and peaks.threads == 1 and peaks.device.startswith("CPU")
    assert math.isfinite(peaks.flops) and peaks.flops > 1e8  # > 0.1 GFLOP/s on any CPU
    assert math.isfinite(peaks.bandwidth) and peaks.bandwidth > 1e8
    assert "[128, 256]" in peaks.source
    assert Peaks.from_dict(peaks.to_dict()) == peaks
    with pytest.raises(ValueError, match="repeats"):
        measure_peaks("cpu", repeats=0)
    with pytest.raises(TypeError, match="matmul_sizes"):
        measure_peaks("cpu", matmul_sizes=())
    with pytest.raises(ValueError, match="matmul_sizes"):
        measure_peaks("cpu", matmul_sizes=(0,))
    with pytest.raises(ValueError, match="clock"):
        measure_peaks("cpu", threads=2, clock="cpu")
    on_cpu_clock = measure_peaks("cpu", threads=1, matmul_sizes=(128,), copy_bytes=8 * 2**20,
                                 repeats=2, clock="cpu")
    assert on_cpu_clock.flops > 1e8 and "CPU-time clock" in on_cpu_clock.source


def test_machine_peaks_without_a_gpu_are_measured_on_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    peaks = machine_peaks(threads=1, matmul_sizes=(256,), copy_bytes=8 * 2**20, repeats=1)
    assert peaks.measured and peaks.device.startswith("CPU")


def test_machine_peaks_of_a_known_gpu_come_from_its_datasheet(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    peaks = machine_peaks()
    assert not peaks.measured and peaks == datasheet_peaks("NVIDIA H200")


@pytest.mark.slow  # a measurement: run apart from the parallel fast tests
def test_measured_layers_stay_under_the_measured_cpu_peak():
    """Achieved FLOP/s of conv layers (median time) never exceed the matmul peak (best rate over
    sizes and backends) by more than noise (10%). Both on one thread and on the process's CPU-time
    clock, so that other processes on a shared machine neither stall a thread barrier nor add
    their time to ours; the peak is the better of a measurement before and one after the layers."""
    threads, clock = 1, "cpu"
    before = measure_peaks("cpu", threads=threads, repeats=4, clock=clock)
    layers = {
        "plain 3x3": (nn.Conv2d(128, 128, 3, padding=1, bias=False), (4, 128, 28, 28)),
        "pointwise": (nn.Conv2d(256, 256, 1, bias=False), (4, 256, 28, 28)),
        "depthwise": (nn.Conv2d(256, 256, 3, padding=1, groups=256, bias=False), (4, 256, 28, 28)),
    }
    timings = {name: time_module(module, shape, min_run_time=0.2, min_runs=3, threads=threads,
                                 clock=clock)
               for name, (module, shape) in layers.items()}
    after = measure_peaks("cpu", threads=threads, repeats=4, clock=clock)
    peak = max(before.flops, after.flops)
    bandwidth = max(before.bandwidth, after.bandwidth)
    for name, timing in timings.items():
        assert timing.achieved_flops <= 1.1 * peak, (name, timing.achieved_flops, peak)
        assert 0 < fraction_of_peak(timing.achieved_flops, before) < 1.1 * peak / before.flops
        assert fraction_of_roof(timing.achieved_flops, timing.intensity,
                                Peaks("cpu", peak, bandwidth, "test")) > 0


def test_plot_roofline_draws_every_group():
    import matplotlib.pyplot as plt

    from convlib.roofline import plot_roofline

    peaks = Peaks("test machine", 100e9, 10e9, "test")
    points = [dict(group="plain", intensity=100.0, achieved_flops=50e9, label="64"),
              dict(group="plain", intensity=200.0, achieved_flops=80e9, label="256"),
              dict(group="depthwise", intensity=2.0, achieved_flops=5e9, label="64")]
    fig, ax = plt.subplots()
    plot_roofline(ax, points, peaks, annotate="label")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "plain" in legend and "depthwise" in legend and any("roof" in t for t in legend)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "FLOP/byte" in ax.get_xlabel() and "GFLOP/s" in ax.get_ylabel()
    assert ax.get_title() == "Roofline of test machine"
    with pytest.raises(ValueError, match="intensity"):
        plot_roofline(ax, [dict(group="x", achieved_flops=1.0)], peaks)
    plt.close(fig)


def _timed(label, params, median, iqr, baseline=None, width=64, mode="forward"):
    return dict(label=label, params=params, median_s=median, iqr_s=iqr, runs=5,
                baseline=baseline, width=width, mode=mode)


def test_time_claims_speak_the_stats_vocabulary():
    from convlib.roofline import time_claims
    from convlib.stats import CONTRADICTED, HOLDS, INCONCLUSIVE

    rows = [_timed("plain", 800, 8.0, 0.4),
            _timed("fast", 100, 1.0, 0.02, "plain"),      # 8x faster, 8x lighter
            _timed("slow", 100, 10.0, 0.2, "plain"),      # 0.8x: slower
            _timed("noisy", 100, 7.0, 3.0, "plain"),      # interval straddles 1x
            _timed("partly", 100, 2.0, 0.02, "plain")]    # 4x faster for 8x lighter
    claims = {c["label"]: c for c in time_claims(rows)}
    assert claims["fast"]["faster"] == HOLDS and claims["fast"]["proportional"] == HOLDS
    assert claims["slow"]["faster"] == CONTRADICTED
    assert claims["noisy"]["faster"] == INCONCLUSIVE
    assert claims["partly"]["faster"] == HOLDS and claims["partly"]["proportional"] == CONTRADICTED
    assert claims["fast"]["low"] < claims["fast"]["speedup"] == 8.0 < claims["fast"]["high"]


def test_a_prediction_without_spread_is_judged_on_its_value():
    from convlib.roofline import speedup_interval

    assert speedup_interval({"median_s": 3.0}, {"median_s": 1.5}) == (2.0, 2.0, 2.0)
