"""convlib.store's per-image correctness: the bits a results file stores for each run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from convlib import store
from convlib.io import REPO_ROOT


def test_stats_and_the_store_import_where_no_results_folder_exists(tmp_path):
    """The grader's sandbox holds convlib but no results: an exercise's ``from convlib import
    stats`` must work there, and asking for the results folder must say what is missing."""
    shutil.copytree(REPO_ROOT / "convlib", tmp_path / "convlib",
                    ignore=shutil.ignore_patterns("__pycache__", "reference"))
    code = ("import convlib.stats, convlib.store\n"
            "try:\n    convlib.store.reference_dir()\nexcept FileNotFoundError as error:\n"
            "    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "the reference results are missing" in done.stdout


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 10_000])
def test_pack_unpack_round_trip_is_exact(n):
    correct = np.random.default_rng(n).random(n) < 0.6
    packed = store.pack_correctness(correct)
    assert packed["n"] == n and packed["format"] == store.PACKED_FORMAT
    back = store.unpack_correctness(json.loads(json.dumps(packed)))
    assert back.dtype == np.bool_ and np.array_equal(back, correct)


def test_pack_accepts_tensors_and_lists_and_is_compact():
    correct = torch.rand(10_000, generator=torch.Generator().manual_seed(0)) < 0.7
    packed = store.pack_correctness(correct)
    assert len(packed["bits"]) == 1_668  # 1,250 bytes in base64
    assert np.array_equal(store.unpack_correctness(packed), correct.numpy())
    listed = store.pack_correctness([True, False, True])
    assert listed == store.pack_correctness(np.array([1, 0, 1], bool))


def test_pack_matches_numpy_packbits_bit_for_bit():
    """The stored format is numpy.packbits (big bit order), then base64: readable without us."""
    import base64

    correct = np.array([1, 0, 0, 1, 1, 0, 1, 0, 1, 1], bool)
    raw = base64.b64decode(store.pack_correctness(correct)["bits"])
    assert raw == np.packbits(correct).tobytes() == bytes([0b10011010, 0b11000000])


def test_correctness_vector_reads_every_form_alike():
    correct = np.random.default_rng(3).random(50) < 0.5
    forms = [correct, torch.from_numpy(correct), correct.tolist(), store.pack_correctness(correct)]
    for form in forms:
        assert np.array_equal(store.correctness_vector(form), correct)


def test_pack_rejects_what_is_not_a_correctness_vector():
    with pytest.raises(TypeError, match="correct must hold booleans"):
        store.pack_correctness(np.array([1, 0, 1]))
    with pytest.raises(TypeError, match="correct must hold booleans"):
        store.pack_correctness(torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        store.pack_correctness(np.ones((2, 3), bool))
    with pytest.raises(TypeError, match="correct must be a 1-D vector"):
        store.pack_correctness("TFT")


def test_unpack_rejects_damaged_packs():
    good = store.pack_correctness(np.ones(20, bool))
    with pytest.raises(ValueError, match="lacks"):
        store.unpack_correctness({"n": 20})
    with pytest.raises(ValueError, match="format"):
        store.unpack_correctness({**good, "format": "zip"})
    with pytest.raises(ValueError, match="'n'"):
        store.unpack_correctness({**good, "n": -1})
    with pytest.raises(ValueError, match="bytes"):
        store.unpack_correctness({**good, "n": 30})
    with pytest.raises(ValueError, match="base64"):
        store.unpack_correctness({**good, "bits": "not base64!"})
    with pytest.raises(ValueError, match="beyond"):
        store.unpack_correctness({**good, "n": 19})  # bit 20 is set but only 19 images claimed
    with pytest.raises(TypeError, match="dict made by pack_correctness"):
        store.unpack_correctness([1, 2])
