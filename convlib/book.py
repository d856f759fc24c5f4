"""What nbval checks in the book: its notebooks (the table of contents, read from ``_toc.yml``)
and the rule their compared outputs obey; and the commands that maintain them.

The chapters never import this module: the Makefile, ``conftest.py`` (nbval) and the tests do.
``python -m convlib.book notebooks`` prints the notebooks in reading order; the Makefile's
nbval and execute targets use it, and ``tests/test_book.py`` checks nothing escapes them.
``python -m convlib.book sync-launch-cells`` puts :mod:`convlib.launch`'s cell first in each.

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
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from convlib.io import REPO_ROOT
from convlib.launch import sync_launch_cell


def toc_files(toc_path: Path | None = None) -> list[str]:
    """Every file named in ``_toc.yml`` (root first), without extension, in reading order."""
    import yaml  # deferred: installed with jupyter-book, not a dependency of the package

    toc = yaml.safe_load((toc_path or REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))
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
    root = (toc_path.parent if toc_path else REPO_ROOT)
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
_NUMBER = re.compile(r"(?<![\w.,:/-])[-+]?(?:\d[\d,]*\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)"
                     r"(?![\w.]*\d)")


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
        if any(m in source for m in IGNORE_MARKERS) or any(t in tags for t in IGNORE_TAGS):
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
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
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
            notebook = json.loads((REPO_ROOT / path).read_text(encoding="utf-8"))
            if sync_launch_cell(notebook):
                text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
                (REPO_ROOT / path).write_text(text, encoding="utf-8")
                print(f"updated {path}")
        return 0
    if argv[:1] == ["portable-env"]:
        print(" ".join(f"{key}={value}" for key, value in PORTABLE_ENV.items()))
        return 0
    if argv[:1] == ["portability"]:
        problems = [p for nb in toc_notebooks() for p in portability_problems(REPO_ROOT / nb)]
        print("\n".join(problems) or "every compared output is portable")
        return 1 if problems else 0
    commands = "notebooks|files|portability|portable-env|sync-launch-cells"
    print(f"usage: python -m convlib.book {{{commands}}}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
