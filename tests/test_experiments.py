"""convlib.experiments: registry, resumable runner, provenance, verdicts, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from convlib import experiments as E
from convlib.data import CIFAR10, CLASSES


@pytest.fixture(scope="module")
def fake_data():
    """A tiny stand-in for CIFAR-10 (smaller than the smoke subset, so all of it is used)."""
    g = torch.Generator().manual_seed(0)
    make = lambda n: (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),  # noqa: E731
                      torch.arange(n) % 10)
    (tx, ty), (vx, vy) = make(160), make(60)
    return CIFAR10(tx, ty, vx, vy, CLASSES, source="test fixture", lossy=False)


def run(tmp_path, fake_data, seeds, log=None):
    return E.run_experiment("dense_vs_conv", "smoke", seeds, tmp_path, data=fake_data, device="cpu",
                            progress=False, log=log)


def test_results_file_has_runs_provenance_and_verdicts(tmp_path, fake_data):
    results = run(tmp_path, fake_data, [0, 1])
    stored = json.loads((tmp_path / "dense_vs_conv.json").read_text())
    assert stored == json.loads(json.dumps(results))
    prov = stored["provenance"]
    for key in ("dataset", "jpeg_copy", "profile", "seeds", "epochs", "device", "torch", "git_commit",
                "started", "updated", "wall_seconds"):
        assert key in prov, key
    assert prov["profile"] == "smoke" and prov["seeds"] == [0, 1]
    assert {(r["variant"], r["seed"]) for r in stored["runs"]} == {(v, s) for v in ("mlp", "cnn") for s in (0, 1)}
    assert stored["variants"]["mlp"]["conv_params"] == 0
    assert all(c["verdict"] in E.VERDICTS for c in stored["comparisons"])
    assert E.check_claims(stored) == stored["comparisons"]


def test_same_seed_gives_identical_smoke_results(tmp_path, fake_data):
    a = run(tmp_path / "a", fake_data, [0])
    b = run(tmp_path / "b", fake_data, [0])
    strip = lambda r: [(x["variant"], x["history"]["train_loss"], x["history"]["test_acc"]) for x in r["runs"]]  # noqa: E731
    assert strip(a) == strip(b)


def test_rerun_skips_finished_runs(tmp_path, fake_data):
    run(tmp_path, fake_data, [0])
    messages = []
    results = run(tmp_path, fake_data, [0, 1], log=messages.append)
    assert sum("already done" in m for m in messages) == 2  # mlp and cnn, seed 0
    assert len(results["runs"]) == 4


def test_results_of_another_profile_are_never_mixed(tmp_path, fake_data):
    run(tmp_path, fake_data, [0])
    with pytest.raises(E.ResultsFileError, match="profile"):
        E.run_experiment("dense_vs_conv", "quick", [0], tmp_path, data=fake_data, device="cpu", progress=False)


def test_corrupted_results_file_gives_a_clear_error(tmp_path, fake_data):
    (tmp_path / "dense_vs_conv.json").write_text('{"format": 1, "runs": [')
    with pytest.raises(E.ResultsFileError, match="corrupted"):
        run(tmp_path, fake_data, [0])


def test_bad_names_and_profiles_list_the_valid_ones(tmp_path, capsys):
    with pytest.raises(ValueError, match="stacking"):
        E.get_experiment("stackin")
    with pytest.raises(ValueError, match="smoke"):
        E.run_experiment("stacking", "medium", [0], tmp_path)
    with pytest.raises(SystemExit):
        E.main(["run", "stacking", "--profile", "medium"])
    assert "smoke" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        E.main(["run", "nope"])
    assert "stacking" in capsys.readouterr().err


def test_list_names_every_experiment(capsys):
    assert E.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("stacking", "separable", "bottleneck", "grouped", "dense_vs_conv"):
        assert name in out


@pytest.mark.parametrize("a,sa,b,sb,n,expected", [
    (0.80, 0.01, 0.70, 0.01, 3, "holds"),
    (0.70, 0.01, 0.80, 0.01, 3, "does not hold"),
    (0.75, 0.05, 0.74, 0.05, 3, "inconclusive"),
    (0.90, 0.00, 0.10, 0.00, 1, "inconclusive"),
])
def test_verdict_rule(a, sa, b, sb, n, expected):
    assert E.verdict(a, sa, b, sb, n) == expected
