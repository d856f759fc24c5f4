"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """Where the real CIFAR-10 lives for tests: $CONVLIB_DATA, else ../shared/data beside the
    repo."""
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


@pytest.fixture
def book_style():
    """The book's figure style (and its legibility check) for one test; figures closed after.
    Figure test modules use it with ``pytestmark = pytest.mark.usefixtures("book_style")``."""
    import matplotlib.pyplot as plt  # deferred: only figure tests pay for matplotlib

    from convlib.plots import use_book_style

    use_book_style()
    yield
    plt.close("all")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (``CI`` set, as GitHub Actions and .ci/run do) a skip is a failure: what CI installs is
    everything a test needs, so a skipped test there would prove nothing while looking green."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may be skipped: {reason}"
