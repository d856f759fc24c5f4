"""pytest settings shared by the unit tests and nbval (which collects the book's notebooks)."""

import os

from convlib.book import UNCOMPARED_MIME_TYPES

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collectstart(collector):
    # Outputs that legitimately differ between machines (figure bytes, stderr) are not compared
    # by nbval; convlib.book's portability guard skips the same ones.
    if collector.fspath and collector.fspath.ext == ".ipynb" and hasattr(collector, "skip_compare"):
        collector.skip_compare += UNCOMPARED_MIME_TYPES
