"""The package as a whole: cheap to import, every submodule reachable.

(Module length is not capped: ruff's C901 and PLR0915 flag a function that should be split, and
the import-linter contract keeps the layers; both run in make lint.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import convlib
from convlib.io import REPO_ROOT

CORE = ["params", "dense", "receptive", "blocks", "flops", "census", "zoo", "identities", "data",
        "models", "train", "experiments", "results", "claims", "profiles"]


def test_importing_convlib_and_its_core_modules_takes_under_two_seconds_beyond_torch():
    code = ("import time, torch; t = time.perf_counter(); import convlib; "
            + "; ".join(f"import convlib.{m}" for m in CORE)
            + "; print(time.perf_counter() - t)")
    seconds = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   check=True).stdout)
    assert seconds < 2.0, seconds


def _contract_layers() -> list[frozenset[str]]:
    """The layers of pyproject.toml's import-linter contract, each as a set of module names."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads(REPO_ROOT.joinpath("pyproject.toml").read_text(encoding="utf-8"))
    [layers] = [c["layers"] for c in config["tool"]["importlinter"]["contracts"]
                if c["type"] == "layers" and c["containers"] == ["convlib"]]
    return [frozenset(m.strip() for m in re.split(r"[:|]", layer)) for layer in layers]


def test_the_package_docstring_lists_every_module_in_its_layer():
    """A reader opening convlib sees every module, grouped as the contract layers them."""
    here = REPO_ROOT / "convlib"
    modules = {p.stem for p in here.glob("*.py") if p.stem != "__init__"}
    modules |= {p.parent.name for p in here.glob("*/__init__.py")}
    layers = _contract_layers()
    assert modules == set().union(*layers) == convlib._SUBMODULES
    sections = re.split(r"^\*\*.+\*\*.*$", convlib.__doc__, flags=re.M)[1:]
    listed = [frozenset(re.findall(r"^- ``(\w+)``", section, flags=re.M)) for section in sections]
    assert sorted(map(sorted, listed)) == sorted(map(sorted, layers))


def test_architecture_md_has_a_row_for_every_module():
    text = REPO_ROOT.joinpath("ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = {name.rstrip("/") for name in re.findall(r"^\| `([\w/]+)` \|", text, flags=re.M)}
    assert rows == convlib._SUBMODULES


def test_every_declared_submodule_is_reachable_as_an_attribute():
    for name in sorted(convlib._SUBMODULES):
        assert getattr(convlib, name).__name__ == f"convlib.{name}"


def test_the_layers_hold():
    """The import-linter contract of pyproject.toml (ARCHITECTURE.md): no module imports a layer
    above its own, and the grader imports only the bottom layer. make lint runs it too; here it
    also guards a plain pytest run."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_every_package_folder_is_installed():
    """pyproject.toml lists the packages setuptools installs: a subpackage missing from it is absent
    from a `pip install` (a notebook opened alone on Colab then fails to import it)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads(REPO_ROOT.joinpath("pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(REPO_ROOT).parts)
               for root in ("convlib", "bookgrader")
               for p in REPO_ROOT.joinpath(root).rglob("__init__.py")
               if "__pycache__" not in p.parts}
    assert listed - {"convlib.reference"} == on_disk
    mapped = config["tool"]["setuptools"]["package-dir"]["convlib.reference"]
    assert REPO_ROOT.joinpath(mapped).is_dir()
