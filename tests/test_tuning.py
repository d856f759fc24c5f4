"""convlib.tuning: the learning rate chosen on a validation split of the training images."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from convlib import data, tuning
from convlib.experiments.registry import Budget
from convlib.models import FrameNet
from convlib.profiles import PROFILES


def test_the_validation_split_is_a_tenth_at_most_5000():
    assert tuning.validation_size(50_000) == 5_000 and tuning.validation_size(5_000) == 500
    assert tuning.validation_size(200_000) == tuning.VALIDATION_MAX


def test_holdout_splits_into_disjoint_class_balanced_parts():
    labels = torch.arange(1_000) % 10
    images = torch.arange(1_000).view(-1, 1, 1, 1).expand(-1, 3, 2, 2).to(torch.int64)
    (rest_x, rest_y), (held_x, held_y) = data.holdout(images, labels, 100)
    assert len(held_y) == 100 and len(rest_y) == 900
    assert torch.bincount(held_y).tolist() == [10] * 10
    ids = set(rest_x[:, 0, 0, 0].tolist()) | set(held_x[:, 0, 0, 0].tolist())
    assert len(ids) == 1_000  # disjoint and complete
    again = data.holdout(images, labels, 100)[1][0]
    assert torch.equal(again, held_x)  # the same split every time
    with pytest.raises(ValueError, match="size must be an int"):
        data.holdout(images, labels, 1_000)


def test_select_learning_rate_records_the_grid_and_picks_the_best():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (300, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.arange(300) % 10
    profile = replace(PROFILES["smoke"], lr_grid=(0.05, 0.2), batch_size=50)
    budget = Budget(profile, None, epochs=3, augment=False, grid_epochs=1)
    record = tuning.select_learning_rate(lambda: FrameNet("plain", 3, stem=8, widths=(8, 8)),
                                         images, labels, budget, device="cpu")
    assert record["grid"] == [0.05, 0.2] and record["epochs"] == 1 and record["seed"] == 0
    assert (record["fit_size"], record["validation_size"]) == (270, 30)
    scores = record["validation_acc"]
    assert set(scores) == {"0.05", "0.2"} and record["lr"] in (0.05, 0.2)
    assert scores[f"{record['lr']:g}"] == max(scores.values())
    with pytest.raises(ValueError, match="grid must be"):
        tuning.select_learning_rate(lambda: None, images, labels,
                                    replace(budget, profile=replace(profile, lr_grid=())))
