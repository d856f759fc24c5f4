"""convlib.merge: an experiment's results merged from three shards equal one unsharded run
(timings aside), and the experiments command line's run --shard and merge."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from convlib import merge
from convlib.data import CIFAR10, CLASSES
from convlib.experiments import cli, files, runner, verdicts
from convlib.io import atomic_write_json
from convlib.shards import ShardError


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
    select = merge.selector(shard) if shard else None
    results = runner.run_experiment("dense_vs_conv", "smoke", [0, 1], out, data=data,
                                    device="cpu", progress=False, log=None, select=select)
    return merge.tag_results(results, select) if select else results


@pytest.fixture(scope="module")
def runs(tmp_path_factory, fake_data):
    """One unsharded run and the three shards of the same (4 runs of 160 images)."""
    tmp = tmp_path_factory.mktemp("shards")
    with pytest.MonkeyPatch.context() as patch:
        # one commit for all four runs, as on machines that check out the same one (the merge
        # refuses shards of different commits); others commit to this checkout meanwhile
        patch.setattr(runner, "git_commit", lambda: "0123abc")
        whole = _run(tmp / "whole", fake_data)
        parts = [(f"shard{i}", _run(tmp / f"s{i}", fake_data, f"{i}/3")) for i in range(3)]
    return json.loads(json.dumps(whole)), json.loads(json.dumps(parts))


@pytest.mark.slow  # 8 training runs (~25 s on 2 busy cores), shared
def test_three_shards_merge_to_the_unsharded_results_timings_aside(runs):
    whole, parts = runs
    assert sorted(len(p["runs"]) for _, p in parts) != [0, 0, 4]  # really split
    merged = merge.merge_results(parts)
    merged["comparisons"] = verdicts.check_claims(merged)
    merged = json.loads(json.dumps(merged))
    assert merge.without_timings(merged) == merge.without_timings(whole)
    # the same key order too: the files differ only in the timing values
    assert list(merged) == list(whole)
    assert list(merged["provenance"]) == list(whole["provenance"])
    assert [(r["variant"], r["seed"]) for r in merged["runs"]] == [
        (r["variant"], r["seed"]) for r in whole["runs"]]
    differing = {k for k, v in whole["provenance"].items() if merged["provenance"][k] != v}
    assert differing <= set(merge.TIMING_KEYS)
    assert merge.SHARD_KEY not in merged["provenance"]


@pytest.mark.slow  # 8 training runs (~25 s on 2 busy cores), shared
def test_the_allowed_differences_are_exactly_the_timings(runs):
    whole, _ = runs
    changed = copy.deepcopy(whole)
    changed["provenance"]["wall_seconds"] += 5
    changed["runs"][0]["seconds"] += 1
    changed["runs"][0]["history"]["epoch_seconds"][0] += 1
    assert merge.without_timings(changed) == merge.without_timings(whole)
    changed["runs"][0]["history"]["test_acc"][-1] += 0.01
    assert merge.without_timings(changed) != merge.without_timings(whole)
    changed = copy.deepcopy(whole)
    changed["provenance"]["git_commit"] = "other"
    assert merge.without_timings(changed) != merge.without_timings(whole)


@pytest.mark.slow  # 8 training runs (~25 s on 2 busy cores), shared
def test_a_missing_duplicated_incomplete_or_untagged_shard_is_an_error_naming_it(runs):
    whole, parts = runs
    with pytest.raises(ShardError, match="missing shard 1/3"):
        merge.merge_results([parts[0], parts[2]])
    with pytest.raises(ShardError, match="duplicated shard: shard 2/3 in shard2, again"):
        merge.merge_results(parts + [("again", parts[2][1])])
    with pytest.raises(ShardError, match="whole is not a shard's results file"):
        merge.merge_results(parts[:2] + [("whole", whole)])
    index, part = next((i, p) for i, (_, p) in enumerate(parts) if p["runs"])
    cut = copy.deepcopy(part)
    lost = cut["runs"].pop()
    broken = [(w, cut if i == index else p) for i, (w, p) in enumerate(parts)]
    with pytest.raises(ShardError, match=rf"\(shard{index}\) is incomplete: no run for "
                                                rf"{lost['variant']}/{lost['seed']}"):
        merge.merge_results(broken)
    other = copy.deepcopy(part)
    other["provenance"]["profile"] = "quick"
    with pytest.raises(ShardError,
                       match="profile='(quick|smoke)' but shard. has profile='(smoke|quick)'"):
        merge.merge_results([(w, other if i == index else p) for i, (w, p) in enumerate(parts)])


def test_experiments_command_line_refuses_a_bad_shard_and_a_missing_one(tmp_path, capsys):
    assert cli.main(["run", "dense_vs_conv", "--shard", "3/3", "--out", str(tmp_path)]) == 2
    assert "shard must be 'i/n'" in capsys.readouterr().err
    (tmp_path / "s0").mkdir()
    assert cli.main(["merge", "dense_vs_conv", str(tmp_path / "s0"), "--out", str(tmp_path)]) == 2
    assert "s0" in capsys.readouterr().err


@pytest.mark.slow  # 8 training runs (~25 s on 2 busy cores), shared
def test_experiments_merge_command_writes_the_merged_file(tmp_path, runs, capsys):
    _, parts = runs
    dirs = []
    for i, (_, part) in enumerate(parts):
        dirs.append(tmp_path / f"s{i}")
        atomic_write_json(files.results_path("dense_vs_conv", dirs[-1]), part)
    assert cli.main(["merge", "dense_vs_conv", *map(str, dirs), "--out", str(tmp_path / "m")]) == 0
    merged = files.load_results(tmp_path / "m" / "dense_vs_conv.json")
    assert len(merged["runs"]) == 4 and merged["comparisons"] == verdicts.check_claims(merged)
    assert cli.main(["merge", "dense_vs_conv", *map(str, dirs[:2]), "--out", str(tmp_path)]) == 2
    assert "missing shard 2/3" in capsys.readouterr().err
