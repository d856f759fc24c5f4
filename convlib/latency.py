"""Chapter 8's comparison: which layers are timed, their weights and FLOPs, their measured
times against their baseline, the verdicts, and the results files.

Each trick of the book (stacked 3x3, bottleneck, grouped, depthwise- and spatially separable)
is compared with the plain ``k x k`` convolution it replaces, at the same width:
``weight_ratio = baseline weights / weights``, ``flop_ratio`` likewise, and
``speedup = baseline median time / median time``. :func:`time_verdict` turns the ratios into
words; the rule is fixed here, before any measurement.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convlib import store
from convlib._checks import as_int, as_positive_number
from convlib.bench import (
    as_clock,
    as_mode,
    as_threads,
    bytes_moved,
    device_label,
    measure,
    measurement,
    pass_flops,
    pass_function,
    torch_threads,
)
from convlib.blocks import block_params, make_block
from convlib.device import as_device

TIME_VERDICTS = ("pays off in time", "partly", "does not")
PAYS_OFF_FRACTION = 0.8
"""A trick 'pays off in time' when its speedup is at least this fraction of its weight ratio."""


# ---------------------------------------------------------------------------- the chapter's layers


@dataclass(frozen=True)
class Layer:
    """One layer shape of the comparison: a block kind of :mod:`convlib.blocks` and its baseline.

    ``baseline`` is the label of the plain ``k x k`` convolution it stands in for (same width,
    same receptive field), or None for a baseline itself.
    """

    label: str
    kind: str
    kernel_size: int
    groups: int = 1
    baseline: str | None = None

    def build(self, width: int) -> nn.Sequential:
        """``make_block(kind, width, width, k, groups=g, activation=None, norm=None, bias=False)``:
        the convolutions alone, no bias, normalisation or activation."""
        return make_block(self.kind, width, width, self.kernel_size, groups=self.groups,
                          activation=None, norm=None, bias=False)

    def params(self, width: int) -> int:
        """Closed-form weights (:func:`convlib.blocks.block_params`)."""
        return block_params(self.kind, width, width, self.kernel_size, groups=self.groups,
                            activation=None, norm=None, bias=False)


def chapter_layers(groups: Sequence[int] = (2, 4, 8, 16, 32)) -> list[Layer]:
    """The layers of chapter 8: plain 3x3 and 5x5 (the baselines), two stacked 3x3 (vs 5x5),
    the bottleneck, grouped 3x3 for each of ``groups``, depthwise separable and spatially
    separable 3x3 (vs plain 3x3)."""
    layers = [Layer("plain 3x3", "plain", 3), Layer("plain 5x5", "plain", 5),
              Layer("two stacked 3x3", "stacked", 5, baseline="plain 5x5"),
              Layer("bottleneck", "bottleneck", 3, baseline="plain 3x3")]
    layers += [Layer(f"grouped g={g}", "grouped", 3, groups=as_int("groups", g),
                     baseline="plain 3x3") for g in groups]
    layers += [Layer("depthwise separable", "separable", 3, baseline="plain 3x3"),
               Layer("spatially separable", "spatial", 3, baseline="plain 3x3")]
    return layers


FORWARD_BACKWARD_LABELS = ("plain 3x3", "bottleneck", "grouped g=8", "depthwise separable")
"""The subset of :func:`chapter_layers` timed forward + backward too: the plain 3x3 and the
tricks of chapters 4 to 6 that replace it."""


def layer_facts(layers: Iterable[Layer], widths: Iterable[int], input_size: int,
                batch: int) -> list[dict[str, Any]]:
    """The deterministic side of the comparison, one row per (layer, width): weights (counted on
    the module, equal to the closed form), forward FLOPs, forward bytes and intensity."""
    rows = []
    for width in widths:
        width = as_int("width", width)
        shape = (as_int("batch", batch), width, as_int("input_size", input_size), input_size)
        for layer in layers:
            with torch.device("meta"):  # shapes only: nothing is initialised
                module = layer.build(width)
            params = sum(p.numel() for p in module.parameters())
            flops, nbytes = pass_flops(module, shape), bytes_moved(module, shape)
            rows.append({"label": layer.label, "kind": layer.kind, "kernel_size": layer.kernel_size,
                         "groups": layer.groups, "baseline": layer.baseline, "width": width,
                         "input_shape": list(shape), "params": params, "flops": flops,
                         "bytes": nbytes, "intensity": flops / nbytes})
    return rows


@dataclass
class _Entry:
    """One (layer, width, mode) to time: its row so far, its pass and its per-call times."""

    row: dict[str, Any]
    run: Callable[[], Any]
    times: list[float]


def _entries(layers: Sequence[Layer], widths: Sequence[int], input_size: int, batch: int,
             modes: dict[str, Iterable[str] | None], target: torch.device,
             columns: dict[str, Any]) -> list[_Entry]:
    """Every (layer, width, mode) of :func:`measure_layers`, built on ``target``, with the facts,
    the mode's FLOPs, bytes and intensity, and ``columns`` (device, threads, clock)."""
    entries = []
    for fact in layer_facts(layers, widths, input_size, batch):
        layer = next(lay for lay in layers if lay.label == fact["label"])
        for mode, labels in modes.items():
            if labels is not None and fact["label"] not in set(labels):
                continue
            module = layer.build(fact["width"]).to(target)
            shape = tuple(fact["input_shape"])
            row = dict(fact, mode=mode, flops=pass_flops(module, shape, mode),
                       bytes=bytes_moved(module, shape, mode), **columns)
            row["intensity"] = row["flops"] / row["bytes"]
            entries.append(_Entry(row, pass_function(module, shape, mode, target), []))
    return entries


