"""convlib.latency: chapter 8's layers, their facts, interleaved timing, verdicts, results files."""

from __future__ import annotations

import pytest
from flops_closed_form import closed_form_flops
from torch import nn

from convlib.blocks import BLOCK_KINDS
from convlib.latency import (
    TIME_VERDICTS,
    Layer,
    chapter_layers,
    compare_to_baseline,
    latency_files,
    latency_provenance,
    layer_facts,
    load_latency,
    measure_layers,
    time_verdict,
)

# ---------------------------------------------------------------------------- the chapter's layers


def test_chapter_layers_have_their_baselines():
    layers = chapter_layers()
    labels = {layer.label for layer in layers}
    assert {layer.kind for layer in layers} <= set(BLOCK_KINDS)  # a new kind need not be in ch. 8
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


def test_the_latency_table_script_records_its_provenance(monkeypatch):
    """benchmarks/latency_table.py: the device defaults like every convlib device, --clock cpu is
    refused off one thread, and the provenance comes from convlib.io (commit with its dirty flag,
    CPU model, load average, UTC time)."""
    import importlib.util

    from convlib.io import REPO_ROOT

    path = REPO_ROOT / "benchmarks" / "latency_table.py"
    spec = importlib.util.spec_from_file_location("latency_table", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    args = script.parse_args(["--threads", "1", "--device", "cpu", "--clock", "cpu",
                              "--note", "test"])
    assert args.device.type == "cpu" and args.threads == 1
    provenance = script.provenance(args, "2026-01-01T00:00:00+00:00", 1.5)
    commit = provenance["git_commit"]
    assert commit == "unknown" or len(commit.split("+")[0]) == 40
    assert provenance["cpu_model"] and provenance["finished"].endswith("+00:00")
    assert provenance["load_average_1min"]["before"] == 1.5 and provenance["note"] == "test"
    with pytest.raises(SystemExit):
        script.parse_args(["--threads", "2", "--device", "cpu", "--clock", "cpu"])
