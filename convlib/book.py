"""The book's table of contents, read from ``_toc.yml``, and the rule its checked outputs obey.

``python -m convlib.book notebooks`` prints the notebooks in reading order; the Makefile's
nbval and execute targets use it, and ``tests/test_book.py`` checks nothing escapes them.

**Portable outputs.** nbval compares every stored output with a fresh run, on any machine. A
float computed by a kernel (a sum, a matrix product, an SVD) rounds differently on another CPU,
another thread count or a GPU: a difference of 0 here is 4e-16 there. So a compared output shows
an exact integer, a verdict against a stated tolerance ("below 1e-12"), or a value rounded far
above the noise. :func:`unportable_numbers` is the textual check of that rule: no number with
more than :data:`MAX_SIGNIFICANT_DIGITS` significant digits (a raw ``repr`` of a float has 15-17)
and no scientific notation with a fractional mantissa (``4.4e-16``, ``0.0e+00``: a rounding
residue printed as a value; a stated tolerance is written as a power of ten, ``1e-12``).
``python -m convlib.book portability`` lists offending cells of every chapter;
``python -m convlib.book portable-env`` prints :data:`PORTABLE_ENV`, the simulated second machine.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


LAUNCH_TAG = "remove-cell"  # hidden on the website, still executed by nbval
LAUNCH_FIRST_LINE = "# Set-up for a notebook opened on its own"
SOURCE_ENV_VAR = "CONVLIB_SOURCE"


def repository() -> tuple[str, str]:
    """The book's repository URL and branch, from ``_config.yml`` (the one place they are set)."""
    import yaml  # deferred: installed with jupyter-book, not a dependency of the package

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]
    return config["url"].rstrip("/"), config.get("branch", "main")


def launch_cell_source() -> str:
    """The first code cell of every chapter: on Colab, Binder, JupyterHub or a downloaded notebook
    it installs the book's package (with its reference results) when ``convlib`` is missing; in a
    clone where ``make`` has run it does nothing. ``$CONVLIB_SOURCE`` points it at another copy
    of the repository (a pip requirement URL: ``git+https://...``, ``file:///path``)."""
    url, branch = repository()
    return "\n".join([
        f"{LAUNCH_FIRST_LINE} (Colab, Binder, JupyterHub, a download):",
        "# install the book's package, convlib, when it is missing. In a clone, it does nothing.",
        "import importlib, importlib.util, os, subprocess, sys",
        "",
        'if importlib.util.find_spec("convlib") is None:',
        f'    REPOSITORY = "git+{url}@{branch}"',
        f'    source = os.environ.get("{SOURCE_ENV_VAR}", REPOSITORY)',
        '    pip = [sys.executable, "-m", "pip", "install", "-q"]',
        '    subprocess.run(pip + [f"convlib @ {source}"], check=True)',
        "    importlib.invalidate_caches()",
    ])


def sync_launch_cell(notebook: dict) -> bool:
    """Put :func:`launch_cell_source` as the first code cell of ``notebook`` (replacing an older
    version of it). Returns True when the notebook changed."""
    cells = notebook["cells"]
    source = launch_cell_source()
    first = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    if first < len(cells) and "".join(cells[first]["source"]).startswith(LAUNCH_FIRST_LINE):
        if "".join(cells[first]["source"]) == source:
            return False
        cells[first]["source"] = source.splitlines(keepends=True)
        return True
    cells.insert(first, {"cell_type": "code", "execution_count": None, "id": "launch",
                         "metadata": {"tags": [LAUNCH_TAG]}, "outputs": [],
                         "source": source.splitlines(keepends=True)})
    return True


# The figure rules glue enforces, installed by convlib.plots.use_book_style (plots sits above this
# module in the layers, so it hands its check down rather than being imported here).
FIGURE_CHECK: Callable[[object], list[str]] | None = None


def glue(name: str, value: object, display: bool = True) -> None:
    """``myst_nb.glue`` where MyST-NB is installed (the website's build reads the glued value);
    elsewhere (Colab, Binder, a downloaded notebook) the value is shown if ``display``, as
    MyST-NB would, so a chapter runs without the website's toolchain.

    Once :func:`convlib.plots.use_book_style` has installed the book's figure rules in
    :data:`FIGURE_CHECK` (:func:`convlib.plots.style.figure_problems`: text of 9 pt or more at
    page width and 8 CSS px or more on a phone, no text over another text or another axes, none
    clipped, titles, axis labels with units, legends), a glued matplotlib figure that breaks one
    is a ``ValueError`` naming it, so no chapter publishes one. Every figure of a chapter is
    glued (``tests/test_book.py`` checks it), so nbval's re-execution checks every figure."""
    if FIGURE_CHECK is not None and hasattr(value, "savefig") and hasattr(value, "axes"):
        problems = FIGURE_CHECK(value)
        if problems:
            message = f"figure {name!r} breaks the book's figure rules: " + "; ".join(problems)
            if os.environ.get("CONVLIB_FIGURE_RULES", "").strip() != "report":
                raise ValueError(message)
            print(message, file=sys.stderr)  # an author's survey of every figure at once
    try:
        from myst_nb import glue as myst_glue  # deferred: only the website's toolchain has it
    except ImportError:
        if display:
            from IPython.display import display as show  # deferred: only in a kernel

            show(value)
        return
    myst_glue(name, value, display=display)


