"""Fixtures the grading tests share."""

from __future__ import annotations

import json

import pytest

from bookgrader.release import generate, with_solutions
from convlib.io import REPO_ROOT

SOURCE = REPO_ROOT / "exercises" / "source"


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, dict]:
    """ch01 as released by nbgrader, and the same with the reference solutions."""
    out = tmp_path_factory.mktemp("release")
    generate(SOURCE, out, ["ch01"])
    released = json.loads((out / "ch01" / "ch01.ipynb").read_text(encoding="utf-8"))
    return {"released": released,
            "reference": with_solutions(released, SOURCE / "ch01" / "ch01.ipynb")}
