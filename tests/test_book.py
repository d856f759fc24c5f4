"""convlib.book: no chapter escapes nbval (it runs exactly the notebooks of _toc.yml, and every
notebook is in it), and every compared output is the same on every machine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from convlib.book import (
    MAX_SIGNIFICANT_DIGITS,
    PORTABLE_ENV,
    portability_problems,
    toc_files,
    toc_notebooks,
    unportable_numbers,
)
from convlib.io import REPO_ROOT

MACHINE_PATH = re.compile(r"(/root/|/tmp/|/work/|/home/[a-z]|/Users/|site-packages/|[A-Z]:\\\\)")
MEMORY_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]{6,}")


def book_notebooks() -> set[str]:
    found = REPO_ROOT.joinpath("book").rglob("*.ipynb")
    return {str(p.relative_to(REPO_ROOT)) for p in found
            if "_build" not in p.parts and ".ipynb_checkpoints" not in p.parts}


def test_every_notebook_of_the_book_is_in_the_toc():
    assert book_notebooks() == set(toc_notebooks())


def test_every_toc_entry_exists():
    for entry in toc_files():
        assert any(REPO_ROOT.joinpath(entry + ext).is_file() for ext in (".md", ".ipynb")), entry


def test_nbval_target_runs_exactly_the_toc_notebooks():
    dry_run = subprocess.run(["make", "-n", "--no-print-directory", "nbval"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout
    commands = dry_run.replace("\\\n", " ").splitlines()  # join continuation lines
    pytest_line = next(line for line in commands if "--nbval" in line)
    ran = {token for token in pytest_line.split() if token.endswith(".ipynb")}
    assert "--nbval-lax" not in pytest_line  # strict: every cell compared
    assert ran == set(toc_notebooks())


def test_stored_outputs_hold_no_machine_path_address_or_error():
    for path in toc_notebooks():
        notebook = json.loads(REPO_ROOT.joinpath(path).read_text(encoding="utf-8"))
        counts = []
        for cell in notebook["cells"]:
            if cell["cell_type"] != "code":
                continue
            assert cell.get("outputs") is not None
            counts.append(cell.get("execution_count"))
            for output in cell.get("outputs", []):
                assert output["output_type"] != "error", f"{path}: stored error output"
                text = json.dumps({k: v for k, v in output.items() if k != "data"}) + json.dumps(
                    {k: v for k, v in output.get("data", {}).items() if not k.startswith("image/")})
                assert not MACHINE_PATH.search(text), f"{path}: output shows a machine path"
                assert not MEMORY_ADDRESS.search(text), f"{path}: output shows a memory address"
        executed = [c for c in counts if c is not None]
        assert executed == list(range(1, len(executed) + 1)), f"{path}: not run top to bottom"


# ---- portable outputs: the guard, and proof that it can fail ---------------------------------

@pytest.mark.parametrize("path", toc_notebooks())
def test_compared_outputs_show_no_raw_float(path):
    problems = portability_problems(REPO_ROOT / path)
    assert not problems, ("outputs nbval compares show floats that differ between machines; "
                          "print a verdict against a tolerance, an exact integer or a rounded "
                          "value:\n" + "\n".join(problems))


@pytest.mark.parametrize("raw", ["4.441e-16", "0.0e+00", "0.30000000000000004",
                                 "0.8821018833940248", "279,736,775.11", "1.000000", "-2.5E-07"])
def test_the_guard_flags_raw_floats(raw):
    assert unportable_numbers(f"largest difference {raw} in float64") == [raw]


@pytest.mark.parametrize("fine", ["below 1e-12", "< 1e-9: True", "58.23 %", "8,666",
                                  "0.039 ± 0.005", "arXiv:1611.05431", "torch 2.14.1", "5,575.11",
                                  "3x3 (2014)", "279,736,775", "1.0e", "layer features.10"])
def test_the_guard_accepts_integers_rounded_values_tolerances_and_identifiers(fine):
    assert unportable_numbers(fine) == []


def planted_notebook(tmp_path, source, text, tags=()):
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {"tags": list(tags)},
            "source": source,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": text}]}
    title = {"cell_type": "markdown", "source": "# t", "metadata": {}}
    path = tmp_path / "planted.ipynb"
    path.write_text(json.dumps({"cells": [title, cell], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


def test_a_planted_raw_float_fails_with_the_cell_named(tmp_path):
    path = planted_notebook(tmp_path, "error = (a - b).abs().max()\nprint(error)",
                            "4.440892098500626e-16\n")
    [problem] = portability_problems(path)
    assert "cell 1" in problem and "error = (a - b).abs().max()" in problem and "4.44" in problem


@pytest.mark.parametrize("marker", [{"source": "# NBVAL_IGNORE_OUTPUT\nprint(t)"},
                                    {"source": "print(t)", "tags": ["nbval-ignore-output"]}])
def test_outputs_nbval_ignores_may_vary(tmp_path, marker):
    path = planted_notebook(tmp_path, marker["source"], "took 0.123456789 s\n",
                            marker.get("tags", ()))
    assert portability_problems(path) == []


def test_the_allowed_precision_is_the_boundary():
    assert unportable_numbers("1." + "2" * (MAX_SIGNIFICANT_DIGITS - 1)) == []
    assert unportable_numbers("1." + "2" * MAX_SIGNIFICANT_DIGITS) != []


def test_the_simulated_second_machine_really_differs():
    """make nbval-portable's environment takes effect: AVX2 kernels, one thread, no bf16."""
    code = ("import torch; from convlib.device import resolve_precision; "
            "print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(), "
            "resolve_precision('auto', torch.device('cpu')))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **PORTABLE_ENV},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["AVX2", "1", "float32"]


def test_smoke_outputs_of_run_it_yourself_cells_stay_off_the_website():
    run_cells = 0
    for path in toc_notebooks():
        for cell in json.loads(REPO_ROOT.joinpath(path).read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "run_experiment(" in source:
                run_cells += 1
                assert "remove-output" in cell["metadata"].get("tags", []), path
                assert "announce_profile(profile)" in source, path
    assert run_cells == 5


def test_binder_builds_a_lean_cpu_environment_pinned_like_the_book():
    binder = REPO_ROOT.joinpath("binder", "requirements.txt").read_text().splitlines()
    lines = [line.strip() for line in binder if line.strip() and not line.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines  # CPU wheels, no CUDA
    pins = dict(line.split("==") for line in lines if "==" in line)
    pinned = REPO_ROOT.joinpath("constraints.txt").read_text().splitlines()
    constraints = dict(line.split("==") for line in pinned
                       if "==" in line and not line.startswith("#"))
    assert {"torch", "torchvision", "numpy", "matplotlib", "pandas", "ipykernel"} <= set(pins)
    drifted = {name for name, version in pins.items() if constraints[name] != version}
    assert not drifted, f"binder pins drifted: {drifted}"
    for tooling in ("pytest", "nbval", "jupyter-book", "hypothesis", "nbgrader"):
        assert tooling not in pins
    post_build = REPO_ROOT.joinpath("binder", "postBuild")
    assert post_build.stat().st_mode & 0o111 and "pip install" in post_build.read_text()
    assert REPO_ROOT.joinpath("binder", "runtime.txt").read_text().strip() == "python-3.11"


def test_every_chapter_with_exercises_ends_with_a_link_to_them():
    for page in sorted(REPO_ROOT.joinpath("book", "exercises").glob("ch*.md")):
        [chapter] = REPO_ROOT.joinpath("book", "chapters").glob(f"{page.stem[2:]}_*.ipynb")
        cells = json.loads(chapter.read_text(encoding="utf-8"))["cells"]
        assert cells[-1]["cell_type"] == "markdown"
        assert f"](../exercises/{page.name})" in "".join(cells[-1]["source"]), chapter.name


def _visible_code_cells(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    hidden = {"remove-input", "hide-input", "remove-cell"}
    return [c for c in notebook["cells"] if c["cell_type"] == "code"
            and not hidden & set(c.get("metadata", {}).get("tags", []))]


@pytest.mark.parametrize("notebook", toc_notebooks())
def test_no_page_shows_a_glue_call_or_an_assert_line(notebook):
    """Bookkeeping (glue, asserts) lives in hidden cells (remove-input, or hide-input where a
    reader may want to look): the teaching code on the page is what a learner would type."""
    shown = []
    for cell in _visible_code_cells(REPO_ROOT / notebook):
        for line in "".join(cell["source"]).splitlines():
            if re.match(r"\s*(assert\b|glue\()", line):
                shown.append(line.strip()[:60])
    assert not shown, f"{notebook} shows bookkeeping: {shown}"


@pytest.mark.parametrize("notebook", toc_notebooks())
def test_code_a_reader_can_see_fits_88_columns(notebook):
    """Code shown on the page, folded (hide-input) or not, is at most 88 columns: the width that
    fits a code cell without sideways scrolling (book/_static/ksm.css, tests/test_site.py)."""
    cells = json.loads((REPO_ROOT / notebook).read_text(encoding="utf-8"))["cells"]
    wide = [f"cell {i}: {len(line)} columns: {line.strip()[:50]}"
            for i, cell in enumerate(cells) if cell["cell_type"] == "code"
            and not {"remove-input", "remove-cell"} & set(cell.get("metadata", {}).get("tags", []))
            for line in "".join(cell["source"]).splitlines() if len(line) > 88]
    assert not wide, f"{notebook}: " + "; ".join(wide)


@pytest.mark.parametrize("notebook", [n for n in toc_notebooks() if "/chapters/" in n])
def test_every_chapter_closes_with_what_to_remember_then_its_exercises(notebook):
    cells = json.loads((REPO_ROOT / notebook).read_text(encoding="utf-8"))["cells"]
    headings = [line for c in cells if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if line.startswith("## ")]
    assert headings[-2:] == ["## What to remember", "## Exercises"], headings[-3:]


def _figures_outside_the_check(cells: list[dict]) -> tuple[list[str], int]:
    """(cells showing an image not glued, number of glued images) of a notebook's cells."""
    direct, glued = [], 0
    for index, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            images = [m for m in output.get("data", {}) if "image/" in m]
            if images and "scrapbook" in output.get("metadata", {}):
                glued += 1
            elif images:
                direct.append(f"cell {index}")
    return direct, glued


@pytest.mark.parametrize("notebook", toc_notebooks())
def test_every_figure_on_a_page_went_through_the_figure_check(notebook):
    """A figure reaches a page only through ``glue`` after ``use_book_style()``, which checks it
    against the figure rules (convlib.plots.style.figure_problems: sizes, overlaps, clipping,
    titles, units) and raises on a break; so nbval's re-execution checks every figure of every
    chapter. An image shown directly (a figure left open at the end of a cell) would escape it."""
    cells = json.loads((REPO_ROOT / notebook).read_text(encoding="utf-8"))["cells"]
    direct, glued = _figures_outside_the_check(cells)
    assert not direct, f"{notebook}: figures shown without the figure check: {direct}"
    if glued:
        sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        assert any("use_book_style()" in s for s in sources), notebook


def test_a_figure_shown_directly_is_found():
    shown = {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {}}
    glued = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "f"}},
             "data": {"application/papermill.record/image/png": "iVBOR"}}
    cells = [{"cell_type": "code", "source": "", "outputs": [glued]},
             {"cell_type": "code", "source": "", "outputs": [shown]}]
    assert _figures_outside_the_check(cells) == (["cell 1"], 1)
