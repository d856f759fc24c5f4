"""The package as a whole: cheap to import, every submodule reachable, no module grows too long."""

from __future__ import annotations

import subprocess
import sys

import convlib
from convlib.book import ROOT

CORE = ["params", "dense", "receptive", "blocks", "flops", "census", "zoo", "identities", "data",
        "models", "train", "experiments", "results", "claims", "profiles"]


def test_importing_convlib_and_its_core_modules_takes_under_two_seconds_beyond_torch():
    code = ("import time, torch; t = time.perf_counter(); import convlib; "
            + "; ".join(f"import convlib.{m}" for m in CORE)
            + "; print(time.perf_counter() - t)")
    seconds = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True).stdout)
    assert seconds < 2.0, seconds


def test_every_declared_submodule_is_reachable_as_an_attribute():
    for name in sorted(convlib._SUBMODULES):
        assert getattr(convlib, name).__name__ == f"convlib.{name}"


def test_no_module_is_much_over_four_hundred_lines():
    for path in sorted(ROOT.joinpath("convlib").rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 440, f"{path.relative_to(ROOT)} has {lines} lines"
