"""The results store: where the book's results files live, and reading and writing them.

One folder holds every results file the chapters read: ``book/results/`` in a clone of the book,
else the copy installed with the package as ``convlib.reference`` (pyproject.toml), as on Colab or
Binder. A reference set of another profile than ``quick`` lives in a sub-folder named after it
(``book/results/cpu/``). Files are named ``<stem>.json``: an experiment's name
(:mod:`convlib.experiments`) or a latency table (``latency-cpu``, :mod:`convlib.latency`).
Writes are atomic (:func:`convlib.io.atomic_write_json`).

This module is in the bottom layer: it knows where files are, not what an experiment is.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from convlib.io import REPO_ROOT, atomic_write_json

QUICK_PROFILE = "quick"  # the profile whose set lives in the results folder itself


def reference_dir() -> Path:
    """Where the reference results live: ``book/results/`` in a clone of the book, else the copy
    installed with the package as ``convlib.reference`` (pyproject.toml), as on Colab or Binder."""
    clone = REPO_ROOT / "book" / "results"
    if clone.is_dir():
        return clone
    spec = importlib.util.find_spec("convlib.reference")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the reference results are missing: neither book/results/ beside "
                                "convlib nor the installed convlib.reference package was found")
    return Path(next(iter(spec.submodule_search_locations)))


RESULTS_DIR = reference_dir()


def folder_of(folder: str | os.PathLike | None = None) -> Path:
    """``folder`` as a Path; None means :data:`RESULTS_DIR`."""
    return Path(folder if folder is not None else RESULTS_DIR)


def set_folder(profile: str, folder: str | os.PathLike | None = None) -> Path:
    """Where the reference set of ``profile`` lives: ``quick`` in the results folder itself
    (``book/results/``), any other profile in a sub-folder named after it (``book/results/cpu/``)."""
    base = folder_of(folder)
    return base if profile == QUICK_PROFILE else base / profile


def results_file(stem: str, folder: str | os.PathLike | None = None) -> Path:
    """``<folder>/<stem>.json`` (default folder :data:`RESULTS_DIR`); ``stem`` is a plain file
    stem such as ``"stacking"`` or ``"latency-cpu"``."""
    if not isinstance(stem, str) or not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        raise ValueError(f"name must be a file stem such as 'stacking' or 'latency-cpu'; got {stem!r}")
    return folder_of(folder) / f"{stem}.json"


def stems(pattern: str = "*", folder: str | os.PathLike | None = None) -> list[str]:
    """The stems of the results files matching ``pattern`` (a glob without ``.json``), sorted;
    empty when the folder does not exist."""
    base = folder_of(folder)
    return sorted(p.stem for p in base.glob(f"{pattern}.json")) if base.is_dir() else []


def read_json(path: str | os.PathLike) -> Any:
    """The JSON content of ``path`` (UTF-8)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` to ``path`` atomically (one-space indent, final newline); the path."""
    atomic_write_json(path, payload)
    return Path(path)


__all__ = ["QUICK_PROFILE", "RESULTS_DIR", "folder_of", "read_json", "reference_dir",
           "results_file", "set_folder", "stems", "write_json"]