def _time_interleaved(entries: list[_Entry], rounds: int, budget: dict[str, Any],
                      progress: Callable[[str], None] | None) -> None:
    """``rounds`` rounds, each timing every entry once with :func:`convlib.bench.measure`
    (``budget``: its keyword arguments); the per-call times gather in each entry."""
    for r in range(rounds):
        for entry in entries:
            row = entry.row
            if progress is not None:
                progress(f"round {r + 1}/{rounds}: {row['label']} width {row['width']} "
                         f"{row['mode']}")
            entry.times.extend(measure(entry.run, **budget).times)


def measure_layers(
    layers: Sequence[Layer],
    widths: Sequence[int],
    *,
    input_size: int,
    batch: int,
    modes: dict[str, Iterable[str] | None] | None = None,
    min_run_time: float = 0.2,
    min_runs: int = 5,
    rounds: int = 1,
    threads: int | None = None,
    device: str | torch.device = "cpu",
    warmup: int = 1,
    progress: Callable[[str], None] | None = None,
    clock: str = "wall",
) -> list[dict[str, Any]]:
    """Time every (layer, width, mode): one row each, with the :func:`layer_facts` columns plus
    ``mode``, ``flops``/``bytes``/``intensity`` of that mode, ``median_s``, ``iqr_s``, ``runs``,
    ``achieved_flops``, ``device``, ``threads`` and ``clock``.

    ``modes`` maps a mode to the layer labels timed in it (None: all); default: forward only.
    The measurements are interleaved: ``rounds`` rounds, each timing every entry once for
    ``min_run_time`` s, so that a burst of load from other processes hits all layers alike; the
    median is over the per-call times of all rounds.
    """
    modes = {"forward": None} if modes is None else dict(modes)
    for mode in modes:
        as_mode(mode)
    rounds, threads = as_int("rounds", rounds), as_threads(threads)
    budget = {"threads": threads, "min_run_time": as_positive_number("min_run_time", min_run_time),
              "min_runs": as_int("min_runs", min_runs)}
    warmup = as_int("warmup", warmup, minimum=0)
    target = as_device(device)
    budget["clock"] = as_clock(clock, target, threads)
    columns = {"device": device_label(target, threads), "threads": threads,
               "clock": budget["clock"]}
    entries = _entries(layers, widths, input_size, batch, modes, target, columns)
    with torch_threads(threads):
        for entry in entries:
            for _ in range(warmup):
                entry.run()
    _time_interleaved(entries, rounds, budget, progress)
    rows = []
    for entry in entries:
        timed = measurement(entry.times)
        rows.append(dict(entry.row, median_s=timed.median, iqr_s=timed.iqr, runs=len(entry.times),
                         achieved_flops=entry.row["flops"] / timed.median))
    return rows


