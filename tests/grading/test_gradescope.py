"""The Gradescope autograder export, and run_autograder in a simulated Gradescope container.

The container is simulated with bubblewrap, as Gradescope's Docker container is: the zip unpacked
at /autograder/source, the submission at /autograder/submission, /autograder/results, the run as
root with Docker's default capabilities only (no CAP_SYS_ADMIN, so no namespaces for a nested
sandbox), no bubblewrap in the image, a Python environment where setup.sh puts it
(/opt/convlib/venv: this machine's virtualenv bound there) and nothing of the checkout but the
installed package. Honest, wrong and adversarial submissions are graded there; results.json is
checked against Gradescope's documented format (gradescope-autograders.readthedocs.io, specs).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import bookgrader
import convlib
from bookgrader import gradescope as G
from bookgrader.grader import Result
from bookgrader.mounts import bind_args, interpreter_sys_path, mounts
from bookgrader.notebook import load_chapter
from bookgrader.release import generate, with_solutions
from convlib.io import REPO_ROOT

SOURCE = REPO_ROOT / "exercises" / "source"
CH01 = SOURCE / "ch01" / "ch01.ipynb"
DOCKER_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
               "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format",
            "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
            "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output",
             "output_format", "tags", "visibility", "extra_data"}


def check_gradescope_schema(results: dict) -> None:
    """Gradescope's results.json format: known keys, numbers where numbers go, a visibility from
    the documented four, a score at the top or on every test."""
    assert isinstance(results, dict) and set(results) <= TOP_KEYS, set(results) - TOP_KEYS
    tests = results.get("tests", [])
    assert isinstance(tests, list)
    assert "score" in results or (tests and all("score" in t for t in tests))
    for key in ("visibility", "stdout_visibility"):
        assert results.get(key, "visible") in G.VISIBILITIES
    for key in ("score", "execution_time"):
        assert isinstance(results.get(key, 0), (int, float))
    assert isinstance(results.get("output", ""), str)
    for test in tests:
        assert set(test) <= TEST_KEYS, set(test) - TEST_KEYS
        assert {"score", "max_score", "name", "output", "visibility"} <= set(test)
        assert all(isinstance(test[key], (int, float)) for key in ("score", "max_score"))
        assert 0 <= test["score"] <= test["max_score"]
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert test["visibility"] in G.VISIBILITIES
        assert test.get("status", "passed") in ("passed", "failed")


# ----------------------------------------------------------------------------- export
@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    return G.export("ch01", tmp_path_factory.mktemp("zip"), SOURCE, REPO_ROOT)


def test_the_zip_has_gradescopes_layout_and_the_pinned_package(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        requirements = archive.read("requirements.txt").decode()
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
        config = json.loads(archive.read(G.CONFIG))
    assert {"setup.sh", "run_autograder", "exercises/ch01/ch01.ipynb",
            "package/pyproject.toml", "package/bookgrader/gradescope.py"} <= names
    assert not any(n.startswith("exercises/ch02") for n in names)  # one chapter only
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert run.startswith("#!") and "bookgrader.gradescope run" in run
    assert setup.startswith("#!") and "-r requirements.txt" in setup and "go-rwx" in setup
    for script in (setup, run):
        subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    constraints = (REPO_ROOT / "constraints.txt").read_text()
    for line in requirements.splitlines():
        assert line in constraints.splitlines(), line  # every pin as on the book's machine
    assert {line.split("==")[0] for line in requirements.splitlines()} >= {"torch", "numpy"}
    assert config["chapter"] == "ch01" and config["timeout"] > 0


def test_the_zips_package_builds_the_installed_package(autograder_zip, tmp_path):
    """setup.sh's `pip install ./package`, offline: the wheel holds the grader and the results."""
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(tmp_path / "source", [n for n in archive.namelist()
                                                 if n.startswith("package/")])
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(tmp_path / "wheel"), str(tmp_path / "source" / "package")],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel = next((tmp_path / "wheel").glob("convlib-*.whl"))
    with zipfile.ZipFile(wheel) as built:
        names = set(built.namelist())
    assert {"bookgrader/gradescope.py", "bookgrader/runner.py"} <= names
    # every file of the sets the chapters read; a set still being made (pending/) does not ship
    results = REPO_ROOT / "book" / "results"
    shipped = {p.relative_to(results).as_posix()
               for p in results.rglob("*.json") if "pending" not in p.parts}
    assert {f"convlib/reference/{name}" for name in shipped} <= names


def test_the_export_is_reproducible_and_refuses_an_unknown_chapter(autograder_zip, tmp_path):
    again = G.export("ch01", tmp_path, SOURCE, REPO_ROOT)
    assert again.read_bytes() == autograder_zip.read_bytes()
    with pytest.raises(ValueError, match=r"chapter must be one of \[.*'ch01'"):
        G.export("ch99", tmp_path, SOURCE, REPO_ROOT)


