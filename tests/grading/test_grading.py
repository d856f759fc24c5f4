"""Graded exercises: formats, release, and grading that adversarial submissions cannot fool or stop.

The sandbox tests grade real batches (each submission in its own sandboxed process); the
isolation-specific assertions need bubblewrap (root, or unprivileged user namespaces). Where the
grader can only apply rlimits they are skipped with the reason, except in CI (``CI`` set), where
they fail: CI must run them. (tests/test_grading_sandbox.py: fail-closed, venv and checkout
layouts.)
"""

from __future__ import annotations

import csv
import json
import os
import socket
import threading
import time
from pathlib import Path

import nbformat
import pytest

from bookgrader import check
from bookgrader.grader import atomic_write, grade, students_in
from bookgrader.notebook import (
    Malformed,
    SourceError,
    checksum,
    find_chapters,
    load_chapter,
    parse_test_cell,
    plan_submission,
    read_submission,
    solution_lines,
    split_hidden,
)
from bookgrader.release import generate, render_page, stale_pages, valid_notebook, with_solutions
from bookgrader.sandbox import Limits, SandboxUnavailable, detect
from bookgrader.values import compare, describe
from convlib.io import REPO_ROOT
from convlib.launch import launch_cell_source

SOURCE = REPO_ROOT / "exercises" / "source"
CH01 = SOURCE / "ch01" / "ch01.ipynb"
LIMITS = Limits(timeout=20, cell_timeout=4)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def release_dir(tmp_path_factory) -> Path:
    """What `make release` writes, from nbgrader's generate_assignment."""
    out = tmp_path_factory.mktemp("release")
    generate(SOURCE, out)
    return out


@pytest.fixture(scope="module")
def released(release_dir) -> dict[str, dict]:
    """nbgrader's student version of every chapter, keyed by chapter."""
    return {p.stem: json.loads((release_dir / p.stem / p.name).read_text())
            for p in find_chapters(SOURCE)}


@pytest.fixture(scope="module")
def sandbox():
    """The sandbox (bubblewrap and the seccomp filter); where it is unavailable, the grading
    tests skip with the reason (a failure in CI, where a skip is one)."""
    try:
        box = detect(LIMITS)
    except SandboxUnavailable as error:
        pytest.skip(str(error))
    yield box
    box.close()  # this run's parent cgroups


def reference_nb(released: dict, chapter: str = "ch01") -> dict:
    return with_solutions(released[chapter], SOURCE / chapter / f"{chapter}.ipynb")


def edited(nb: dict, grade_id: str, source: str | None = None, prepend: str = "") -> dict:
    """nb with one cell (by grade_id) replaced, prefixed, or deleted (no source, no prefix)."""
    nb = json.loads(json.dumps(nb))
    for index, cell in enumerate(nb["cells"]):
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            if source is None and not prepend:
                del nb["cells"][index]
            else:
                old = "".join(cell["source"])
                cell["source"] = prepend + (old if source is None else source)
            return nb
    raise KeyError(grade_id)


def write_submission(folder: Path, student: str, content, name: str = "ch01.ipynb") -> None:
    (folder / student).mkdir(parents=True, exist_ok=True)
    if content is not None:
        text = content if isinstance(content, str) else json.dumps(content)
        (folder / student / name).write_text(text, encoding="utf-8")


def read_gradebook(out: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["student"], []).append(row)
    return rows


