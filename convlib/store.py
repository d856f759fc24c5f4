"""The results store: where the book's results files live, and reading and writing them.

One folder holds every results file the chapters read: ``book/results/`` in a clone of the book,
else the copy installed with the package as ``convlib.reference`` (pyproject.toml), as on Colab or
Binder. A reference set of another profile than ``quick`` lives in a sub-folder named after it
(``book/results/cpu/``). Files are named ``<stem>.json``: an experiment's name
(:mod:`convlib.experiments`) or a latency table (``latency-cpu``, :mod:`convlib.latency`).
Writes are atomic (:func:`convlib.io.atomic_write_json`).

**Per-image correctness.** Each run of a results file stores which test images it got right, one
boolean per test image, packed into bits (:func:`pack_correctness`, :func:`unpack_correctness`;
10,000 test images take 1,250 bytes, 1,668 base64 characters); :func:`correctness_vector` reads
any form of it (packed, numpy, torch, list) as one numpy vector, for :mod:`convlib.stats`.

This module is in the bottom layer: it knows where files are and how they store a run's answers,
not what an experiment is.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib.util
import json
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convlib.io import REPO_ROOT, atomic_write_json

QUICK_PROFILE = "quick"  # the profile whose set lives in the results folder itself
PACKED_FORMAT = "packbits-base64"  # numpy.packbits (big bit order) of the bools, then base64


@functools.cache
def reference_dir() -> Path:
    """Where the reference results live: ``book/results/`` in a clone of the book, else the copy
    installed with the package as ``convlib.reference`` (pyproject.toml), as on Colab or Binder.
    Found on first call, not at import: the grader's sandbox holds no results, and its exercises
    import :mod:`convlib.stats`, which imports this module for the per-image bits."""
    clone = REPO_ROOT / "book" / "results"
    if clone.is_dir():
        return clone
    spec = importlib.util.find_spec("convlib.reference")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the reference results are missing: neither book/results/ beside "
                                "convlib nor the installed convlib.reference package was found")
    return Path(next(iter(spec.submodule_search_locations)))


def folder_of(folder: str | os.PathLike | None = None) -> Path:
    """``folder`` as a Path; None means :func:`reference_dir`."""
    return Path(folder if folder is not None else reference_dir())


def set_folder(profile: str, folder: str | os.PathLike | None = None) -> Path:
    """Where the reference set of ``profile`` lives: ``quick`` in the results folder itself
    (``book/results/``), any other profile in a sub-folder named after it
    (``book/results/cpu/``)."""
    base = folder_of(folder)
    return base if profile == QUICK_PROFILE else base / profile


def results_file(stem: str, folder: str | os.PathLike | None = None) -> Path:
    """``<folder>/<stem>.json`` (default folder :func:`reference_dir`); ``stem`` is a plain file
    stem such as ``"stacking"`` or ``"latency-cpu"``."""
    if not isinstance(stem, str) or not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        raise ValueError("name must be a file stem such as 'stacking' or 'latency-cpu'; "
                         f"got {stem!r}")
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


# --------------------------------------------------------------------------- per-image correctness

def correctness_vector(value: Any, name: str = "correct") -> np.ndarray:
    """One run's per-test-image correctness as a 1-D numpy bool array, from a bool numpy array, a
    torch tensor, a sequence of bools or a dict made by :func:`pack_correctness`."""
    if isinstance(value, Mapping):
        return unpack_correctness(value, name=name)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without torch
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes)) or not isinstance(value, (np.ndarray, Sequence)):
        raise TypeError(f"{name} must be a 1-D vector of booleans (per-test-image correctness: "
                        f"numpy array, torch tensor, list of bools or a packed dict); "
                        f"got {type(value).__name__}")
    array = np.asarray(value)
    if array.dtype != np.bool_:
        if array.size == 0 and not isinstance(value, np.ndarray):
            array = array.astype(np.bool_)  # an empty list: caught by callers as "no images"
        else:
            raise TypeError(f"{name} must hold booleans (True: test image classified correctly); "
                            f"got dtype {array.dtype}. Compare predictions with labels first, "
                            "e.g. (predictions == labels)")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per test image); got shape {array.shape}")
    return array


def pack_correctness(correct: Any) -> dict[str, Any]:
    """Pack one run's per-test-image correctness (1-D booleans: numpy array, torch tensor or list;
    ``True`` where the run got that test image right, in the test set's order) into
    ``{"format": "packbits-base64", "n": N, "bits": "<base64 of numpy.packbits>"}``,
    JSON-storable; :func:`unpack_correctness` gives the vector back exactly."""
    array = correctness_vector(correct)
    bits = base64.b64encode(np.packbits(array).tobytes()).decode("ascii")
    return {"format": PACKED_FORMAT, "n": int(array.size), "bits": bits}


def unpack_correctness(packed: Mapping[str, Any], *, name: str = "packed") -> np.ndarray:
    """The boolean vector stored by :func:`pack_correctness` (numpy ``bool``, length ``n``)."""
    if not isinstance(packed, Mapping):
        raise TypeError(f"{name} must be a dict made by pack_correctness; "
                        f"got {type(packed).__name__}")
    missing = [key for key in ("n", "bits") if key not in packed]
    if missing:
        raise ValueError(f"{name} lacks {missing}: a packed correctness dict has keys "
                         "'format', 'n' and 'bits' (see pack_correctness)")
    fmt = packed.get("format", PACKED_FORMAT)
    if fmt != PACKED_FORMAT:
        raise ValueError(f"{name}['format'] must be {PACKED_FORMAT!r}; got {fmt!r}")
    n = packed["n"]
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"{name}['n'] must be an int >= 0 (the number of test images); got {n!r}")
    if not isinstance(packed["bits"], str):
        raise TypeError(f"{name}['bits'] must be a base64 str; "
                        f"got {type(packed['bits']).__name__}")
    try:
        raw = base64.b64decode(packed["bits"].encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ValueError(f"{name}['bits'] is not valid base64: {error}") from error
    needed = (int(n) + 7) // 8
    if len(raw) != needed:
        raise ValueError(f"{name}['bits'] holds {len(raw)} bytes; {n} images need {needed}")
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    if bits[int(n):].any():
        raise ValueError(f"{name}['bits'] has set bits beyond its {n} images: damaged or not "
                         "made by pack_correctness")
    return bits[: int(n)].astype(np.bool_)


__all__ = ["PACKED_FORMAT", "QUICK_PROFILE", "correctness_vector", "folder_of",
           "pack_correctness", "read_json", "reference_dir", "results_file", "set_folder", "stems",
           "unpack_correctness", "write_json"]