def test_results_json_follows_gradescopes_format_and_hides_hidden_check_details():
    chapter = load_chapter(CH01)
    ex1, ex2, ex3, *rest = chapter.exercises
    results = [
        Result("submission", "ch01", ex1.grade_id, ex1.title, ex1.points, "passed", ex1.points,
               feedback=["✓ visible check", "✓ hidden check 1: something secret"]),
        Result("submission", "ch01", ex2.grade_id, ex2.title, ex2.points, "failed", 0.0,
               "1/2 checks passed",
               feedback=["✓ shape", "✗ hidden check 1: values: wrong value"]),
        *(Result("submission", "ch01", ex.grade_id, ex.title, ex.points, "missing", 0.0,
                 "no ch01.ipynb", feedback=["Not graded: no ch01.ipynb."]) for ex in (ex3, *rest)),
    ]
    payload = G.results_json(chapter, results, 12.34)
    check_gradescope_schema(payload)
    assert payload["score"] == ex1.points and payload["stdout_visibility"] == "hidden"
    scored = [t for t in payload["tests"] if t["max_score"] > 0]
    assert [t["score"] for t in scored] == [ex1.points] + [0] * (len(chapter.exercises) - 1)
    assert all(t["visibility"] == "visible" and "hidden check" not in t["output"] for t in scored)
    hidden = [t for t in payload["tests"] if t["visibility"] == "after_published"]
    assert len(hidden) == len(chapter.exercises) and all(t["max_score"] == 0 for t in hidden)
    assert "something secret" in hidden[0]["output"] and "wrong value" in hidden[1]["output"]


def test_the_submitted_notebook_is_found_by_name_else_alone(tmp_path):
    assert G.find_notebook(tmp_path, "ch01")[0] is None
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my work.ipynb").write_text("{}")
    assert G.find_notebook(tmp_path, "ch01")[0] == tmp_path / "sub" / "my work.ipynb"
    (tmp_path / "other.ipynb").write_text("{}")
    found, why = G.find_notebook(tmp_path, "ch01")
    assert found is None and "submit ch01.ipynb only" in why
    (tmp_path / "ch01.ipynb").write_text("{}")
    assert G.find_notebook(tmp_path, "ch01")[0] == tmp_path / "ch01.ipynb"


