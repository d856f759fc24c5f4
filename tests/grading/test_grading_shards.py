"""grade --shard I/N and merge: the shards of a batch merge to byte-for-byte the unsharded
gradebook, grades and feedback; a missing, duplicated or foreign shard is an error naming it."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest

from bookgrader.__main__ import main
from bookgrader.grader import Result, grade
from bookgrader.manifest import SHARD_FILE, write_manifest
from bookgrader.release import generate, with_solutions
from bookgrader.report import write_outputs
from bookgrader.sandbox import Limits, SandboxUnavailable, detect
from bookgrader.shards import merge
from convlib.io import REPO_ROOT
from convlib.shards import Shard, ShardError

SOURCE = REPO_ROOT / "exercises" / "source"
# names chosen so that each of 3 shards gets at least one (checked below); odd characters too
STUDENTS = ("alice", "bob", "carol", "dan", "=eve", "zoë", "frank o")


def files(out: Path) -> dict[str, bytes]:
    """What a grading run writes for the instructor: gradebook, grades, feedback (not the log)."""
    names = ["gradebook.csv", "grades.csv"] + sorted(
        f"feedback/{p.name}" for p in (out / "feedback").glob("*.md"))
    return {name: (out / name).read_bytes() for name in names}


def fake_results() -> list[Result]:
    rows = []
    for student in STUDENTS:
        for chapter, exercises in (("ch01", ("ch01-ex1", "ch01-ex2")), ("ch02", ("ch02-ex1",))):
            for number, exercise in enumerate(exercises):
                passed = (len(student) + number) % 2 == 0
                rows.append(Result(student, chapter, exercise, f"Exercise {number}", 2.0,
                                   "passed" if passed else "failed", 2.0 if passed else 0.0,
                                   "" if passed else "1/2 checks passed",
                                   ["✓ a check", "✗ hidden check 1: x: wrong value"]))
    return sorted(rows, key=lambda r: r.student)  # the grader's order: student, then chapter


def write_fake_shards(tmp_path: Path, count: int = 3) -> list[Path]:
    """Shard outputs as grade --shard writes them, from fabricated results."""
    dirs = []
    for index in range(count):
        shard = Shard(index, count)
        mine = [r for r in fake_results() if shard.holds(r.student)]
        folder = tmp_path / f"shard{index}"
        write_outputs(folder, mine, [])
        write_manifest(folder, shard, ["ch01", "ch02"], mine, [])
        (folder / "grading.log").write_text(f"log of shard {index}\n")
        dirs.append(folder)
    return dirs


def test_the_students_spread_over_all_three_shards():
    assert {Shard(i, 3).index for i in range(3) for s in STUDENTS if Shard(i, 3).holds(s)} == {
        0, 1, 2}


def test_merge_writes_byte_for_byte_what_one_run_writes(tmp_path):
    whole = tmp_path / "whole"
    write_outputs(whole, fake_results(), [])
    merged = merge(tmp_path / "merged", write_fake_shards(tmp_path))
    assert merged == fake_results()
    assert files(tmp_path / "merged") == files(whole)
    log = (tmp_path / "merged" / "grading.log").read_text()
    assert all(f"== shard {i}/3" in log and f"log of shard {i}" in log for i in range(3))


def test_a_missing_duplicated_or_foreign_shard_is_an_error_naming_it(tmp_path):
    dirs = write_fake_shards(tmp_path)
    with pytest.raises(ShardError, match="missing shard 1/3"):
        merge(tmp_path / "m", [dirs[0], dirs[2]])
    copy = tmp_path / "copy"
    shutil.copytree(dirs[2], copy)
    with pytest.raises(ShardError, match=f"duplicated shard: shard 2/3 in {dirs[2]}, {copy}"):
        merge(tmp_path / "m", dirs + [copy])
    with pytest.raises(ShardError, match=f"{tmp_path / 'nothing'} is not the output of grade"):
        merge(tmp_path / "m", dirs + [tmp_path / "nothing"])
    manifest = json.loads((dirs[1] / SHARD_FILE).read_text())
    stranger = next(s for s in STUDENTS if not Shard(1, 3).holds(s))
    manifest["results"].append(asdict(fake_results()[0]) | {"student": stranger})
    (dirs[1] / SHARD_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match=f"graded {stranger!r}, who belongs to another shard"):
        merge(tmp_path / "m", dirs)
    with pytest.raises(ShardError, match="another folder than the shards"):
        merge(dirs[0], dirs)


def test_shards_graded_with_other_chapters_do_not_merge(tmp_path):
    dirs = write_fake_shards(tmp_path)
    manifest = json.loads((dirs[2] / SHARD_FILE).read_text())
    manifest["chapters"] = ["ch01"]
    (dirs[2] / SHARD_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ShardError, match=r"has chapters \['ch01'\] but .*shard0 has"):
        merge(tmp_path / "m", dirs)


def test_merge_command_line_exits_2_with_the_message(tmp_path, capsys):
    dirs = write_fake_shards(tmp_path)
    assert main(["merge", str(tmp_path / "m"), *map(str, dirs)]) == 0
    assert main(["merge", str(tmp_path / "m2"), str(dirs[0])]) == 2
    assert "missing shard 1/3, 2/3" in capsys.readouterr().err


# ----------------------------------------------------------------------------- real grading
@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """Seven students' ch01: reference answers, the untouched release, one wrong, one missing."""
    base = tmp_path_factory.mktemp("batch")
    generate(SOURCE, base / "release")
    released = json.loads((base / "release" / "ch01" / "ch01.ipynb").read_text())
    honest = with_solutions(released, SOURCE / "ch01" / "ch01.ipynb")
    for number, student in enumerate(STUDENTS):
        (base / "subs" / student).mkdir(parents=True)
        content = (honest, released, None)[number % 3]
        if content is not None:
            (base / "subs" / student / "ch01.ipynb").write_text(json.dumps(content))
    return base


@pytest.fixture(scope="module")
def sandbox():
    """The sandbox; where it is unavailable the test skips with the reason (fails in CI)."""
    try:
        box = detect(Limits(timeout=30, cell_timeout=6))
    except SandboxUnavailable as error:
        pytest.skip(str(error))
    yield box
    box.close()  # this run's parent cgroups


@pytest.mark.slow  # four grading runs of ch01 (a reference run each, seven students in all)
def test_three_graded_shards_merge_to_the_unsharded_gradebook(batch, sandbox):
    subs = batch / "subs"
    whole = grade(subs, batch / "whole", SOURCE, ["ch01"], jobs=2, sandbox=sandbox)
    assert not (batch / "whole" / SHARD_FILE).exists()
    shard_dirs = []
    for index in range(3):
        shard_dirs.append(batch / f"shard{index}")
        part = grade(subs, shard_dirs[-1], SOURCE, ["ch01"], jobs=2, sandbox=sandbox,
                     shard=f"{index}/3")
        assert {r.student for r in part} == {s for s in STUDENTS if Shard(index, 3).holds(s)}
    assert {r.status for r in whole} >= {"passed", "failed", "missing"}
    assert merge(batch / "merged", shard_dirs) == whole
    assert files(batch / "merged") == files(batch / "whole")


def test_grade_refuses_a_bad_shard_before_writing_anything(tmp_path, capsys):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    code = main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"),
                 "--shard", "3/3"])
    assert code == 2 and "shard must be 'i/n'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
