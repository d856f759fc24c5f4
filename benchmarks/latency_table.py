"""Weights, FLOPs and measured time of the book's convolution blocks on this machine (chapter 8).

    python benchmarks/latency_table.py [--widths 64 256] [--size 32] [--batch 8]
        [--min-run-time 0.2] [--min-runs 5] [--rounds 3] [--threads N] [--device cpu|cuda]
        [--clock wall|cpu]
        [--out book/results/latency-cpu.json] [--note "shared machine"]

Times every layer of ``convlib.latency.chapter_layers()`` forward (and the 3x3 family forward +
backward) with ``convlib.latency.measure_layers`` (interleaved rounds, median of the per-call
times),
measures or looks up the machine's peaks (``convlib.roofline.machine_peaks``), and prints one table:
weights, FLOPs, median time, achieved GFLOP/s and fraction of peak, and, against the plain k x k of
the same width, "x fewer weights", "x fewer FLOPs", "x faster" and the verdict of
``convlib.latency.time_verdict``. With ``--out`` the measurements are written as JSON with their
provenance (device, threads, clock, versions, date, load average, budget, note), atomically (a
temporary file renamed into place), for the chapter to read. ``--clock cpu`` (one CPU thread only)
times on the process's CPU-time clock, which does not count the time the process waits while other
programs run: use it on a shared machine.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

from convlib.bench import as_clock, device_label
from convlib.device import as_device
from convlib.io import atomic_write_json, cpu_model, git_commit, load_average, utc_now
from convlib.latency import (
    FORWARD_BACKWARD_LABELS,
    chapter_layers,
    compare_to_baseline,
    measure_layers,
)
from convlib.roofline import machine_peaks

FORMAT = 1


def format_table(rows: list[dict], comparison: list[dict], peak_flops: float) -> str:
    versus = {(c["label"], c["width"], c["mode"]): c for c in comparison}
    header = (f"{'layer':<22}{'width':>6} {'mode':<17}{'weights':>10}{'MFLOP':>10}{'ms':>10}"
              f"{'IQR %':>7}{'GFLOP/s':>9}{'% peak':>8}{'FLOP/B':>8}"
              f"{'x fewer w':>10}{'x fewer F':>10}{'x faster':>9}  verdict")
    lines = [header, "-" * len(header)]
    for row in rows:
        c = versus.get((row["label"], row["width"], row["mode"]))
        ratios = (f"{c['weight_ratio']:>10.2f}{c['flop_ratio']:>10.2f}{c['speedup']:>9.2f}  "
                  f"{c['verdict']}" if c else f"{'':>10}{'':>10}{'(baseline)':>11}")
        lines.append(
            f"{row['label']:<22}{row['width']:>6} {row['mode']:<17}{row['params']:>10,}"
            f"{row['flops'] / 1e6:>10,.1f}{row['median_s'] * 1e3:>10.2f}"
            f"{100 * row['iqr_s'] / row['median_s']:>7.1f}{row['achieved_flops'] / 1e9:>9.1f}"
            f"{100 * row['achieved_flops'] / peak_flops:>8.1f}{row['intensity']:>8.1f}{ratios}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of the module docstring; ``--clock cpu`` is refused off one CPU thread."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--size", type=int, default=32, help="input height and width")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--groups", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    parser.add_argument("--min-run-time", type=float, default=0.2,
                        help="seconds of timed calls per layer and round")
    parser.add_argument("--min-runs", type=int, default=5, help="blocks of calls per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: torch.get_num_threads())")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall clock, or the process's CPU time (CPU, --threads 1 only)")
    parser.add_argument("--no-backward", action="store_true", help="time the forward pass only")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--note", default="", help="a note for the provenance")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    args.device = as_device(args.device)
    args.threads = args.threads or torch.get_num_threads()
    try:
        as_clock(args.clock, args.device, args.threads)
    except ValueError as error:
        parser.error(str(error))
    return args


def provenance(args: argparse.Namespace, started: str, load_before: float | None) -> dict:
    """Where, when and how the table was measured (the results file's ``provenance``)."""
    device = args.device
    return {
        "device": device_label(device, args.threads), "device_type": device.type,
        "threads": args.threads, "clock": args.clock,
        "cpu_model": cpu_model() if device.type == "cpu" else None,
        "torch": torch.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "date": started, "finished": utc_now(),
        "git_commit": git_commit(), "input_size": args.size, "batch": args.batch,
        "widths": args.widths, "groups": args.groups, "min_run_time": args.min_run_time,
        "min_runs": args.min_runs, "rounds": args.rounds, "dtype": "float32",
        "flops_rule": "forward: FlopCounterMode; forward_backward: 3 x forward",
        "load_average_1min": {"before": load_before, "after": load_average()},
        "note": args.note,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device, threads = args.device, args.threads
    layers = chapter_layers(groups=args.groups)
    modes = {"forward": None}
    if not args.no_backward:
        modes["forward_backward"] = [lab for lab in FORWARD_BACKWARD_LABELS
                                     if any(layer.label == lab for layer in layers)]
    started, load_before = utc_now(), load_average()
    peaks = (machine_peaks(device, threads=threads, clock=args.clock) if device.type == "cpu"
             else machine_peaks(device))
    progress = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    rows = measure_layers(layers, args.widths, input_size=args.size, batch=args.batch, modes=modes,
                          min_run_time=args.min_run_time, min_runs=args.min_runs,
                          rounds=args.rounds, threads=threads, device=device, progress=progress,
                          clock=args.clock)
    comparison = compare_to_baseline(rows)
    print(f"device: {device_label(device, threads)}; peaks: {peaks.flops / 1e9:,.1f} GFLOP/s, "
          f"{peaks.bandwidth / 1e9:,.1f} GB/s ({peaks.source}); clock: {args.clock}")
    print(f"input: batch {args.batch} x width x {args.size} x {args.size}, float32; median of "
          f">= {args.min_runs} runs x {args.rounds} interleaved rounds; forward+backward FLOPs "
          f"= 3 x forward")
    print(format_table(rows, comparison, peaks.flops))
    if args.out is not None:
        atomic_write_json(args.out, {"format": FORMAT,
                                     "provenance": provenance(args, started, load_before),
                                     "peaks": peaks.to_dict(), "rows": rows,
                                     "comparison": comparison})
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
