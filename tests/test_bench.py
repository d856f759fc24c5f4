"""convlib.bench: FLOPs and bytes of the timed passes (closed forms), timing, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from flops_closed_form import closed_form_flops
from hypothesis import given, settings
from hypothesis import strategies as st
from timing import Timing, time_module
from torch import nn

from convlib.bench import (
    FORWARD_BACKWARD_FACTOR,
    MODES,
    bytes_moved,
    leaf_traffic,
    measurement,
    pass_flops,
)
from convlib.blocks import BLOCK_KINDS, block_params, make_block
from convlib.flops import count_flops


def _groups_for(kind: str, width: int) -> int:
    if kind == "grouped":
        return 4 if width % 4 == 0 else 1
    if kind == "bottleneck":
        return 2 if (width // 4) % 2 == 0 else 1
    return 1


# ---------------------------------------------------------------------------- FLOPs


@pytest.mark.parametrize("kind", BLOCK_KINDS)
@pytest.mark.parametrize("width", [16, 64, 256])
def test_block_flops_match_closed_form_and_count_flops(kind, width):
    k = 5 if kind == "stacked" else 3
    groups = _groups_for(kind, width)
    block = make_block(kind, width, width, k, groups=groups, activation=None, bias=False)
    shape = (2, width, 8, 8)
    expected = closed_form_flops(kind, width, width, k, 8, 2, groups)
    assert count_flops(block, shape) == expected  # PyTorch's counter on the real module
    assert pass_flops(block, shape) == expected  # the same counter on a meta copy
    assert pass_flops(block, shape, "forward_backward") == FORWARD_BACKWARD_FACTOR * expected


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(BLOCK_KINDS), c_in=st.integers(1, 24), c_out=st.integers(1, 24),
       k=st.sampled_from([3, 5, 7]), size=st.integers(1, 9), batch=st.integers(1, 3))
def test_block_flops_closed_form_property(kind, c_in, c_out, k, size, batch):
    block = make_block(kind, c_in, c_out, k, activation=None, bias=False)
    expected = closed_form_flops(kind, c_in, c_out, k, size, batch)
    assert pass_flops(block, (batch, c_in, size, size)) == expected
    # Stride 1, same padding, no bias: every weight is used once per output pixel.
    assert expected == 2 * batch * size * size * block_params(kind, c_in, c_out, k,
                                                              activation=None, bias=False)


@pytest.mark.parametrize("kind", ["plain", "stacked", "bottleneck", "spatial"])
def test_three_times_forward_matches_flop_counter_backward_without_groups(kind):
    """For ungrouped convolutions PyTorch's own backward count agrees with 3 x forward."""
    from torch.utils.flop_counter import FlopCounterMode

    block = make_block(kind, 8, 8, 5, activation=None, bias=False)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    counter = FlopCounterMode(display=False)
    with counter:
        block(x).sum().backward()
    assert counter.get_total_flops() == pass_flops(block, (2, 8, 6, 6), "forward_backward")


def test_pass_flops_does_not_touch_the_module():
    block = make_block("plain", 4, 4, 3, activation=None)
    before = [p.detach().clone() for p in block.parameters()]
    pass_flops(block, (1, 4, 5, 5))
    bytes_moved(block, (1, 4, 5, 5), "forward_backward")
    assert all(p.device.type == "cpu" and torch.equal(p, b)
               for p, b in zip(block.parameters(), before))


# ---------------------------------------------------------------------------- bytes


@given(c_in=st.integers(1, 32), c_out=st.integers(1, 32), k=st.sampled_from([1, 3, 5]),
       size=st.integers(5, 12), batch=st.integers(1, 4))
@settings(max_examples=20, deadline=None)
def test_bytes_of_one_conv(c_in, c_out, k, size, batch):
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)
    i, o = 4 * batch * c_in * size * size, 4 * batch * c_out * size * size
    w = 4 * c_in * c_out * k * k
    assert bytes_moved(conv, (batch, c_in, size, size)) == i + w + o
    assert bytes_moved(conv, (batch, c_in, size, size), "forward_backward") == 3 * i + 2 * o + 3 * w


def test_bytes_of_a_block_sum_its_leaves():
    block = make_block("separable", 16, 32, 3, activation="relu", bias=False)
    calls = leaf_traffic(block, (2, 16, 8, 8))
    assert [c["name"] for c in calls] == ["depthwise", "pointwise", "act2"]
    pixels = 2 * 8 * 8
    assert calls[0] == {"name": "depthwise", "input": 4 * 16 * pixels, "params": 4 * 16 * 9,
                        "output": 4 * 16 * pixels}
    assert calls[2]["params"] == 0 and calls[2]["input"] == calls[2]["output"] == 4 * 32 * pixels
    assert bytes_moved(block, (2, 16, 8, 8)) == sum(c["input"] + c["params"] + c["output"]
                                                    for c in calls)


def test_float64_counts_eight_bytes():
    conv = nn.Conv2d(2, 3, 1, bias=False).double()
    assert bytes_moved(conv, (1, 2, 4, 4)) == 8 * (2 * 16 + 6 + 3 * 16)


