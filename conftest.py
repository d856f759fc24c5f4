"""pytest settings shared by the unit tests and nbval (which collects the book's notebooks)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

# Outputs that legitimately differ between machines and are not compared by nbval:
# glued figures (PNG bytes depend on fonts and library versions); their data is asserted in the cells.
SKIPPED_MIME_TYPES = (
    "application/papermill.record/image/png",
    "image/png",
    "image/svg+xml",
    "application/vnd.jupyter.widget-view+json",
    "stderr",
)


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb" and hasattr(collector, "skip_compare"):
        collector.skip_compare += SKIPPED_MIME_TYPES
