"""convlib: the small, tested library behind the book *Kernel Size Matters*.

One module per concept, in the chapters' vocabulary:

- ``convlib.params``     exact weight counts of convolutions, dense layers and blocks
- ``convlib.dense``      the dense layer a convolution is (tied and zeroed weights)
- ``convlib.receptive``  analytic and measured receptive fields
- ``convlib.blocks``     the blocks the book compares (stacked, bottleneck, grouped, separable)
- ``convlib.flops``      FLOPs and MACs, counted by PyTorch itself
- ``convlib.census``     which kernels real architectures use (``convlib.zoo``: the models themselves)
- ``convlib.data``       CIFAR-10, offline
- ``convlib.models``     the article's small CIFAR-10 network
- ``convlib.train``      one fast, seeded training loop
- ``convlib.experiments`` the named CIFAR-10 comparisons and their verdicts
- ``convlib.identities`` 1x1 = per-pixel dense, grouped = split-convolve-concatenate, ...
- ``convlib.memory``     activation memory a training step keeps, per image (saved-tensor hooks)
- ``convlib.reparam``    re-parameterisation: parallel branches with BatchNorm merged into one conv
- ``convlib.connectivity`` which input channels feed which outputs
- ``convlib.compare``    every trick side by side for one layer shape
- ``convlib.results``    the reference results the chapters plot
- ``convlib.claims``     every quantitative claim of the article, checked
- ``convlib.bench`` / ``convlib.latency`` / ``convlib.roofline``  measured time against weights
  and FLOPs
- ``convlib.profiles``   the experiment budgets (``CONVLIB_PROFILE``)
- ``convlib.device``     device choice, synchronisation and training precision (``CONVLIB_PRECISION``)
- ``convlib.io``         atomic writes (fsync), git commit and provenance helpers
- ``convlib.store``      the results store: where results files live, reading and writing them

ARCHITECTURE.md gives the layers these modules form and the contract that enforces them.

Submodules are imported on first use, so ``import convlib`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "params", "dense", "receptive", "blocks", "flops", "census", "zoo", "identities", "connectivity",
    "compare", "data", "models", "train", "experiments", "results", "claims", "bench", "latency",
    "roofline", "profiles", "book", "launch", "plots", "device", "io", "store", "reparam", "merge",
    "memory",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'convlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
