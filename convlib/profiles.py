"""Experiment budgets, read from ``CONVLIB_PROFILE`` in this one place.

- ``smoke``: CI. Every experiment finishes in under two minutes on a 2-core CPU; its numbers
  check that the code runs, they are not evidence for any claim.
- ``quick``: a laptop CPU. A training subset, few epochs, two seeds: minutes per experiment
  (the measured times are in each results file's ``wall_seconds``).
- ``cpu``: the CPU reference set, what the book's verdicts come from. All 50,000 training and
  10,000 test images, three seeds; the epochs are the most that let the whole set (every
  experiment, matched-budget ones included) run in about 4 CPU-hours on the 2-core reference
  machine, one thread per run (README, "Reference results", has the measured figures).
- ``full``: a GPU. All 50,000 training images, at least 30 epochs, three seeds.

Unset, the profile is ``quick``, on a CPU (minutes) as on a GPU (well under a minute): a notebook
opened on Colab or Binder never starts a multi-hour run by surprise; ``full`` is asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_NAMES = ("smoke", "quick", "cpu", "full")
ENV_VAR = "CONVLIB_PROFILE"
DEFAULT_PROFILE = "quick"


CIFAR10_TRAIN_IMAGES, CIFAR10_TEST_IMAGES = 50_000, 10_000  # "all" of the data set


@dataclass(frozen=True)
class Profile:
    """The budget of one training run and of one experiment; its :attr:`description` is written
    from these fields, so that each number is typed once."""

    name: str
    purpose: str  # where it runs, the description's first words
    train_size: int | None  # None: all 50,000 images
    test_size: int | None  # None: all 10,000 images
    epochs: int
    seeds: tuple[int, ...]
    batch_size: int
    lr: float  # a run outside an experiment (a chapter's live run); experiments choose from lr_grid
    # Each variant of an experiment takes the learning rate of this grid that scores best on a
    # validation split of its training images, trained for grid_epochs (convlib.tuning).
    lr_grid: tuple[float, ...] = (0.05, 0.1, 0.2)
    grid_epochs: int = 2

    @property
    def description(self) -> str:
        """``"laptop CPU: 8,000 training images, 6 epochs, 5,000 test images, 2 seeds"``; with
        all of CIFAR-10, ``"...: all 50,000 training and 10,000 test images, 4 epochs, ..."``."""
        n = len(self.seeds)
        seeds = f"{n} seed{'s' if n != 1 else ''}"
        if self.train_size is None and self.test_size is None:
            images = (f"all {CIFAR10_TRAIN_IMAGES:,} training and {CIFAR10_TEST_IMAGES:,} test "
                      f"images, {self.epochs} epochs")
        else:
            train = f"{self.train_size or CIFAR10_TRAIN_IMAGES:,} training images"
            test = f"{self.test_size or CIFAR10_TEST_IMAGES:,} test images"
            images = f"{train}, {self.epochs} epochs, {test}"
        return f"{self.purpose}: {images}, {seeds}"


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", "CI check", 1_000, 500, 2, (0, 1), 100, 0.05,
                     lr_grid=(0.05, 0.1), grid_epochs=1),
    "quick": Profile("quick", "laptop CPU", 8_000, 5_000, 6, (0, 1), 128, 0.05, grid_epochs=3),
    "cpu": Profile("cpu", "CPU reference", None, None, 4, (0, 1, 2), 256, 0.1),
    "full": Profile("full", "GPU", None, None, 30, (0, 1, 2), 256, 0.1, grid_epochs=10),
}


def validate_profile_name(name: str) -> str:
    """``name`` if it is a known profile, else a ``ValueError`` listing the valid ones."""
    if not isinstance(name, str):
        raise TypeError(f"profile must be a string, one of {PROFILE_NAMES}; "
                        f"got {type(name).__name__}")
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILE_NAMES}; got {name!r}")
    return name


def active_profile_name() -> str:
    """The profile named by ``CONVLIB_PROFILE``, or ``quick`` when it is unset."""
    name = os.environ.get(ENV_VAR, "").strip()
    return validate_profile_name(name) if name else DEFAULT_PROFILE


def announce_profile(profile: Profile | None = None) -> str:
    """One line saying which budget a run uses and why, printed before a notebook trains."""
    profile = profile or get_profile()
    why = f"{ENV_VAR}={os.environ[ENV_VAR].strip()}" if os.environ.get(ENV_VAR, "").strip() else (
        f"{ENV_VAR} unset: the default; set it to 'full' for all of CIFAR-10 on a GPU")
    return f"profile '{profile.name}' ({why}): {profile.description}"


def get_profile(name: str | None = None) -> Profile:
    """The :class:`Profile` called ``name``, or the active one when ``name`` is None."""
    return PROFILES[validate_profile_name(name) if name is not None else active_profile_name()]
