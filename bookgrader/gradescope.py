"""A Gradescope autograder for one chapter: the book's grader in Gradescope's container.

``python -m bookgrader gradescope CHAPTER --out DIR`` writes ``DIR/autograder-CHAPTER.zip``
(:func:`export`), in the layout of Gradescope's autograder specification: at its root

- ``setup.sh``: run once as root when Gradescope builds the image: installs Python, the book's
  package and its runtime dependencies at the versions pinned in ``constraints.txt`` (CPU wheels
  of torch) in ``/opt/convlib/venv``, then makes ``/autograder/source`` readable by root only;
- ``run_autograder``: run as root for each submission, in a fresh container, working folder
  ``/autograder``: ``python -m bookgrader.gradescope run`` (:func:`run_container`);
- ``convlib-autograder.json`` (the chapter, the limits), ``requirements.txt`` (the pins),
  ``package/`` (the ``convlib`` and ``bookgrader`` sources) and
  ``exercises/CHAPTER/CHAPTER.ipynb``: the exercise source, with the solutions and hidden checks,
  which never reaches a student.

In the container there is no bubblewrap (Docker forbids the namespaces it needs). Before any
student code runs, :func:`lock_down` makes the source, the submission and the results folders
root-only (mode 0700); the student's code then runs in the ``rlimits`` sandbox as a separate
unprivileged uid with no capabilities, under the seccomp filter (fail closed: no uid switch or no
filter, no grading), reads its job on
stdin, and its claims are judged against reference values that stay in the grader's memory; every
process it left behind is killed before ``/autograder/results/results.json`` is written.

``results.json`` follows Gradescope's format: top-level ``score``, ``output``, ``visibility``,
``stdout_visibility`` (hidden: the grading log is for instructors) and ``tests``, one per exercise
(``name``, ``number``, ``score``, ``max_score``, ``status``, ``output``, ``visibility: visible``),
plus, for an exercise with hidden checks, a zero-point entry with their feedback and
``visibility: after_published``: hidden-check details stay hidden until the instructor publishes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bookgrader.grader import ReferenceFailure, Result, grade
from bookgrader.notebook import MAX_NOTEBOOK_BYTES, Chapter, find_chapters, load_chapter
from bookgrader.report import atomic_write, fmt
from bookgrader.sandbox import UID_BASE, Limits, Sandbox, SandboxUnavailable, detect
from convlib.io import atomic_writer

CONTAINER_ROOT = Path("/autograder")
VENV = "/opt/convlib/venv"
CONFIG = "convlib-autograder.json"
STUDENT = "submission"  # the one student folder of a Gradescope run
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")  # Gradescope's values
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed: the same sources give the same zip
HIDDEN_LINE = re.compile(r"^[✓✗] hidden check ")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (cwd /autograder/source).
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip util-linux libseccomp2
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "the pinned dependencies need Python 3.11 or newer: choose a base image that has it" \\
         "(Ubuntu 24.04 ships 3.12) in the autograder settings" >&2
    exit 1
fi
python3 -m venv {venv}
{venv}/bin/pip install --upgrade pip
# CPU wheels of torch (no GPU in the container), every version pinned as on the book's machine
{venv}/bin/pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
{venv}/bin/pip install --no-deps ./package
# the exercise source (solutions, hidden checks) is readable by root only
chmod -R go-rwx /autograder/source
chmod 0755 {venv_parent} {venv}
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this as root for each submission, in a fresh container (cwd /autograder).
set -eu
exec {venv}/bin/python -I -m bookgrader.gradescope run --root /autograder
"""


# ----------------------------------------------------------------------------- export
def _dependency_names(pyproject: str) -> list[str]:
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", pyproject, re.DOTALL | re.MULTILINE)
    if not block:
        raise ValueError("pyproject.toml has no [project] dependencies list")
    return re.findall(r'"([A-Za-z0-9_.-]+)[^"]*"', block.group(1))


