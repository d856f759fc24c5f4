"""An experiment's results file: where it lives, its format, reading it, what it is judged on.

A results file (JSON) holds every run's history and the provenance of the numbers: data set,
profile, seeds, device, versions, git commit, dates. Files are never rewritten to follow a
rename: :func:`load_results` reads every readable format through one converter
(:func:`_current_keys`), so the committed reference sets stay exactly as they were written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from convlib import store
from convlib.experiments.registry import ExperimentClaim, get_experiment

RESULTS_FORMAT = 2  # 2: the fair frame, a learning rate per variant; 1: the article's frame
READABLE_FORMATS = (1, 2)  # format 1 files (the sets made before the fair frame) are read only
# Keys renamed since committed files were written: old name -> today's. ``conv_params`` counted
# the two blocks with their BatchNorms (ArticleNet.block_weights, FrameNet.block_weights), not
# every Conv2d (convlib.census.conv2d_weights).
RENAMED_VARIANT_KEYS = {"conv_params": "block_weights"}


class ResultsFileError(ValueError):
    """A results file that cannot be read or does not match the run asked for."""


def results_path(name: str, out: str | os.PathLike | None = None) -> Path:
    """The results file of experiment ``name`` in the folder ``out`` (default: the store's)."""
    return store.results_file(get_experiment(name).name, out)


def load_results(path: str | os.PathLike) -> dict:
    """Read a results file, with a clear error when it is damaged, in today's keys."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsFileError(f"results file {path} is corrupted ({error}); delete it to start "
                               "the experiment again, or choose another --out") from None
    if (not isinstance(results, dict) or results.get("format") not in READABLE_FORMATS
            or "runs" not in results):
        raise ResultsFileError(f"results file {path} is not a convlib results file (format "
                               f"{' or '.join(map(str, READABLE_FORMATS))})")
    return _current_keys(results)


def _current_keys(results: dict) -> dict:
    """``results`` with every key of :data:`RENAMED_VARIANT_KEYS` under today's name."""
    for info in results["variants"].values():
        for old, new in RENAMED_VARIANT_KEYS.items():
            if old in info:
                info[new] = info.pop(old)
    return results


def file_claims(results: dict) -> tuple[ExperimentClaim, ...]:
    """The claims a results file is judged on: its experiment's in the registry; for a format-1
    file (made in the article's frame before the fair frame, read until the set made in the
    fair frame replaces it) the claims stored in the file itself."""
    if results["format"] == 1:
        return tuple(ExperimentClaim(c["better"], c["worse"], c["metric"], c["statement"])
                     for c in results["comparisons"])
    return get_experiment(results["experiment"]).claims


def file_variants(results: dict) -> list[str]:
    """The variants a complete results file holds: its experiment's in the registry (the
    variants stored in a format-1 file, see :func:`file_claims`)."""
    if results["format"] == 1:
        return list(results["variants"])
    return [v.name for v in get_experiment(results["experiment"]).variants]