def toc_files(toc_path: Path | None = None) -> list[str]:
    """Every file named in ``_toc.yml`` (root first), without extension, in reading order."""
    import yaml  # deferred: installed with jupyter-book, not a dependency of the package

    toc = yaml.safe_load((toc_path or ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("chapters", "sections", "parts"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return files


def toc_notebooks(toc_path: Path | None = None) -> list[str]:
    """The ``.ipynb`` files of the table of contents, relative to the repository root."""
    root = (toc_path.parent if toc_path else ROOT)
    return [f + ".ipynb" for f in toc_files(toc_path) if (root / (f + ".ipynb")).is_file()]


# Outputs nbval does not compare (conftest.py skips them): figure bytes depend on fonts and
# library versions, and stderr carries warnings; their data is asserted in the cells instead.
UNCOMPARED_MIME_TYPES = (
    "application/papermill.record/image/png",
    "image/png",
    "image/svg+xml",
    "application/vnd.jupyter.widget-view+json",
    "stderr",
)
# Another machine, simulated (make nbval-portable, tests/test_claims.py): one thread, the CPU
# kernels of ATen, oneDNN and MKL held to AVX2, and no bf16 autocast (convlib.device), what a
# laptop without native bf16 runs. Checked outputs must be the same under it.
PORTABLE_ENV = {
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "CONVLIB_PRECISION": "float32",
}
IGNORE_MARKERS = ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP")
IGNORE_TAGS = ("nbval-ignore-output", "nbval-skip")
MAX_SIGNIFICANT_DIGITS = 6
# A decimal number (thousands separators allowed) or a number in scientific notation. Not part of
# an identifier, a version (2.14.1), an arXiv id (arXiv:1611.05431), a path or a date.
_NUMBER = re.compile(r"(?<![\w.,:/-])[-+]?(?:\d[\d,]*\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.]*\d)")


def _significant_digits(number: str) -> int:
    mantissa = re.split("[eE]", number.replace(",", "").lstrip("+-"))[0]
    return len(mantissa.replace(".", "").lstrip("0")) or 1


def unportable_numbers(text: str) -> list[str]:
    """The numbers in ``text`` that break the portable-output rule (see the module docstring)."""
    found = []
    for match in _NUMBER.finditer(text):
        number = match.group(0)
        fractional_exponent = re.search(r"\.\d+[eE]", number) is not None
        if fractional_exponent or _significant_digits(number) > MAX_SIGNIFICANT_DIGITS:
            found.append(number)
    return found


def _output_texts(output: dict) -> Iterator[str]:
    if output.get("output_type") == "stream":
        if output.get("name") not in UNCOMPARED_MIME_TYPES:
            yield "".join(output.get("text", ""))
        return
    for mime, value in output.get("data", {}).items():
        if mime not in UNCOMPARED_MIME_TYPES and not mime.startswith("image/"):
            yield "".join(value) if isinstance(value, list) else (
                value if isinstance(value, str) else json.dumps(value))


def compared_outputs(notebook: dict) -> Iterator[tuple[int, str, str]]:
    """``(cell index, first source line, text)`` for every output nbval compares: code cells not
    marked ``NBVAL_IGNORE_OUTPUT``/``NBVAL_SKIP``, MIME types other than figures and stderr."""
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        tags = cell.get("metadata", {}).get("tags", [])
        if any(marker in source for marker in IGNORE_MARKERS) or any(t in tags for t in IGNORE_TAGS):
            continue
        first_line = source.strip().splitlines()[0] if source.strip() else ""
        for output in cell.get("outputs", []):
            for text in _output_texts(output):
                yield index, first_line, text


def portability_problems(path: Path) -> list[str]:
    """One line per compared output of the notebook at ``path`` that shows an unportable number,
    naming the cell (index and first line) and the numbers."""
    path = Path(path)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    problems = []
    for index, first_line, text in compared_outputs(notebook):
        numbers = unportable_numbers(text)
        if numbers:
            problems.append(f"{shown} cell {index} ({first_line[:60]!r}): {', '.join(numbers[:5])}")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["notebooks"]:
        print("\n".join(toc_notebooks()))
        return 0
    if argv[:1] == ["files"]:
        print("\n".join(toc_files()))
        return 0
    if argv[:1] == ["sync-launch-cells"]:
        for path in toc_notebooks():
            notebook = json.loads((ROOT / path).read_text(encoding="utf-8"))
            if sync_launch_cell(notebook):
                (ROOT / path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
                print(f"updated {path}")
        return 0
    if argv[:1] == ["portable-env"]:
        print(" ".join(f"{key}={value}" for key, value in PORTABLE_ENV.items()))
        return 0
    if argv[:1] == ["portability"]:
        problems = [p for nb in toc_notebooks() for p in portability_problems(ROOT / nb)]
        print("\n".join(problems) or "every compared output is portable")
        return 1 if problems else 0
    print("usage: python -m convlib.book {notebooks|files|portability|portable-env|sync-launch-cells}",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
