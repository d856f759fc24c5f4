"""convlib: the small, tested library behind the book *Kernel Size Matters*.

The modules form layers (ARCHITECTURE.md draws them; the import-linter contract in pyproject.toml
enforces them: a module imports from its own layer and the layers below, never above). Listed
here teaching core first, the order in which a reader meets them in the chapters:

**Math** (exact counts and identities: no training, no clock)

- ``params``        closed-form weight counts of convolutions, dense layers and blocks
- ``dense``         the dense layer a convolution is (tied and zeroed weights)
- ``receptive``     receptive fields: the recurrence and a measurement from input gradients
- ``erf``           the effective receptive field of a trained network
- ``identities``    1x1 = per-pixel dense, grouped = split-convolve-concatenate, ...
- ``reparam``       re-parameterisation: parallel branches with BatchNorm merged into one conv
- ``connectivity``  which input channels feed which outputs
- ``flops``         FLOPs and MACs, counted by PyTorch itself

**Blocks and models**

- ``blocks``        one ``nn.Module`` class per published block, and the registry of them
- ``models``        the article's small CIFAR-10 networks

**Measurement** (what a layer costs on a machine, what real architectures use)

- ``bench``         the one timing path (median and spread), FLOP/s and bytes
- ``latency``       chapter 8's timed layers and time verdicts
- ``roofline``      machine peaks and the roofline model
- ``census``        which kernels real architectures use (``zoo``: the architectures)
- ``zoo``           the ImageNet architectures the article names
- ``memory``        activation memory a training step keeps, per image

**Running** (training on CIFAR-10 and the experiments' results)

- ``data``          CIFAR-10, offline
- ``train``         one seeded training loop
- ``tuning``        the learning rate of each variant, chosen on training images
- ``experiments``   the named comparisons: registry, resumable runner, verdicts, command line
- ``merge``         an experiment in shards: each shard's runs, one results file from all
- ``results``       the reference results the chapters plot and judge
- ``profiles``      the experiment budgets (``CONVLIB_PROFILE``)

**Book-facing** (what the chapters call)

- ``claims``        every quantitative claim of the article, computed and judged
- ``compare``       every weight-saving construction side by side for one layer shape
- ``chapter``       the chapters' shared helpers (claims, verdicts with budgets, tables)
- ``plots``         the figures, the book's style, ``glue`` (which checks every figure)

**Bottom** (plain helpers; the grader, ``bookgrader``, imports ``io``, ``launch`` and ``shards``)

- ``_checks``       every argument check, one message style
- ``device``        device choice, synchronisation, training precision (``CONVLIB_PRECISION``)
- ``io``            atomic writes (fsync), the repository root, git commit and provenance
- ``store``         the results store: where results files live, reading, writing, per-image bits
- ``stats``         the book's statistical vocabulary: intervals and verdicts
- ``shards``        stable shard assignment (``i/n``) for experiments and grading
- ``book``          what nbval checks: the table of contents and the portable-output rule
- ``launch``        the launch cell that installs the book in a notebook opened on its own

Submodules are imported on first use, so ``import convlib`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "params", "dense", "receptive", "erf", "identities", "reparam", "connectivity", "flops",
    "blocks", "models",
    "bench", "latency", "roofline", "census", "zoo", "memory",
    "data", "train", "tuning", "experiments", "merge", "results", "profiles",
    "claims", "compare", "chapter", "plots",
    "_checks", "device", "io", "store", "stats", "shards", "book", "launch",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'convlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
