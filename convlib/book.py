"""The book's table of contents, read from ``_toc.yml``: which pages and notebooks it has.

``python -m convlib.book notebooks`` prints the notebooks in reading order; the Makefile's
nbval and execute targets use it, and ``tests/test_toc.py`` checks nothing escapes them.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def toc_files(toc_path: Path | None = None) -> list[str]:
    """Every file named in ``_toc.yml`` (root first), without extension, in reading order."""
    import yaml  # installed with jupyter-book

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


def main(argv: list[str]) -> int:
    if argv[:1] == ["notebooks"]:
        print("\n".join(toc_notebooks()))
        return 0
    if argv[:1] == ["files"]:
        print("\n".join(toc_files()))
        return 0
    print("usage: python -m convlib.book {notebooks|files}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
