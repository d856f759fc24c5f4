"""convlib.io and convlib.store: atomic writes (fsync, rename, nothing left behind on failure), the
git commit with its dirty flag, and where the results store puts files."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from convlib import io, store


def test_atomic_write_syncs_then_renames(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    target = tmp_path / "deep" / "results.json"
    io.atomic_write_json(target, {"a": [1, 2]})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": [1, 2]}
    assert target.read_text(encoding="utf-8").endswith("\n")
    assert len(synced) >= 1  # the file's data reached the disk before the rename
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.txt"
    io.atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with io.atomic_writer(target) as handle:
            handle.write("half of the new")
            raise RuntimeError("crash in the middle")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.txt"]


def test_binary_writes_and_newlines_are_kept(tmp_path):
    with io.atomic_writer(tmp_path / "x.bin", binary=True) as handle:
        handle.write(b"\x00\x01")
    assert (tmp_path / "x.bin").read_bytes() == b"\x00\x01"
    io.atomic_write_text(tmp_path / "crlf.txt", "a\r\nb\n")
    assert (tmp_path / "crlf.txt").read_bytes() == b"a\r\nb\n"


def _git(root, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                   check=True, capture_output=True)


def test_git_commit_is_the_head_with_a_dirty_flag(tmp_path):
    assert io.git_commit(tmp_path) == "unknown"  # not a checkout
    _git(tmp_path, "init", "-q")
    assert io.git_commit(tmp_path) == "unknown"  # no commit yet
    (tmp_path / "f.txt").write_text("1")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert io.git_commit(tmp_path) == head
    (tmp_path / "untracked.txt").write_text("x")
    assert io.git_commit(tmp_path) == head  # untracked files do not count
    (tmp_path / "f.txt").write_text("2")
    assert io.git_commit(tmp_path) == head + "+dirty"


def test_provenance_helpers():
    assert isinstance(io.cpu_model(), str) and io.cpu_model()
    load = io.load_average()
    assert load is None or load >= 0
    assert io.utc_now().endswith("+00:00") and "T" in io.utc_now()


def test_the_store_names_files_and_sets(tmp_path):
    assert store.results_file("stacking", tmp_path) == tmp_path / "stacking.json"
    assert store.results_file("latency-cpu").parent == store.reference_dir()
    assert store.set_folder("quick", tmp_path) == tmp_path
    assert store.set_folder("cpu", tmp_path) == tmp_path / "cpu"
    for bad in ("", "../x", "a/b", ".hidden", 3):
        with pytest.raises(ValueError, match="name must be a file stem"):
            store.results_file(bad, tmp_path)
    assert store.stems("latency-*", tmp_path / "missing") == []
    store.write_json(tmp_path / "latency-gpu.json", {"rows": []})
    store.write_json(tmp_path / "latency-cpu.json", {"rows": [1]})
    (tmp_path / "stacking.json").write_text("{}")
    assert store.stems("latency-*", tmp_path) == ["latency-cpu", "latency-gpu"]
    assert store.read_json(tmp_path / "latency-cpu.json") == {"rows": [1]}


def test_experiments_and_latency_use_the_one_store(tmp_path):
    from convlib import latency
    from convlib.experiments import files

    assert files.results_path("stacking", tmp_path) == store.results_file("stacking", tmp_path)
    latency_file = store.results_file("latency-cpu", tmp_path)
    assert latency.results_path("latency-cpu", tmp_path) == latency_file


def test_json_keeps_non_ascii_text_when_asked(tmp_path):
    io.atomic_write_json(tmp_path / "a.json", {"name": "Zoë"})
    io.atomic_write_json(tmp_path / "b.json", {"name": "Zoë"}, ensure_ascii=False)
    assert "\\u00eb" in (tmp_path / "a.json").read_text(encoding="utf-8")
    assert "Zoë" in (tmp_path / "b.json").read_text(encoding="utf-8")