def test_bytes_refuse_a_shape_that_does_not_fit():
    with pytest.raises(ValueError, match="input_shape"):
        bytes_moved(nn.Conv2d(3, 4, 3), (1, 5, 8, 8))


# ---------------------------------------------------------------------------- timing


def test_the_measurement_median_and_iqr_match_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 10, 33):
        values = rng.random(n).tolist()
        timed = measurement(values)
        assert timed.median == pytest.approx(np.median(values))
        assert timed.iqr == pytest.approx(np.percentile(values, 75) - np.percentile(values, 25))
    with pytest.raises(ValueError):
        measurement([])


@pytest.mark.parametrize("mode", MODES)
def test_time_module_returns_positive_finite_medians(mode):
    conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
    timing = time_module(conv, (2, 8, 16, 16), mode=mode, min_run_time=0.02, min_runs=3,
                         threads=1, label="conv")
    assert isinstance(timing, Timing)
    assert timing.label == "conv" and timing.mode == mode and timing.threads == 1
    assert math.isfinite(timing.median_s) and timing.median_s > 0
    assert math.isfinite(timing.iqr_s) and timing.iqr_s >= 0
    assert timing.runs >= 3 and len(timing.times_s) == timing.runs
    assert all(t > 0 for t in timing.times_s)
    assert timing.flops == pass_flops(conv, (2, 8, 16, 16), mode)
    assert timing.bytes == bytes_moved(conv, (2, 8, 16, 16), mode)
    assert timing.achieved_flops == pytest.approx(timing.flops / timing.median_s)
    assert timing.intensity == pytest.approx(timing.flops / timing.bytes)
    assert timing.device.startswith("CPU")
    assert "times_s" not in timing.to_dict() and timing.to_dict()["input_shape"] == [2, 8, 16, 16]


def test_time_module_on_the_cpu_time_clock():
    conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
    timing = time_module(conv, (2, 8, 16, 16), min_run_time=0.02, min_runs=3, threads=1,
                         clock="cpu")
    assert timing.clock == "cpu" and math.isfinite(timing.median_s) and timing.median_s > 0


def test_time_module_restores_threads_and_leaves_grads_alone():
    before = torch.get_num_threads()
    conv = nn.Conv2d(4, 4, 3, padding=1)
    time_module(conv, (1, 4, 8, 8), mode="forward_backward", min_run_time=0.01, min_runs=2,
                threads=1)
    assert torch.get_num_threads() == before
    assert all(p.grad is None for p in conv.parameters())


@pytest.mark.parametrize("kwargs, error, name", [
    (dict(module="conv"), TypeError, "module"),
    (dict(module=lambda x: x), TypeError, "module"),
    (dict(input_shape=(0, 3, 8, 8)), ValueError, "input_shape"),
    (dict(input_shape=(1, 3, -8, 8)), ValueError, "input_shape"),
    (dict(input_shape=()), TypeError, "input_shape"),
    (dict(input_shape="1x3x8x8"), TypeError, "input_shape"),
    (dict(min_run_time=0), ValueError, "min_run_time"),
    (dict(min_run_time=-0.1), ValueError, "min_run_time"),
    (dict(min_run_time=float("nan")), ValueError, "min_run_time"),
    (dict(min_run_time="0.1"), TypeError, "min_run_time"),
    (dict(mode="backward"), ValueError, "mode"),
    (dict(mode=None), TypeError, "mode"),
    (dict(min_runs=0), ValueError, "min_runs"),
    (dict(threads=0), ValueError, "threads"),
    (dict(threads=1.5), TypeError, "threads"),
    (dict(warmup=-1), ValueError, "warmup"),
    (dict(device=3), TypeError, "device"),
    (dict(clock="gpu"), ValueError, "clock"),
    (dict(clock=None), TypeError, "clock"),
    (dict(clock="cpu", threads=2), ValueError, "clock"),
])
def test_time_module_refuses_nonsense(kwargs, error, name):
    args = dict(module=nn.Conv2d(3, 4, 3), input_shape=(1, 3, 8, 8), min_run_time=0.01)
    args.update(kwargs)
    module, shape = args.pop("module"), args.pop("input_shape")
    with pytest.raises(error, match=name):
        time_module(module, shape, **args)


def test_measure_gives_a_measurement_of_at_least_min_runs_blocks():
    from convlib.bench import measure, measure_calls

    calls = []
    timed = measure(lambda: calls.append(1), min_run_time=0.001, min_runs=7, threads=1)
    assert len(timed.times) >= 7 and timed.median > 0 and timed.iqr >= 0
    assert len(calls) >= 7  # every block ran the function at least once
    calls.clear()
    single = measure_calls(lambda: calls.append(1), runs=4, threads=1, clock="cpu")
    assert len(single.times) == 4 and len(calls) > 4  # timed calls, and warm-up calls before
    assert min(single.times) >= 0
    with pytest.raises(ValueError, match="runs must be an int >= 1"):
        measure_calls(lambda: None, runs=0)
    with pytest.raises(ValueError, match="clock must be one of"):
        measure(lambda: None, clock="tsc")
