"""convlib.bench: FLOPs and bytes of the timed passes (closed forms), timing, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlib.bench import (FORWARD_BACKWARD_FACTOR, MODES, Timing, bytes_moved, leaf_traffic,
                           median_and_iqr, pass_flops, time_module)
from convlib.latency import (TIME_VERDICTS, Layer, chapter_layers, compare_to_baseline, latency_files,
                             latency_provenance, layer_facts, load_latency, measure_layers, time_verdict)
from convlib.blocks import BLOCK_KINDS, block_params, make_block
from convlib.flops import conv2d_flops, count_flops


def closed_form_flops(kind: str, c_in: int, c_out: int, k: int, size: int, batch: int,
                      groups: int = 1) -> int:
    """Sum of conv2d_flops over the block's convolutions (stride 1, same padding), times batch."""
    hw = (size, size)
    if kind == "plain":
        convs = [conv2d_flops(c_in, c_out, k, hw)]
    elif kind == "grouped":
        convs = [conv2d_flops(c_in, c_out, k, hw, groups)]
    elif kind == "stacked":
        n = (k - 1) // 2
        convs = [conv2d_flops(c_in, c_out, 3, hw)] + [conv2d_flops(c_out, c_out, 3, hw)] * (n - 1)
    elif kind == "bottleneck":
        m = max(1, c_out // 4)
        convs = [conv2d_flops(c_in, m, 1, hw), conv2d_flops(m, m, k, hw, groups),
                 conv2d_flops(m, c_out, 1, hw)]
    elif kind == "separable":
        convs = [conv2d_flops(c_in, c_in, k, hw, c_in), conv2d_flops(c_in, c_out, 1, hw)]
    else:  # spatial
        convs = [conv2d_flops(c_in, c_out, (k, 1), hw), conv2d_flops(c_out, c_out, (1, k), hw)]
    return batch * sum(convs)


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


def test_median_and_iqr_match_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 10, 33):
        values = rng.random(n).tolist()
        median, iqr = median_and_iqr(values)
        assert median == pytest.approx(np.median(values))
        assert iqr == pytest.approx(np.percentile(values, 75) - np.percentile(values, 25))
    with pytest.raises(ValueError):
        median_and_iqr([])


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


# ---------------------------------------------------------------------------- the chapter's layers


def test_chapter_layers_have_their_baselines():
    layers = chapter_layers()
    labels = {layer.label for layer in layers}
    assert {layer.kind for layer in layers} == set(BLOCK_KINDS)
    assert all(layer.baseline in labels for layer in layers if layer.baseline is not None)
    for layer in layers:
        if layer.baseline is not None:
            base = next(b for b in layers if b.label == layer.baseline)
            assert base.kind == "plain" and base.kernel_size == layer.kernel_size  # same field
    with pytest.raises(ValueError, match="groups"):
        chapter_layers(groups=(0,))


def test_layer_facts_match_closed_forms():
    layers = chapter_layers(groups=(2, 32))
    rows = layer_facts(layers, [64], input_size=8, batch=2)
    for layer, row in zip(layers, rows):
        module = layer.build(64)
        assert row["params"] == layer.params(64) == sum(p.numel() for p in module.parameters())
        assert row["flops"] == closed_form_flops(layer.kind, 64, 64, layer.kernel_size, 8, 2,
                                                 layer.groups)
        assert not any(isinstance(m, (nn.ReLU, nn.BatchNorm2d)) for m in module.modules())
    by_label = {r["label"]: r for r in rows}
    # The depthwise-separable block has a far lower intensity than the plain 3x3 it replaces.
    assert by_label["depthwise separable"]["intensity"] < by_label["plain 3x3"]["intensity"] / 5


def test_measure_layers_interleaves_rounds():
    layers = [Layer("plain 3x3", "plain", 3), Layer("grouped g=2", "grouped", 3, 2, "plain 3x3")]
    messages = []
    rows = measure_layers(layers, [8], input_size=8, batch=1,
                          modes={"forward": None, "forward_backward": ["grouped g=2"]},
                          min_run_time=0.01, min_runs=2, rounds=2, threads=1,
                          progress=messages.append)
    assert [(r["label"], r["mode"]) for r in rows] == [
        ("plain 3x3", "forward"), ("grouped g=2", "forward"), ("grouped g=2", "forward_backward")]
    assert len(messages) == 2 * 3 and messages[0].startswith("round 1/2")
    for row in rows:
        assert row["runs"] >= 4 and row["median_s"] > 0 and row["threads"] == 1
        assert row["achieved_flops"] == pytest.approx(row["flops"] / row["median_s"])
    compared = compare_to_baseline(rows)
    assert len(compared) == 1  # no forward_backward baseline was timed
    assert compared[0]["weight_ratio"] == 2 and compared[0]["flop_ratio"] == 2
    assert compared[0]["verdict"] in TIME_VERDICTS
    with pytest.raises(ValueError, match="mode"):
        measure_layers(layers, [8], input_size=8, batch=1, modes={"backward": None})


# ---------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("weight_ratio, speedup, verdict", [
    (9.0, 9.0, "pays off in time"), (9.0, 7.2, "pays off in time"), (9.0, 7.1, "partly"),
    (9.0, 1.01, "partly"), (9.0, 1.0, "does not"), (9.0, 0.5, "does not"),
    (1.0, 0.9, "does not"), (1.0, 1.1, "pays off in time"), (0.5, 2.0, "pays off in time"),
])
def test_time_verdict_rule(weight_ratio, speedup, verdict):
    assert time_verdict(weight_ratio, speedup) == verdict


def test_time_verdict_refuses_nonsense():
    with pytest.raises(ValueError, match="speedup"):
        time_verdict(2.0, 0.0)
    with pytest.raises(TypeError, match="weight_ratio"):
        time_verdict("2", 1.0)


def test_compare_to_baseline():
    rows = [dict(label="plain 3x3", baseline=None, width=64, mode="forward", params=900,
                 flops=1800, median_s=1.0),
            dict(label="separable", baseline="plain 3x3", width=64, mode="forward", params=100,
                 flops=200, median_s=0.5),
            dict(label="grouped", baseline="plain 3x3", width=64, mode="forward", params=450,
                 flops=900, median_s=2.0)]
    out = compare_to_baseline(rows)
    assert [r["label"] for r in out] == ["separable", "grouped"]
    assert out[0]["weight_ratio"] == 9 and out[0]["flop_ratio"] == 9 and out[0]["speedup"] == 2
    assert out[0]["verdict"] == "partly" and out[1]["verdict"] == "does not"


# ---------------------------------------------------------------------------- results files


def test_latency_files(tmp_path):
    import json

    assert load_latency("latency-cpu", tmp_path) is None and latency_files(tmp_path) == []
    data = {"provenance": {"device": "CPU (x, 1 threads)", "torch": "2.0", "date": "2025-01-01T00",
                           "batch": 8, "input_size": 32, "min_runs": 3, "rounds": 2,
                           "note": "shared machine",
                           "load_average_1min": {"before": 3.0, "after": 4.5}}, "rows": []}
    (tmp_path / "latency-cpu.json").write_text(json.dumps(data))
    assert latency_files(tmp_path) == ["latency-cpu"]
    assert load_latency("latency-cpu", tmp_path) == data
    line = latency_provenance(data)
    assert "CPU (x, 1 threads)" in line and "2025-01-01" in line and "shared machine" in line
    assert "load average 3.0 before, 4.5 after" in line
    with pytest.raises(ValueError, match="name"):
        load_latency("../x", tmp_path)
