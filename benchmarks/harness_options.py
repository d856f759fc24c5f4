"""What could make a training step of the book's networks cheaper on this CPU, side by side.

Every option is measured on the same images with :func:`convlib.train.train` itself (the harness
the reference sets use), one thread, in interleaved rounds (A, B, C, ..., A, B, C, ...) so that
whatever else the machine does slows every option alike; each option's figure is the median over
rounds of its second epoch's images per second (the first is a warm-up).

    python benchmarks/harness_options.py [--images 2048] [--rounds 3] [--compile]

Options: today's harness (bf16 autocast + channels_last where the CPU computes in bf16, batch
256), float32 NCHW, bf16 without channels_last (depthwise layers), batch 128 and 512, and with
``--compile`` torch.compile of the bf16 step (minutes of compilation first).
"""

from __future__ import annotations

import argparse
import statistics

import torch

from convlib.experiments import get_experiment
from convlib.train import TrainConfig, seed_everything, train

NETWORKS = (("stacking", "2x3x3"), ("large_kernel", "convnext7"),
            ("bottleneck_deep", "bottleneck-deep"))
OPTIONS = {
    "harness (bf16, channels_last, batch 256)": {},
    "float32, NCHW": {"precision": "float32", "channels_last": False},
    "bf16, NCHW": {"precision": "bfloat16", "channels_last": False},
    "batch 128": {"batch_size": 128},
    "batch 512": {"batch_size": 512},
}


def rate(build, images, labels, options: dict) -> float:
    """Images per second of the second of two epochs of ``build()`` with ``options``
    (``compiled``: the model through torch.compile, which the harness itself only does on CUDA)."""
    seed_everything(0)
    options = dict(options)
    model = torch.compile(build()) if options.pop("compiled", False) else build()
    config = TrainConfig(**{"epochs": 2, "batch_size": 256, "lr": 0.1, **options})
    history = train(model, images, labels, images[:256], labels[:256], config, device="cpu",
                    progress=False)
    return history.images_per_second[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.arange(args.images) % 10
    options = dict(OPTIONS)
    if args.compile:
        options["torch.compile (bf16)"] = {"compiled": True}
    for experiment, name in NETWORKS:
        build = next(v.build for v in get_experiment(experiment).variants if v.name == name)
        rates = {option: [] for option in options}
        for _ in range(args.rounds):
            for option, settings in options.items():
                rates[option].append(rate(build, images, labels, settings))
        base = statistics.median(rates[next(iter(options))])
        print(f"{experiment}/{name}:")
        for option, values in rates.items():
            median = statistics.median(values)
            print(f"  {option:42s} {median:7.0f} images/s  {median / base:5.2f}x")


if __name__ == "__main__":
    main()
