"""A fair recipe per variant: the learning rate chosen on training images, never on the test set.

One learning rate for every network favours the networks it happens to suit (at lr 0.1 the book's
widened 8-group and separable networks diverged). Each variant of an experiment therefore gets the
learning rate of a small grid (the profile's ``lr_grid``, e.g. 0.05, 0.1, 0.2) that scores best on
a *validation split*: a class-balanced tenth of the experiment's training images (at most 5,000),
held out while the grid trains on the other nine tenths, for a stated shorter budget (the
profile's ``grid_epochs``), with one seed. The final runs then train on every training image with
the chosen rate, and only they read the test set. :func:`select_learning_rate` is given training
images only: it cannot read a test image.

The choice is the highest validation accuracy, rounded to 0.01 points; a tie goes to the smaller
learning rate (the more cautious one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from convlib import data as data_module
from convlib.train import seed_everything, train

if TYPE_CHECKING:  # the registry's package imports the runner, which imports this module
    from convlib.experiments.registry import Budget

GRID_SEED = 0
VALIDATION_SHARE = 10  # one image in ten is held out
VALIDATION_MAX = 5_000


def validation_size(train_size: int) -> int:
    """The validation split's size for a training set of ``train_size`` images."""
    return min(VALIDATION_MAX, train_size // VALIDATION_SHARE)


def _choose(scores: dict[float, float]) -> float:
    """The learning rate with the best rounded score; ties to the smaller rate."""
    return max(scores, key=lambda lr: (round(scores[lr], 4), -lr))


def select_learning_rate(build: Callable[[], torch.nn.Module], train_images: torch.Tensor,
                         train_labels: torch.Tensor, budget: Budget, *, device=None,
                         log: Callable[[str], None] | None = None) -> dict:
    """Train ``build()`` once per learning rate of the profile's grid (``budget.profile.lr_grid``)
    on nine tenths of the training images, each with the grid's configuration of ``budget``
    (:meth:`~convlib.experiments.registry.Budget.train_config`), and score it on the held-out
    tenth; return the record stored in the results file: the grid, the budget, the split's
    sizes, each rate's validation accuracy and final training loss, the chosen ``lr`` and the
    seconds it took."""
    grid = budget.profile.lr_grid
    if not grid or any(not isinstance(lr, float) or lr <= 0 for lr in grid):
        raise ValueError(f"grid must be a non-empty tuple of positive floats; got {grid!r}")
    (fit_x, fit_y), (val_x, val_y) = data_module.holdout(
        train_images, train_labels, validation_size(len(train_labels)), seed=GRID_SEED)
    start, scores, losses = time.perf_counter(), {}, {}
    for lr in grid:
        seed_everything(GRID_SEED)
        config = budget.train_config(lr, grid=True)
        history = train(build(), fit_x, fit_y, val_x, val_y, config, seed=GRID_SEED,
                        device=device, progress=False)
        scores[lr], losses[lr] = history.test_acc[-1], history.train_loss[-1]
        if log:
            log(f"  lr {lr:g}: validation accuracy {scores[lr]:.4f}")
    return {"grid": list(grid), "epochs": config.epochs, "batch_size": config.batch_size,
            "augment": config.augment,
            "fit_size": len(fit_y), "validation_size": len(val_y), "seed": GRID_SEED,
            "validation_acc": {f"{lr:g}": scores[lr] for lr in grid},
            "final_train_loss": {f"{lr:g}": losses[lr] for lr in grid},
            "lr": _choose(scores), "seconds": round(time.perf_counter() - start, 2)}
