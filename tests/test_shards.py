"""convlib.shards: stable shard assignment, complete-set checks, and experiment results merged from
shards equal to one unsharded run (timings aside)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import torch

from convlib import experiments as E
from convlib import shards
from convlib.data import CIFAR10, CLASSES
from convlib.io import REPO_ROOT, atomic_write_json


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


# ----------------------------------------------------------------------------- experiments
@pytest.fixture(scope="module")
def fake_data():
    """A tiny stand-in for CIFAR-10 (as in tests/test_experiments.py)."""
    g = torch.Generator().manual_seed(0)

    def make(n):
        return (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                torch.arange(n) % 10)

    (tx, ty), (vx, vy) = make(160), make(60)
    return CIFAR10(tx, ty, vx, vy, CLASSES, source="test fixture", lossy=False)


def _run(out, data, shard=None):
    select = shards.selector(shard) if shard else None
    results = E.run_experiment("dense_vs_conv", "smoke", [0, 1], out, data=data, device="cpu",
                               progress=False, log=None, select=select)
    return shards.tag_results(results, select) if select else results


@pytest.fixture(scope="module")
def runs(tmp_path_factory, fake_data):
    """One unsharded run and the three shards of the same (4 runs of 160 images)."""
    tmp = tmp_path_factory.mktemp("shards")
    with pytest.MonkeyPatch.context() as patch:
        # one commit for all four runs, as on machines that check out the same one (the merge
        # refuses shards of different commits); others commit to this checkout meanwhile
        patch.setattr(E, "git_commit", lambda: "0123abc")
        whole = _run(tmp / "whole", fake_data)
        parts = [(f"shard{i}", _run(tmp / f"s{i}", fake_data, f"{i}/3")) for i in range(3)]
    return json.loads(json.dumps(whole)), json.loads(json.dumps(parts))


@pytest.mark.slow  # 8 training runs (~25 s on 2 busy cores), shared
def test_three_shards_merge_to_the_unsharded_results_timings_aside(runs):
    whole, parts = runs
    assert sorted(len(p["runs"]) for _, p in parts) != [0, 0, 4]  # really split
    merged = shards.merge_results(parts)
    merged["comparisons"] = E.check_claims(merged)
    merged = json.loads(json.dumps(merged))
    assert shards.without_timings(merged) == shards.without_timings(whole)
    # the same key order too: the files differ only in the timing values
    assert list(merged) == list(whole)
    assert list(merged["provenance"]) == list(whole["provenance"])
    assert [(r["variant"], r["seed"]) for r in merged["runs"]] == [
        (r["variant"], r["seed"]) for r in whole["runs"]]
    differing = {k for k, v in whole["provenance"].items() if merged["provenance"][k] != v}
    assert differing <= set(shards.TIMING_KEYS)
    assert shards.SHARD_KEY not in merged["provenance"]


@pytest.mark.slow  # 8 training runs (~25 s on 2 busy cores), shared
def test_the_allowed_differences_are_exactly_the_timings(runs):
    whole, _ = runs
    changed = copy.deepcopy(whole)
    changed["provenance"]["wall_seconds"] += 5
    changed["runs"][0]["seconds"] += 1
    changed["runs"][0]["history"]["epoch_seconds"][0] += 1
    assert shards.without_timings(changed) == shards.without_timings(whole)
    changed["runs"][0]["history"]["test_acc"][-1] += 0.01
    assert shards.without_timings(changed) != shards.without_timings(whole)
    changed = copy.deepcopy(whole)
    changed["provenance"]["git_commit"] = "other"
    assert shards.without_timings(changed) != shards.without_timings(whole)


@pytest.mark.slow  # 8 training runs (~25 s on 2 busy cores), shared
def test_a_missing_duplicated_incomplete_or_untagged_shard_is_an_error_naming_it(runs):
    whole, parts = runs
    with pytest.raises(shards.ShardError, match="missing shard 1/3"):
        shards.merge_results([parts[0], parts[2]])
    with pytest.raises(shards.ShardError, match="duplicated shard: shard 2/3 in shard2, again"):
        shards.merge_results(parts + [("again", parts[2][1])])
    with pytest.raises(shards.ShardError, match="whole is not a shard's results file"):
        shards.merge_results(parts[:2] + [("whole", whole)])
    index, part = next((i, p) for i, (_, p) in enumerate(parts) if p["runs"])
    cut = copy.deepcopy(part)
    lost = cut["runs"].pop()
    broken = [(w, cut if i == index else p) for i, (w, p) in enumerate(parts)]
    with pytest.raises(shards.ShardError, match=rf"\(shard{index}\) is incomplete: no run for "
                                                rf"{lost['variant']}/{lost['seed']}"):
        shards.merge_results(broken)
    other = copy.deepcopy(part)
    other["provenance"]["profile"] = "quick"
    with pytest.raises(shards.ShardError,
                       match="profile='(quick|smoke)' but shard. has profile='(smoke|quick)'"):
        shards.merge_results([(w, other if i == index else p) for i, (w, p) in enumerate(parts)])


def test_experiments_command_line_refuses_a_bad_shard_and_a_missing_one(tmp_path, capsys):
    assert E.main(["run", "dense_vs_conv", "--shard", "3/3", "--out", str(tmp_path)]) == 2
    assert "shard must be 'i/n'" in capsys.readouterr().err
    (tmp_path / "s0").mkdir()
    assert E.main(["merge", "dense_vs_conv", str(tmp_path / "s0"), "--out", str(tmp_path)]) == 2
    assert "s0" in capsys.readouterr().err


@pytest.mark.slow  # 8 training runs (~25 s on 2 busy cores), shared
def test_experiments_merge_command_writes_the_merged_file(tmp_path, runs, capsys):
    _, parts = runs
    dirs = []
    for i, (_, part) in enumerate(parts):
        dirs.append(tmp_path / f"s{i}")
        atomic_write_json(E.results_path("dense_vs_conv", dirs[-1]), part)
    assert E.main(["merge", "dense_vs_conv", *map(str, dirs), "--out", str(tmp_path / "m")]) == 0
    merged = E.load_results(tmp_path / "m" / "dense_vs_conv.json")
    assert len(merged["runs"]) == 4 and merged["comparisons"] == E.check_claims(merged)
    assert E.main(["merge", "dense_vs_conv", *map(str, dirs[:2]), "--out", str(tmp_path)]) == 2
    assert "missing shard 2/3" in capsys.readouterr().err


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
