"""convlib.shards: stable shard assignment and complete-set checks (experiments and grading);
the one-GPU recipe that runs shards side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from convlib import shards
from convlib.io import REPO_ROOT


# ----------------------------------------------------------------------------- assignment
def test_parse_shard_accepts_i_of_n_and_names_the_argument_otherwise():
    assert shards.parse_shard("2/3") == shards.Shard(2, 3)
    assert str(shards.parse_shard(" 0/1 ")) == "0/1"
    for bad in ("3/3", "1", "-1/3", "a/b", "1/0", "", "1/3/4"):
        with pytest.raises(ValueError, match="shard must be 'i/n'"):
            shards.parse_shard(bad)
    with pytest.raises(TypeError, match="shard"):
        shards.parse_shard(3)


def test_shard_of_is_a_stable_hash_not_pythons_salted_one():
    # fixed values: the same on every machine, Python version and PYTHONHASHSEED
    keys = ["alice", "bob", "carol", "mlp/0", "cnn/1"]
    here = [shards.shard_of(k, 7) for k in keys]
    code = ("from convlib.shards import shard_of; "
            f"print([shard_of(k, 7) for k in {keys!r}])")
    for seed in ("1", "2"):
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True, env=dict(os.environ, PYTHONHASHSEED=seed)).stdout
        assert json.loads(other) == here
    assert here == [int.from_bytes(__import__("hashlib").sha256(k.encode()).digest()[:8], "big")
                    % 7 for k in keys]


def test_every_item_is_in_exactly_one_shard_and_adding_items_moves_none():
    names = [f"student{i:03d}" for i in range(200)]
    count = 5
    owners = {n: [i for i in range(count) if shards.Shard(i, count).holds(n)] for n in names}
    assert all(len(o) == 1 for o in owners.values())
    sizes = [sum(o == [i] for o in owners.values()) for i in range(count)]
    assert min(sizes) > 20, sizes  # roughly balanced
    more = names + [f"late{i}" for i in range(50)]
    assert all(shards.shard_of(n, count) == owners[n][0] for n in more[:200])


def test_check_complete_names_missing_and_duplicated_shards():
    found = [("a", shards.Shard(0, 3)), ("b", shards.Shard(1, 3)), ("c", shards.Shard(2, 3))]
    assert shards.check_complete(found) == 3
    with pytest.raises(shards.ShardError, match=r"missing shard 1/3"):
        shards.check_complete([found[0], found[2]])
    with pytest.raises(shards.ShardError, match=r"duplicated shard: shard 2/3 in c, d"):
        shards.check_complete(found + [("d", shards.Shard(2, 3))])
    with pytest.raises(shards.ShardError, match="different splits"):
        shards.check_complete(found + [("e", shards.Shard(0, 2))])
    with pytest.raises(shards.ShardError, match="no shard"):
        shards.check_complete([])


def test_shards_module_is_the_bottom_layer():
    code = "import sys, convlib.shards; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=REPO_ROOT).stdout.strip() == "False"


def test_the_one_gpu_recipe_parses_and_refuses_a_bad_process_count():
    """recipes/gpu/reference.sh (the GPU reference set: shards side by side on one GPU)."""
    script = REPO_ROOT / "recipes" / "gpu" / "reference.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    for bad in ("0", "two", "-3"):
        done = subprocess.run(["bash", str(script), bad], capture_output=True, text=True)
        assert done.returncode == 2 and "JOBS must be a positive integer" in done.stderr, bad