def pinned_requirements(root: Path) -> str:
    """The package's runtime dependencies at the versions of ``constraints.txt``."""
    pins = {}
    for line in (root / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and not name.startswith("#"):
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    lines = []
    for name in _dependency_names((root / "pyproject.toml").read_text(encoding="utf-8")):
        version = pins.get(re.sub(r"[-_.]+", "-", name).lower())
        if version is None:
            raise ValueError(f"{name} is not pinned in constraints.txt")
        lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def _package_files(root: Path) -> list[tuple[str, Path]]:
    """(name in the zip, file) of what ``pip install ./package`` needs."""
    files = [(f"package/{name}", root / name) for name in ("pyproject.toml", "README.md")]
    # both packages and the package-data of pyproject.toml
    for pattern in ("convlib/**/*.py", "bookgrader/**/*.py", "book/results/**/*.json"):
        files += [(f"package/{p.relative_to(root).as_posix()}", p)
                  for p in sorted(root.glob(pattern)) if "__pycache__" not in p.parts]
    return files


def _chapter_source(chapter: str, source_root: Path) -> Path:
    chapters = {p.stem: p for p in find_chapters(source_root)}
    if chapter not in chapters:
        raise ValueError(f"chapter must be one of {sorted(chapters)} (in {source_root}); "
                         f"got {chapter!r}")
    load_chapter(chapters[chapter])  # a source that breaks the format fails here, not on upload
    return chapters[chapter]


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def export(chapter: str, out: Path, source_root: Path, root: Path,
           limits: Limits | None = None) -> Path:
    """Write ``out/autograder-<chapter>.zip`` (see the module docstring); returns its path."""
    source = _chapter_source(chapter, Path(source_root))
    limits = limits or Limits()
    config = {"chapter": chapter, "timeout": limits.timeout, "cell_timeout": limits.cell_timeout,
              "memory": limits.memory}
    venv = VENV
    path = Path(out) / f"autograder-{chapter}.zip"
    with atomic_writer(path, binary=True) as handle, zipfile.ZipFile(handle, "w") as archive:
        _add(archive, "setup.sh", SETUP_SH.format(venv=venv, venv_parent=os.path.dirname(venv))
             .encode(), 0o755)
        _add(archive, "run_autograder", RUN_AUTOGRADER.format(venv=venv).encode(), 0o755)
        _add(archive, CONFIG, (json.dumps(config, indent=1) + "\n").encode())
        _add(archive, "requirements.txt", pinned_requirements(Path(root)).encode())
        for name, file in _package_files(Path(root)):
            _add(archive, name, file.read_bytes())
        _add(archive, f"exercises/{chapter}/{chapter}.ipynb", source.read_bytes())
    return path


# ----------------------------------------------------------------------------- in the container
def lock_down(root: Path) -> None:
    """Make the source, submission and results folders root-only, before any student code runs
    (the student's process runs as another uid, without capabilities: it can neither read the
    exercise source nor write results.json)."""
    for name in ("source", "submission", "results"):
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(folder, 0, 0, follow_symlinks=False)
        os.chmod(folder, 0o700)


def find_notebook(folder: Path, chapter: str) -> tuple[Path | None, str]:
    """The submitted notebook: ``CHAPTER.ipynb`` anywhere in the submission (links not followed),
    else its only ``.ipynb``; (None, why) when there is none or no single one."""
    named, others = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__MACOSX")))
        for name in sorted(filenames):
            if name == f"{chapter}.ipynb":
                named.append(Path(dirpath) / name)
            elif name.endswith(".ipynb") and not name.startswith("."):
                others.append(Path(dirpath) / name)
    candidates = named or others
    if len(candidates) == 1:
        return candidates[0], ""
    if not candidates:
        return None, f"no notebook was submitted (expected {chapter}.ipynb)"
    return None, (f"{len(candidates)} notebooks were submitted and not exactly one is named "
                  f"{chapter}.ipynb: submit {chapter}.ipynb only")


def _stage(notebook: Path, target: Path) -> str:
    """Copy the submitted notebook where the grader reads it; a reason when it cannot be."""
    info = os.lstat(notebook)
    if not stat.S_ISREG(info.st_mode):
        return "the submitted notebook is not a regular file"
    if info.st_size > MAX_NOTEBOOK_BYTES:
        return f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB"
    fd = os.open(notebook, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return ""


def container_sandbox(limits: Limits) -> tuple[Sandbox, list[str]]:
    """The sandbox in Gradescope's container: bubblewrap where it works; else (Docker forbids its
    namespaces) the rlimits sandbox, which this fresh container per submission bounds, under the
    same seccomp filter, as a separate unprivileged uid (lock_down made the secrets root-only).
    SandboxUnavailable when even that cannot be had: no seccomp filter, or no uid switch."""
    try:
        return detect(limits), []
    except SandboxUnavailable as error:
        why = str(error)
    box = Sandbox("rlimits", limits)
    reason = box.unavailable()
    if reason is None and not box.drop_uid:
        reason = ("student code would run as root (no setpriv, not root, or the Python "
                  "installation is not readable by other users)")
    if reason is not None:
        raise SandboxUnavailable(f"refusing to grade: {reason}; {why}")
    return box, [why]


def kill_leftovers(first_uid: int = UID_BASE, rounds: int = 50) -> int:
    """Kill every process of a sandbox uid (>= first_uid) that a submission left behind (no PID
    namespace in the rlimits sandbox); returns how many were killed."""
    killed = 0
    for _ in range(rounds):
        pids = []
        for entry in os.scandir("/proc"):
            try:
                if entry.name.isdigit() and entry.stat().st_uid >= first_uid:
                    pids.append(int(entry.name))
            except OSError:
                continue
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.05)
    return killed


def _not_graded(chapter: Chapter, note: str) -> list[Result]:
    return [Result(STUDENT, chapter.name, e.grade_id, e.title, e.points, "missing", note=note,
                   feedback=[f"Not graded: {note}."]) for e in chapter.exercises]


def results_json(chapter: Chapter, results: list[Result], seconds: float, note: str = "") -> dict:
    """Gradescope's results.json for one chapter's results (one per exercise, in order)."""
    tests = []
    for number, (exercise, res) in enumerate(zip(chapter.exercises, results, strict=True), 1):
        hidden = [line for line in res.feedback if HIDDEN_LINE.match(line)]
        shown = [line for line in res.feedback if not HIDDEN_LINE.match(line)]
        head = f"{res.status}: {fmt(res.points)} / {fmt(res.max_points)} points"
        tests.append({"name": f"{exercise.title} ({exercise.grade_id})", "number": str(number),
                      "score": res.points, "max_score": res.max_points,
                      "status": "passed" if res.status == "passed" else "failed",
                      "output": "\n".join([head + (f" ({res.note})" if res.note else "")] + shown),
                      "visibility": "visible"})
        if any(check.hidden for check in exercise.checks):
            tests.append({"name": f"{exercise.title} ({exercise.grade_id}): hidden checks",
                          "number": f"{number}.1", "score": 0.0, "max_score": 0.0,
                          "output": "\n".join(hidden) or f"not run ({res.note or res.status})",
                          "visibility": "after_published"})
    score = sum(r.points for r in results)
    summary = f"{chapter.name}: {fmt(score)} / {fmt(sum(r.max_points for r in results))} points"
    return {"score": score, "execution_time": round(seconds, 1),
            "output": summary + (f". {note}" if note else ""), "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def _grade_here(root: Path, config: dict, chapter: Chapter, work: Path) -> tuple[list, str]:
    """Grade the submission in ``root/submission``: (results, the grading log)."""
    notebook, note = find_notebook(root / "submission", chapter.name)
    student = work / "submissions" / STUDENT
    student.mkdir(parents=True)
    if notebook is not None:
        note = _stage(notebook, student / f"{chapter.name}.ipynb")
    if note:
        return _not_graded(chapter, note), note
    limits = Limits(timeout=float(config["timeout"]), cell_timeout=float(config["cell_timeout"]),
                    memory=int(config["memory"]))
    box, notes = container_sandbox(limits)
    results = grade(work / "submissions", work / "out", chapter.path.parent.parent,
                    [chapter.name], jobs=1, sandbox=box)
    log = (work / "out" / "grading.log").read_text(encoding="utf-8")
    return results, "\n".join([*(f"unavailable here: {n}" for n in notes), log])


def run_container(root: Path = CONTAINER_ROOT) -> int:
    """What ``run_autograder`` does: lock down, grade, kill leftovers, write results.json."""
    started = time.monotonic()
    root = Path(root)
    lock_down(root)
    config = json.loads((root / "source" / CONFIG).read_text(encoding="utf-8"))
    name = config["chapter"]
    chapter = load_chapter(root / "source" / "exercises" / name / f"{name}.ipynb")
    work = Path(tempfile.mkdtemp(prefix="convlib-gradescope-"))  # mode 0700, root's
    try:
        results, log = _grade_here(root, config, chapter, work)
    except (SandboxUnavailable, ReferenceFailure) as error:
        print(f"autograder error: {error}")
        payload = {"score": 0.0, "output": "The autograder could not grade this submission (its "
                   "set-up is broken, not your work): please tell your instructor.",
                   "stdout_visibility": "hidden", "tests": []}
        atomic_write(root / "results" / "results.json", json.dumps(payload, indent=1) + "\n")
        return 1
    finally:
        killed = kill_leftovers() if os.geteuid() == 0 else 0
        shutil.rmtree(work, ignore_errors=True)
    print(log + (f"\nkilled {killed} processes left behind" if killed else ""))
    payload = results_json(chapter, results, time.monotonic() - started)
    atomic_write(root / "results" / "results.json", json.dumps(payload, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bookgrader.gradescope run [--root /autograder]``: in the container."""
    parser = argparse.ArgumentParser(prog="python -m bookgrader.gradescope",
                                     description="grade a Gradescope submission (run_autograder)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="grade /autograder/submission into /autograder/results")
    run.add_argument("--root", type=Path, default=CONTAINER_ROOT)
    args = parser.parse_args(argv)
    return run_container(args.root)


if __name__ == "__main__":
    sys.exit(main())
