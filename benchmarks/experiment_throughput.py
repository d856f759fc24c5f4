"""Training images per second of every variant of every experiment, float32 against bfloat16.

The harness speed-up of the reference profile (README, "Reference results"): each variant's
training step (forward, backward, SGD step) on a batch of random 32x32 images, first in float32
with the NCHW layout (how the older reference files were made), then as
:func:`convlib.device.execution_plan` runs it on this machine (bfloat16 autocast and channels_last
where the CPU computes in bf16 natively). One thread by default, as each reference run uses.

    python benchmarks/experiment_throughput.py [--threads 1] [--seconds 3] [--batch-size 256]

Prints one line per distinct model: images/s in float32, with the plan, and the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from convlib.device import execution_plan
from convlib.experiments import EXPERIMENTS


def images_per_second(build, batch_size: int, seconds: float, bf16: bool) -> float:
    """Training steps on random data for about ``seconds`` after two warm-up steps."""
    torch.manual_seed(0)
    fmt = torch.channels_last if bf16 else torch.contiguous_format
    model = build().to(memory_format=fmt)
    x = torch.randn(batch_size, 3, 32, 32).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch_size,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(), step()
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    plan = execution_plan(torch.device("cpu"), "auto", None, False)
    print(f"{args.threads} thread(s), batch {args.batch_size}; plan: {plan.precision}")
    seen = set()
    for experiment in EXPERIMENTS.values():
        for variant in experiment.variants:
            spec = getattr(variant.build, "spec", None)
            if spec in seen:
                continue
            seen.add(spec)
            before = images_per_second(variant.build, args.batch_size, args.seconds, bf16=False)
            after = images_per_second(variant.build, args.batch_size, args.seconds, bf16=plan.bf16)
            print(f"{experiment.name:16s} {variant.name:14s} float32 {before:8.0f}  "
                  f"plan {after:8.0f} img/s  x{after / before:.2f}", flush=True)


if __name__ == "__main__":
    main()