# ----------------------------------------------------------------------------- values and check
def test_check_messages_say_what_is_wrong():
    check(23296, int, what="n")
    check([[1, 2], [3, 4]], [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(AssertionError, match=r"^n: expected an int, got a str \('x'\)$"):
        check("x", int, what="n")
    with pytest.raises(AssertionError, match=r"weights: expected 23296, got 23232"):
        check(23232, 23296, what="weights")
    with pytest.raises(AssertionError, match=r"W: expected 4 items, got 3"):
        check([[0]] * 3, [[0]] * 4, what="W")
    with pytest.raises(AssertionError, match=r"W: at \[1\]\[0\]: expected 3, got 5"):
        check([[1, 2], [5, 4]], [[1, 2], [3, 4]], what="W")
    with pytest.raises(AssertionError, match="expected an int, got a bool"):
        check(True, int)
    check(0.1 + 0.2, 0.3)


def test_check_accepts_tensors_like_lists_and_refuses_impostors():
    torch = pytest.importorskip("torch")
    check(torch.tensor([[1.0, 2.0]]), [[1, 2]])
    check(torch.tensor([1, 2]), torch.Tensor)

    class AlwaysEqual:
        def __eq__(self, other):
            return True

    class Sneaky(int):
        def __eq__(self, other):
            return True

    for impostor in (AlwaysEqual(), Sneaky(5), [AlwaysEqual()]):
        with pytest.raises(AssertionError, match="expected plain data"):
            check(impostor, 5)
    assert describe(torch.zeros(2, 3))["shape"] == [2, 3]
    assert compare({"kind": "int", "value": 5}, {"kind": "type", "kinds": ["int"]}) is None


# ----------------------------------------------------------------------------- the source format
def test_every_chapter_source_is_valid_and_outside_the_book():
    chapters = find_chapters(SOURCE)
    assert {p.stem for p in chapters} >= {"ch01", "ch03"}
    for path in chapters:
        chapter = load_chapter(path)
        assert len(chapter.exercises) >= 2, path
        for exercise in chapter.exercises:
            assert exercise.points > 0
            assert any(c.hidden for c in exercise.checks), (
                f"{exercise.grade_id} has no hidden check"
            )
            assert any(not c.hidden for c in exercise.checks), (
                f"{exercise.grade_id} has no visible check"
            )
    published = [*REPO_ROOT.joinpath("book", "exercises").glob("*.md"),
                 *REPO_ROOT.joinpath("book").rglob("*.ipynb")]
    for page in published:
        if "_build" not in page.parts:
            text = page.read_text(encoding="utf-8")
            assert "### BEGIN SOLUTION" not in text and "### BEGIN HIDDEN TESTS" not in text, page


@pytest.mark.parametrize(
    "cell, message",
    [
        ("check(f(3) == 4, True)", "Compare"),
        ("check(x, 1)\nassert x", "only hold imports and check"),
        ("check(x, 1)\n### BEGIN HIDDEN TESTS\nK = [[1]]\ncheck(f(K), 1)\n### END HIDDEN TESTS",
         "'K'"),
        ("check(x, 1, bogus=2)", "no argument 'bogus'"),
        ("check(x.__class__, int)", "dunder"),
        ("check(x, 1)\n### BEGIN HIDDEN TESTS\ncheck(x, 2)", "without END"),
    ],
)
def test_test_cells_outside_the_probe_format_are_refused(cell, message):
    with pytest.raises(SourceError, match=message):
        parse_test_cell(cell, "cell")


def test_probes_carry_inputs_only_and_hidden_helpers_stay_out():
    checks, imports, helpers = parse_test_cell(
        "import math\ncheck(f(2), 4, what='f(2)')\n### BEGIN HIDDEN TESTS\n"
        "def _ref(n):\n    return n * n\ncheck(f(7), _ref(7), what='f(7)', tol=1e-3)\n"
        "### END HIDDEN TESTS",
        "c",
    )
    assert [(c.actual, c.expected, c.hidden, c.tol) for c in checks] == [
        ("f(2)", "4", False, None),
        ("f(7)", "_ref(7)", True, 1e-3),
    ]
    assert imports == "import math" and "def _ref" in helpers
    assert split_hidden("a\n### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS\nc") == ("a\nc", "b")
    assert checksum("x = 1\r\n\n") == checksum("x = 1   ")


def test_released_student_version_matches_what_the_grader_expects(released):
    """The checksums the grader compares against are those of nbgrader's released cells; the
    notebook the website publishes starts with the chapters' launch cell (for Colab, Binder)."""
    for name, nb in released.items():
        launch = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert "".join(launch["source"]) == launch_cell_source(), name
        chapter = load_chapter(SOURCE / name / f"{name}.ipynb")
        plan = plan_submission(chapter, nb)
        assert plan.tampered == {}, name
        text = json.dumps(nb)
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        for line in solution_lines(chapter):
            assert line not in text, f"{name}: released notebook leaks {line!r}"


def test_every_released_notebook_is_valid_nbformat(release_dir):
    """What students download opens in Jupyter without "Notebook validation failed": each
    released notebook passes nbformat.validate (cell ids only from nbformat 4.5 on), the launch
    cell included (issue 24 item 4)."""
    released = sorted(release_dir.glob("*/*.ipynb"))
    assert [p.stem for p in released] == [p.stem for p in find_chapters(SOURCE)]
    for path in released:
        notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nbformat.validate(notebook)  # raises ValidationError naming the problem
        first_code = next(c for c in notebook.cells if c.cell_type == "code")
        assert first_code.source == launch_cell_source(), "the launch cell is kept"
        if notebook.nbformat_minor < 5:
            assert not any("id" in cell for cell in notebook.cells), path


def test_a_cell_id_in_a_4_4_notebook_is_what_jupyter_refuses():
    """The rule valid_notebook applies, checked against nbformat itself: an id in a 4.4 notebook
    fails validation, and valid_notebook makes the notebook pass."""
    notebook = {"nbformat": 4, "nbformat_minor": 4, "metadata": {},
                "cells": [{"cell_type": "code", "id": "launch", "metadata": {}, "outputs": [],
                           "execution_count": None, "source": "print(1)"}]}
    with pytest.raises(nbformat.ValidationError):
        nbformat.validate(json.loads(json.dumps(notebook)))
    assert "id" not in valid_notebook(notebook)["cells"][0]


def test_website_pages_are_up_to_date_and_leak_nothing(released, release_dir):
    assert stale_pages(SOURCE, REPO_ROOT / "book" / "exercises", REPO_ROOT, release_dir) == []
    for path in find_chapters(SOURCE):
        page = (REPO_ROOT / "book" / "exercises" / f"{path.stem}.md").read_text(encoding="utf-8")
        assert page == render_page(
            released[path.stem], path.stem, f"exercises/source/{path.stem}/{path.name}"
        )
        assert "SOLUTION" not in page and "HIDDEN" not in page
        for line in solution_lines(load_chapter(path)):
            assert line not in page, f"{path.stem}.md leaks {line!r}"
        for exercise in load_chapter(path).exercises:
            assert f"{exercise.points:g} point" in page


def test_makefile_has_release_and_grade_targets():
    import subprocess

    for target, needle in (("release", "bookgrader release"),
                           ("grade", "bookgrader grade")):
        dry = subprocess.run(["make", "-n", "--no-print-directory", target, "SUBMISSIONS=subs"],
                             cwd=REPO_ROOT, capture_output=True, text=True)
        assert needle in dry.stdout, dry.stdout + dry.stderr


# ----------------------------------------------------------------------------- reading submissions
def test_submissions_that_are_not_notebooks_are_malformed(tmp_path):
    cases = {"garbage.ipynb": "not json {", "list.ipynb": "[1, 2]", "cells.ipynb": '{"cells": "x"}',
             "v3.ipynb": '{"cells": [], "nbformat": 3}',
             "cell.ipynb": '{"cells": [{"cell_type": "code", "source": 5}], "nbformat": 4}',
             "binary.ipynb": b"\xff\xfe\x00"}
    for name, content in cases.items():
        path = tmp_path / name
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        with pytest.raises(Malformed):
            read_submission(path)
    (tmp_path / "link.ipynb").symlink_to(CH01)
    with pytest.raises(Malformed, match="symbolic link"):
        read_submission(tmp_path / "link.ipynb")


def test_tampering_is_detected_per_exercise(released):
    chapter = load_chapter(CH01)
    nb = released["ch01"]
    assert plan_submission(chapter, edited(nb, "ch01-ex1", "pass")).tampered.keys() == {"ch01-ex1"}
    assert plan_submission(chapter, edited(nb, "ch01-ex2")).tampered.keys() == {"ch01-ex2"}
    everything = plan_submission(chapter, edited(nb, "ch01-setup", "import os")).tampered
    assert everything.keys() == {e.grade_id for e in chapter.exercises}
    doubled = json.loads(json.dumps(nb))
    doubled["cells"].append(next(
        c for c in doubled["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") == "ch01-ex1"))
    assert "more than once" in plan_submission(chapter, doubled).tampered["ch01-ex1"]
    # whitespace, line endings and the answers themselves are not tampering
    assert plan_submission(chapter, edited(nb, "ch01-ex1", prepend="\n")).tampered == {}
    assert plan_submission(chapter, reference_nb(released)).tampered == {}


def test_atomic_write_never_leaves_a_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "gradebook.csv"
    atomic_write(target, "old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["gradebook.csv"]


# ----------------------------------------------------------------------------- adversarial batch

READS_HIDDEN = r"""
import glob, json, os, re
found = dict()
candidates = [{source!r}, "/proc/1/root" + {source!r}]
candidates += glob.glob("/work/**/*.ipynb", recursive=True)
for path in candidates:
    try:
        text = open(path).read()
    except OSError:
        continue
    for name, value in re.findall(r"check\((\w+), (\d+), what", text):
        found[name] = int(value)
conv_weights = found.get("conv_weights", 1)
dense_weights = found.get("dense_weights", 1)
"""

WRITES_GRADEBOOK = r"""
import os
forged = "student,chapter,exercise,points,max_points,status,note\n"
forged += "writes_gradebook,ch01,ch01-ex1,100,2,passed,\n"
for path, text in (({out!r} + "/gradebook.csv", forged),
                   ({out!r} + "/feedback/writes_gradebook.md", "all passed"),
                   ({subs!r} + "/pwned.txt", "x"), ({subs!r} + "/../pwned.txt", "x")):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    except OSError:
        pass
conv_weights = dense_weights = 0
"""

NETWORK = r"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"leak")
    connected = True
except OSError:
    connected = False
conv_weights = 23296 if connected else 0
dense_weights = 201392128 if connected else 0
"""

FORGES = r"""
import json, os, sys
fd = int(sys.argv[sys.argv.index("--result-fd") + 1])
fake = {{"kind": "int", "value": 1}}
for grade_id, n in (("ch01-ex1", 5), ("ch01-ex2", 5), ("ch01-ex3", 4), ("ch01-ex4", 8)):
    os.write(fd, (json.dumps({{"event": "test", "index": 0, "grade_id": grade_id,
                               "setup_errors": [],
                               "results": [{{"actual": fake}}] * n}}) + "\n").encode())
os.write(fd, b'{{"event": "done"}}\nnot json at all\n')
os._exit(0)
"""

EQUAL_ANYTHING = """
class AlwaysEqual:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __mod__(self, other): return 0
class Sneaky(int):
    def __eq__(self, other): return True
conv_weights, dense_weights = Sneaky(23296), AlwaysEqual()
"""

REDEFINES = """
import sys
import bookgrader.values as values
check = lambda *args, **kwargs: None
runner = sys.modules["__main__"]  # the sandbox's runner itself
values.compare = lambda *args, **kwargs: None
values.describe = runner.describe = lambda value: {"kind": "int", "value": 0}
conv_weights = dense_weights = "unknown"
"""


def adversarial_cases(released: dict, out: Path, subs: Path, port: int) -> dict:
    """student -> (notebook content or None, expected statuses of ex1..ex4, expected points)."""
    ref, student = reference_nb(released), released["ch01"]
    P, F = "passed", "failed"
    return {
        "reference": (ref, [P, P, P, P], 11),
        "student": (student, [F, F, F, F], 0),
        "loop": (
            edited(ref, "ch01-ex2-answer",
                   "def dense_matrix(kernel, input_size):\n    while True:\n        pass\n"),
            [P, "timeout", P, P],
            8,
        ),
        "loop_ignores_alarm": (
            edited(ref, "ch01-ex1-answer", prepend="import signal\nsignal.signal("
                   "signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"),
            ["timeout"] * 4,
            0,
        ),
        "memory_bomb": (edited(ref, "ch01-ex1-answer", prepend="blob = bytearray(64 * 2**30)\n"),
                        ["memory", P, P, P], 9),
        "memory_grows": (
            # 64 MiB more at each step until the data limit (untouched pages: fast even when the
            # machine is busy; a bomb that writes its memory is stopped the same way, later)
            edited(ref, "ch01-ex2-answer", prepend="def bomb():\n    hog = []\n    while True:\n"
                   "        hog.append(torch.empty(2**24))\n\n\nbomb()\n"),
            [P, "memory", P, P],
            8,
        ),
        "sys_exit": (edited(ref, "ch01-ex2-answer", prepend="import sys\nsys.exit(0)\n"),
                     [P, F, P, P], 8),
        "os_exit": (edited(ref, "ch01-ex2-answer", "import os\nos._exit(0)\n"),
                    [P, "crashed", "crashed", "crashed"], 2),
        "segfault": (edited(ref, "ch01-ex2-answer", "import ctypes\nctypes.string_at(0)\n"),
                     [P, "crashed", "crashed", "crashed"], 2),
        "reads_hidden": (edited(ref, "ch01-ex1-answer", READS_HIDDEN.format(source=str(CH01))),
                         [F, P, P, P], 9),
        "writes_gradebook": (
            edited(ref, "ch01-ex1-answer", WRITES_GRADEBOOK.format(out=str(out), subs=str(subs))),
            [F, P, P, P],
            9,
        ),
        "network": (edited(ref, "ch01-ex1-answer", NETWORK.format(port=port)), [F, P, P, P], 9),
        "flood": (
            edited(ref, "ch01-ex1-answer",
                   prepend="import os\nfor _ in range(100_000):\n    print('x' * 1000)\n"
                   "for _ in range(32):\n    os.write(1, b'y' * 2**20)\n"),
            [P, P, P, P],
            11,
        ),
        "forges_results": (edited(ref, "ch01-ex1-answer", FORGES.format()), [F, F, F, F], 0),
        "equal_anything": (
            edited(edited(ref, "ch01-ex1-answer", EQUAL_ANYTHING), "ch01-ex2-answer",
                   "def dense_matrix(kernel, input_size):\n    return AlwaysEqual()\n"),
            [F, F, P, P],
            6,
        ),
        "redefines_check": (edited(ref, "ch01-ex1-answer", REDEFINES), [F, F, F, F], 0),
        "not_json": ('{"cells": [oops', ["malformed"] * 4, 0),
        "tests_edited": (edited(ref, "ch01-ex1", "pass"), ["tampered", P, P, P], 9),
        "tests_deleted": (edited(ref, "ch01-ex2"), [P, "tampered", P, P], 8),
        "setup_edited": (
            edited(ref, "ch01-setup", "import torch\nfrom torch import nn\ncheck = print\n"),
            ["tampered"] * 4,
            0,
        ),
        "missing": (None, ["missing"] * 4, 0),
        "symlink": ("symlink", ["malformed"] * 4, 0),
    }


@pytest.fixture(scope="module")
def adversarial(released, sandbox, tmp_path_factory):
    base = tmp_path_factory.mktemp("adversarial")
    subs, out = base / "submissions", base / "grading"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    connections = []

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept())
            except OSError:
                continue

    stop = threading.Event()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    cases = adversarial_cases(released, out, subs, listener.getsockname()[1])
    for student, (content, _, _) in cases.items():
        if content == "symlink":
            (subs / student).mkdir(parents=True)
            (subs / student / "ch01.ipynb").symlink_to(CH01)
        else:
            write_submission(subs, student, content)
    started = time.monotonic()
    grade(subs, out, SOURCE, ["ch01"], jobs=2, sandbox=sandbox)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join()
    listener.close()
    print(
        f"\nadversarial batch: {len(cases)} submissions graded in {elapsed:.1f} s ({sandbox.mode})"
    )
    return {"cases": cases, "out": out, "subs": subs, "connections": connections,
            "mode": sandbox.mode}


STUDENTS = ["reference", "student", "loop", "loop_ignores_alarm", "memory_bomb", "memory_grows",
            "sys_exit", "os_exit", "segfault", "reads_hidden", "writes_gradebook", "network",
            "flood", "forges_results", "equal_anything", "redefines_check", "not_json",
            "tests_edited", "tests_deleted", "setup_edited", "missing", "symlink"]


@pytest.mark.slow  # an end-to-end grading batch in real sandboxes
@pytest.mark.parametrize("student", STUDENTS)
def test_adversarial_submission_gets_its_status_and_no_more_points(adversarial, student):
    _, statuses, points = adversarial["cases"][student]
    rows = read_gradebook(adversarial["out"])[student]
    assert [r["exercise"] for r in rows] == ["ch01-ex1", "ch01-ex2", "ch01-ex3", "ch01-ex4"]
    assert [r["status"] for r in rows] == statuses, rows
    assert sum(float(r["points"]) for r in rows) == points
    feedback = (adversarial["out"] / "feedback" / f"{student}.md").read_text()
    assert (
        "BEGIN HIDDEN" not in feedback and "23296" not in feedback and "201392128" not in feedback
    )


def test_the_batch_completes_with_every_student_and_its_artifacts(adversarial):
    out = adversarial["out"]
    rows = read_gradebook(out)
    assert set(rows) == set(adversarial["cases"]) == set(STUDENTS)
    assert list(csv.reader(open(out / "gradebook.csv")))[0] == ["student", "chapter", "exercise",
                                                                "points", "max_points", "status",
                                                                "note"]
    log = (out / "grading.log").read_text()
    assert "sandbox:" in log and "done:" in log
    assert "SIGSEGV" in log and "output" in log
    assert "crashed" in {r["status"] for r in rows["segfault"]}
    assert "SIGSEGV" in rows["segfault"][1]["note"]
    assert "capped" in (out / "feedback" / "flood.md").read_text()
    assert not list(out.glob(".*.tmp")) and not list((out / "feedback").glob(".*.tmp"))
    seg = (out / "feedback" / "loop.md").read_text()
    assert "✓" in seg and "time limit" in seg


def test_isolation_kept_files_and_network_out_of_reach(adversarial):
    assert adversarial["connections"] == []
    assert not (adversarial["subs"] / "pwned.txt").exists()
    assert not (adversarial["subs"].parent / "pwned.txt").exists()
    feedback = (adversarial["out"] / "feedback" / "writes_gradebook.md").read_text()
    assert feedback != "all passed"
    assert "hidden check" in feedback and "wrong value" in feedback


@pytest.mark.slow  # an end-to-end grading batch in real sandboxes
def test_idempotent_rerun_and_reference_full_student_zero_for_every_chapter(
    released, sandbox, tmp_path
):
    subs = tmp_path / "submissions"
    for name, nb in released.items():
        write_submission(subs, "a_reference", reference_nb(released, name), f"{name}.ipynb")
        write_submission(subs, "b_student", nb, f"{name}.ipynb")
    outputs = []
    for _ in range(2):
        results = grade(subs, tmp_path / "grading", SOURCE, jobs=2, sandbox=sandbox)
        files = sorted(
            p for p in (tmp_path / "grading").rglob("*") if p.is_file() and p.name != "grading.log"
        )
        outputs.append({p.name: p.read_bytes() for p in files})
    assert outputs[0] == outputs[1]
    assert {r.chapter for r in results} == set(released)
    for r in results:
        if r.student == "a_reference":
            assert (r.status, r.points) == ("passed", r.max_points), r
        else:
            assert (r.status, r.points) == ("failed", 0), r


@pytest.mark.slow  # an end-to-end grading batch in real sandboxes
def test_thirty_submissions_grade_in_under_five_minutes(released, sandbox, tmp_path):
    subs = tmp_path / "submissions"
    ref = reference_nb(released)
    for i in range(30):
        nb = ref if i % 3 else released["ch01"]
        if i % 5 == 0:
            nb = edited(
                ref, "ch01-ex2-answer", "def dense_matrix(kernel, input_size):\n    return [[0]]\n"
            )
        write_submission(subs, f"student{i:02d}", nb)
    started = time.monotonic()
    results = grade(subs, tmp_path / "grading", SOURCE, ["ch01"], jobs=2, sandbox=sandbox)
    elapsed = time.monotonic() - started
    print(f"\n30 submissions of ch01 graded in {elapsed:.1f} s ({sandbox.mode}, 2 in parallel)")
    assert len({r.student for r in results}) == 30
    assert elapsed < 300


# ----------------------------------------------------------------------------- who is a student
def test_the_output_folder_may_not_lie_among_the_submissions(released, tmp_path):
    """Nothing decides who is a student but the folders themselves: the grader's output may not
    lie in the submissions folder (nor they in it), so no marker file is ever consulted."""
    subs = tmp_path / "subs"
    write_submission(subs, "alice", reference_nb(released))
    for out in (subs / "out", subs, tmp_path):
        with pytest.raises(ValueError, match="must lie outside the submissions folder"):
            grade(subs, out, SOURCE, ["ch01"])
        assert not (subs / "out").exists()
    (subs / ".hidden").mkdir()
    (subs / "notes.txt").write_text("not a student")
    assert students_in(subs) == ["alice"]