def test_lock_down_makes_the_folders_root_only(tmp_path):
    G.lock_down(tmp_path)
    for name in ("source", "submission", "results"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o700


def test_the_command_line_writes_the_zip(tmp_path, capsys):
    from bookgrader.__main__ import main

    assert main(["gradescope", "ch01", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "autograder-ch01.zip").is_file()
    assert main(["gradescope", "nope", "--out", str(tmp_path)]) == 2
    assert "chapter must be one of" in capsys.readouterr().err


# ----------------------------------------------------------------------------- simulated container
READS_SOURCE = r"""
import glob, re
found = {}
paths = glob.glob("/autograder/source/**/*.ipynb", recursive=True)
paths += ["/autograder/source/exercises/ch01/ch01.ipynb", "/proc/1/root/autograder/source/"
          "exercises/ch01/ch01.ipynb", "/proc/1/cwd/source/exercises/ch01/ch01.ipynb"]
for path in paths:
    try:
        text = open(path).read()
    except OSError:
        continue
    for name, value in re.findall(r"check\((\w+), (\d+), what", text):
        found[name] = int(value)
conv_weights = found.get("conv_weights", 1)
dense_weights = found.get("dense_weights", 1)
"""

WRITES_RESULTS = r"""
import json, os, subprocess, sys
forged = json.dumps({"score": 100, "tests": [{"score": 100, "max_score": 7, "name": "forged",
                                                 "output": "", "visibility": "visible"}]})
for path in ("/autograder/results/results.json", "/proc/1/cwd/results/results.json"):
    try:
        with open(path, "w") as handle:
            handle.write(forged)
    except OSError:
        pass
# and a process left behind that tries again after the grader has written its results
later = ("import time\nwhile True:\n    time.sleep(0.1)\n    try:\n"
         "        open('/autograder/results/results.json', 'w').write(%r)\n"
         "    except OSError:\n        pass\n" % forged)
subprocess.Popen([sys.executable, "-c", later], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
conv_weights = dense_weights = 0
"""

FORGES_LINES = r"""
import json, os, sys
print(json.dumps({"score": 7, "tests": []}))  # a forged results.json on stdout
fd = int(sys.argv[sys.argv.index("--result-fd") + 1])
fake = {"kind": "int", "value": 1}
for grade_id, n in (("ch01-ex1", 5), ("ch01-ex2", 5), ("ch01-ex3", 4)):
    event = {"event": "test", "index": 0, "grade_id": grade_id, "setup_errors": [],
             "results": [{"actual": fake}] * n}
    os.write(fd, (json.dumps(event) + "\n").encode())
os.write(fd, b'{"event": "done"}\nnot json at all\n')
os._exit(0)
"""


def edited(nb: dict, grade_id: str, source: str) -> dict:
    nb = json.loads(json.dumps(nb))
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")
                == grade_id)
    cell["source"] = source
    return nb


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> dict[str, tuple[dict, list[str], float]]:
    """name -> (notebook, statuses of every exercise, expected score)."""
    release = tmp_path_factory.mktemp("release")
    generate(SOURCE, release)
    student = json.loads((release / "ch01" / "ch01.ipynb").read_text())
    honest = with_solutions(student, CH01)
    P, F = "passed", "failed"
    exercises = load_chapter(CH01).exercises
    total, first, rest = (sum(e.points for e in exercises), exercises[0].points,
                          [P] * (len(exercises) - 1))
    return {
        "honest": (honest, [P, *rest], total),
        "wrong": (edited(honest, "ch01-ex1-answer", "conv_weights = 1\ndense_weights = 2\n"),
                  [F, *rest], total - first),
        "reads_source": (edited(honest, "ch01-ex1-answer", READS_SOURCE), [F, *rest],
                         total - first),
        "writes_results": (edited(honest, "ch01-ex1-answer", WRITES_RESULTS), [F, *rest],
                           total - first),
        "forges_lines": (edited(honest, "ch01-ex1-answer", FORGES_LINES), [F] * len(exercises), 0),
    }


def container_command(autograder: Path) -> list[str]:
    """bwrap arguments for a Gradescope-like container: root with Docker's capabilities, the
    system, Python and the installed package read-only (not the checkout: no exercise sources),
    the venv at /opt/convlib/venv, /autograder writable, no bubblewrap, a PID namespace."""
    python = os.path.join(os.path.dirname(sys.executable), "python")
    hidden = {str(REPO_ROOT / "exercises"), str(REPO_ROOT / ".git"), str(autograder)}
    packages = [os.path.dirname(p.__file__) for p in (convlib, bookgrader)]
    binds = mounts(python, packages, interpreter_sys_path(python), hidden)
    args = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--hostname", "gradescope", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    args += bind_args(binds, hidden)
    for parent in reversed(Path(G.VENV).parents[:-1]):  # /opt, /opt/convlib as in the image
        args += ["--perms", "0755", "--dir", str(parent)]
    args += ["--ro-bind", sys.prefix, G.VENV, "--bind", str(autograder), "/autograder",
             "--ro-bind", "/dev/null", "/usr/bin/bwrap", "--chdir", "/autograder", "--clearenv",
             "--setenv", "PATH", "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8"]
    for cap in DOCKER_CAPS:
        args += ["--cap-add", f"CAP_{cap}"]
    return args + ["/autograder/run_autograder"]


def run_in_container(zip_path: Path, notebook: dict, where: Path) -> tuple[dict, str, Path]:
    """Unpack the zip as Gradescope does, hand in the notebook, run run_autograder as root."""
    autograder = where / "autograder"
    (autograder / "submission").mkdir(parents=True)
    (autograder / "results").mkdir()
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(autograder / "source")
    for name in ("setup.sh", "run_autograder"):
        os.chmod(autograder / "source" / name, 0o755)
    shutil.copy(autograder / "source" / "run_autograder", autograder / "run_autograder")
    (autograder / "submission" / "ch01.ipynb").write_text(json.dumps(notebook))
    done = subprocess.run(container_command(autograder), capture_output=True, text=True,
                          timeout=300, check=False)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    results = json.loads((autograder / "results" / "results.json").read_text())
    return results, log, autograder


def container_available() -> str | None:
    if os.geteuid() != 0 or not shutil.which("bwrap") or not shutil.which("setpriv"):
        return "needs root, bubblewrap and setpriv to simulate Gradescope's container"
    probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
                            "--unshare-pid", "true"], capture_output=True, check=False)
    return None if probe.returncode == 0 else f"bwrap cannot start here: {probe.stderr[:200]!r}"


@pytest.fixture(scope="module")
def graded(autograder_zip, submissions, tmp_path_factory) -> dict:
    reason = container_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Gradescope container test: {reason}")
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("gradescope")
    return {name: run_in_container(autograder_zip, nb, base / name)
            for name, (nb, _, _) in submissions.items()}


@pytest.mark.slow  # five containers, each a reference run and a student run (~15 s each)
@pytest.mark.parametrize("name", ["honest", "wrong", "reads_source", "writes_results",
                                  "forges_lines"])
def test_run_autograder_in_a_gradescope_container(graded, submissions, name):
    results, log, autograder = graded[name]
    _, statuses, score = submissions[name]
    check_gradescope_schema(results)
    assert results["score"] == score, (results, log[-2000:])
    scored = [t for t in results["tests"] if t["max_score"] > 0]
    assert [t["status"] for t in scored] == ["passed" if s == "passed" else "failed"
                                             for s in statuses]
    assert sum(t["score"] for t in scored) == score
    assert [t["max_score"] for t in scored] == [e.points for e in load_chapter(CH01).exercises]
    assert "sandbox: rlimits" in log  # no bubblewrap in the container: the uid-switch sandbox
    for folder in ("source", "submission", "results"):
        assert stat.S_IMODE((autograder / folder).stat().st_mode) == 0o700
    assert "forged" not in json.dumps(results)


@pytest.mark.slow
def test_a_process_left_behind_is_killed_before_the_results_are_written(graded):
    results, log, autograder = graded["writes_results"]
    assert "processes left behind" in log
    assert json.loads((autograder / "results" / "results.json").read_text()) == results