# ---------------------------------------------------------------------------- verdicts


def time_verdict(weight_ratio: float, speedup: float,
                 pays_fraction: float = PAYS_OFF_FRACTION) -> str:
    """What a trick that is ``weight_ratio`` x lighter and ``speedup`` x faster buys in time:

    - ``"pays off in time"``: ``speedup > 1`` and ``speedup >= pays_fraction * weight_ratio``
      (the time saved is at least that fraction of the weights saved);
    - ``"partly"``: faster (``speedup > 1``) but by less;
    - ``"does not"``: not faster (``speedup <= 1``).
    """
    weight_ratio = as_positive_number("weight_ratio", weight_ratio)
    speedup = as_positive_number("speedup", speedup)
    pays_fraction = as_positive_number("pays_fraction", pays_fraction)
    if speedup <= 1:
        return "does not"
    return "pays off in time" if speedup >= pays_fraction * weight_ratio else "partly"


def compare_to_baseline(rows: Iterable[dict[str, Any]],
                        pays_fraction: float = PAYS_OFF_FRACTION) -> list[dict[str, Any]]:
    """For each timed row with a baseline: ``weight_ratio`` (baseline weights / weights),
    ``flop_ratio`` (baseline FLOPs / FLOPs), ``speedup`` (baseline median time / median time),
    all at the same width and mode, and the :func:`time_verdict`. Rows keep the input order."""
    rows = list(rows)
    index = {(r["label"], r["width"], r["mode"]): r for r in rows}
    out = []
    for row in rows:
        if row.get("baseline") is None:
            continue
        base = index.get((row["baseline"], row["width"], row["mode"]))
        if base is None:
            continue
        weight_ratio = base["params"] / row["params"]
        speedup = base["median_s"] / row["median_s"]
        out.append({"label": row["label"], "baseline": row["baseline"], "width": row["width"],
                    "mode": row["mode"], "weight_ratio": weight_ratio,
                    "flop_ratio": base["flops"] / row["flops"], "speedup": speedup,
                    "verdict": time_verdict(weight_ratio, speedup, pays_fraction)})
    return out


# ---------------------------------------------------------------------------- results files


def results_path(name: str, folder: str | os.PathLike | None = None) -> Path:
    """``book/results/<name>.json`` (or in ``folder``): :func:`convlib.store.results_file`."""
    return store.results_file(name, folder)


def load_latency(name: str = "latency-cpu", folder: str | os.PathLike | None = None) -> dict | None:
    """The latency measurements written by ``benchmarks/latency_table.py --out``, or None."""
    path = results_path(name, folder)
    return store.read_json(path) if path.is_file() else None


def latency_files(folder: str | os.PathLike | None = None) -> list[str]:
    """The stems of every ``latency-*.json`` results file (e.g. ``latency-cpu``), sorted."""
    return store.stems("latency-*", folder)


def latency_provenance(results: dict) -> str:
    """One sentence: device, threads, torch version, date, timing budget and any note."""
    p = results["provenance"]
    model = f" ({p['cpu_model']})" if p.get("cpu_model") else ""
    text = (f"{p['device']}{model}, torch {p['torch']}, {p['date'][:10]}, "
            f"batch {p['batch']} at {p['input_size']}x{p['input_size']}, "
            f"median of at least {p['min_runs']} runs x {p['rounds']} interleaved rounds")
    if p.get("clock") == "cpu":
        text += ", timed on the process's CPU-time clock"
    load = p.get("load_average_1min") or {}
    if load.get("before") is not None and load.get("after") is not None:
        text += (f"; 1-minute load average {load['before']:.1f} before, {load['after']:.1f} after "
                 f"the run")
    return text + (f"; {p['note']}" if p.get("note") else "")


__all__ = ["FORWARD_BACKWARD_LABELS", "Layer", "PAYS_OFF_FRACTION", "TIME_VERDICTS",
           "chapter_layers", "compare_to_baseline", "latency_files", "latency_provenance",
           "layer_facts", "load_latency", "measure_layers", "results_path", "time_verdict"]
