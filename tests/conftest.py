"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """Where the real CIFAR-10 lives for tests: $CONVLIB_DATA, else ../shared/data beside the repo."""
    for candidate in (os.environ.get("CONVLIB_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "cifar10-jpeg.tar.gz").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    found = shared_data_dir()
    if found is None:
        pytest.skip("the CIFAR-10 JPEG copy is not available (set CONVLIB_DATA)")
    return found
