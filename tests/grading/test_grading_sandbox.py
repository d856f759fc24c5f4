"""The grading sandbox: fails closed, finds what it needs wherever Python and the checkout live.

The layout tests build real virtual environments and grade real submissions in bubblewrap. Where
bubblewrap cannot run they are skipped with the reason, except in CI (``CI`` set), where they fail:
CI must prove the isolation, not skip it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import bookgrader.sandbox as sandbox_module
from bookgrader import seccomp
from bookgrader.__main__ import main
from bookgrader.notebook import load_chapter
from bookgrader.sandbox import Limits, SandboxUnavailable, detect, strong_mode
from convlib.io import REPO_ROOT

SOURCE = REPO_ROOT / "exercises" / "source"
CH01_EXERCISES = len(load_chapter(SOURCE / "ch01" / "ch01.ipynb").exercises)
LIMITS = Limits(timeout=30, cell_timeout=5)
IN_CI = bool(os.environ.get("CI"))


def skip_or_fail(reason: str) -> None:
    """Outside CI a missing sandbox is a skip with its reason; in CI it is a failure."""
    if IN_CI:
        pytest.fail(f"CI must run the isolation tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def strong_sandbox():
    if shutil.which("bwrap") is None:
        skip_or_fail("bubblewrap is not installed (apt-get install bubblewrap)")
    try:
        box = detect(LIMITS)
    except SandboxUnavailable as error:
        skip_or_fail(str(error))
    yield box
    box.close()


def with_answer(nb: dict, grade_id: str, source: str) -> dict:
    nb = json.loads(json.dumps(nb))
    cell = next(c for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    cell["source"] = source
    return nb


def write_students(folder: Path, students: dict[str, dict]) -> None:
    for name, nb in students.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "ch01.ipynb").write_text(json.dumps(nb), encoding="utf-8")


def gradebook(out: Path) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["student"], []).append(row["status"])
    return rows


# ----------------------------------------------------------------------------- strong by default
def test_the_strong_sandbox_is_used_where_bubblewrap_is_present(strong_sandbox):
    """In CI (CI set, bubblewrap installed by .ci/run) grading runs in bwrap, or this fails."""
    assert strong_sandbox.mode == strong_mode()
    if os.geteuid() == 0:
        assert strong_sandbox.mode == "bwrap"
        assert strong_sandbox.protections_off == []


def hide_bwrap(monkeypatch, replacement: str | None) -> None:
    """shutil.which('bwrap') gives replacement (None: not installed) in the sandbox module."""
    real_which = shutil.which
    monkeypatch.setattr(sandbox_module.shutil, "which",
                        lambda name, *a, **k: replacement if name == "bwrap"
                        else real_which(name, *a, **k))


def test_grading_refuses_without_bubblewrap(tmp_path, monkeypatch, capsys, notebooks):
    hide_bwrap(monkeypatch, None)
    write_students(tmp_path / "subs", {"alice": notebooks["reference"]})
    code = main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")])
    message = capsys.readouterr().err.strip()
    assert code == 2
    assert "\n" not in message, "one message"
    assert f"refusing to grade: the {strong_mode()} sandbox" in message
    assert "bwrap is not installed" in message and "scripts/install-system-deps" in message
    assert "--allow-weak-sandbox" not in message, "no opt-in to weaker isolation"
    assert not (tmp_path / "out").exists(), "nothing is written when the run is refused"
    assert main(["sandbox"]) == 2


def test_grading_refuses_when_the_test_start_fails(tmp_path, monkeypatch, capsys, notebooks):
    hide_bwrap(monkeypatch, shutil.which("false") or "/bin/false")
    write_students(tmp_path / "subs", {"alice": notebooks["reference"]})
    assert main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err.strip()
    assert "a test start failed (exit status 1)" in message
    assert "scripts/install-system-deps" in message
    assert not (tmp_path / "out").exists()


USERNS_REFUSAL = "bwrap: setting up uid map: Permission denied"


def test_a_user_namespace_refusal_names_apparmor_and_the_one_fix(tmp_path, monkeypatch, capsys,
                                                                notebooks):
    """Ubuntu 23.10+ (GitHub's runners, laptops): AppArmor refuses bwrap a user namespace. A
    stand-in bwrap first on PATH fails as the real one does there; the refusal names the cause
    and the one command that fixes it (issue 28 item 2)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bwrap").write_text(f"#!/bin/sh\necho '{USERNS_REFUSAL}' >&2\nexit 1\n")
    (bin_dir / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    assert shutil.which("bwrap") == str(bin_dir / "bwrap")
    write_students(tmp_path / "subs", {"alice": notebooks["reference"]})
    assert main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err.strip()
    assert USERNS_REFUSAL.split(": ", 1)[1] in message, message
    assert "AppArmor" in message and "kernel.apparmor_restrict_unprivileged_userns" in message
    assert "Ubuntu 23.10" in message and "/usr/bin/bwrap" in message
    assert "sudo scripts/install-system-deps" in message
    assert not (tmp_path / "out").exists()


def test_grading_refuses_without_the_seccomp_filter(tmp_path, monkeypatch, capsys, notebooks):
    """No libseccomp binding: no filter, so no grading (fail closed), and the fix is named."""
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # import pyseccomp raises ImportError
    seccomp.rules.cache_clear()  # a filter built by an earlier test must not be reused
    seccomp.program.cache_clear()
    try:
        write_students(tmp_path / "subs", {"alice": notebooks["reference"]})
        assert main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 2
        message = capsys.readouterr().err.strip()
        assert "no seccomp filter" in message and "pyseccomp" in message, message
        assert "scripts/install-system-deps" in message
        assert not (tmp_path / "out").exists()
        assert main(["sandbox"]) == 2
    finally:
        seccomp.rules.cache_clear()
        seccomp.program.cache_clear()


def test_there_is_no_weaker_mode_to_opt_into(capsys):
    """The escape hatch is gone: --allow-weak-sandbox and --sandbox are unknown options, and
    detect() gives the one sandbox for this user or refuses."""
    for flag in (["--allow-weak-sandbox"], ["--sandbox", "rlimits"]):
        with pytest.raises(SystemExit) as stop:
            main(["grade", "subs", *flag])
        assert stop.value.code == 2
        assert "unrecognized arguments" in capsys.readouterr().err
    with pytest.raises(TypeError):
        detect("rlimits", LIMITS)  # no mode to ask for


@pytest.mark.slow  # a grading run in a real sandbox
def test_without_a_cgroup_the_log_and_every_note_say_so(strong_sandbox, notebooks, tmp_path,
                                                        monkeypatch):
    """Where no cgroup per submission can be made, grading goes on with the per-process limits,
    and says so in the log, in every gradebook note and in every feedback file."""
    why = "no cgroup per submission can be made here (v1: test): memory and processes are " \
          "limited per process only (rlimits)"
    monkeypatch.setattr(sandbox_module, "open_cgroups", lambda memory, processes: (None, why))
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_students(subs, {"alice": notebooks["reference"]})
    argv = ["grade", str(subs), "--out", str(out), "--chapter", "ch01", "--timeout", "30"]
    assert main(argv) == 0
    assert gradebook(out)["alice"] == ["passed"] * CH01_EXERCISES
    assert f"OFF: {why}" in (out / "grading.log").read_text(encoding="utf-8").splitlines()[0]
    with open(out / "gradebook.csv", encoding="utf-8") as handle:
        assert all(why in row["note"] for row in csv.DictReader(handle))
    assert why in (out / "feedback" / "alice.md").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- no phantom students
def test_a_submissions_folder_without_student_folders_is_an_error(tmp_path, capsys):
    (tmp_path / "subs" / ".git").mkdir(parents=True)
    (tmp_path / "subs" / "notes.txt").write_text("not a student")
    assert main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 2
    message = capsys.readouterr().err
    assert "no student folder in" in message and "SUBMISSIONS/alice/ch01.ipynb" in message
    assert not (tmp_path / "out").exists()
    assert main(["grade", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]) == 2
    assert "no such folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------- layouts
READS_SOURCES = r"""
import os, re
import convlib
checkout = os.path.dirname(os.path.dirname(convlib.__file__))
found = dict()
for path in (os.path.join(checkout, "exercises", "source", "ch01", "ch01.ipynb"),
             os.path.join(checkout, "backup-ch01.ipynb"), {source!r}):
    try:
        text = open(path).read()
    except OSError:
        continue
    for name, value in re.findall(r"check\((\w+), (\d+), what", text):
        found[name] = int(value)
conv_weights = found.get("conv_weights", 1)
dense_weights = found.get("dense_weights", 1)
"""


def make_venv(where: Path, lines: list[str]) -> Path:
    """A venv of this Python with a .pth file: the checkout and/or the project's site folder."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (where / "lib" / version / "site-packages" / "course.pth").write_text("\n".join(lines) + "\n")
    return where


def make_checkout(where: Path) -> Path:
    """The package and the exercise sources, copied (a checkout somewhere else)."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "convlib", where / "convlib", ignore=ignore)
    shutil.copytree(REPO_ROOT / "bookgrader", where / "bookgrader", ignore=ignore)
    shutil.copytree(SOURCE, where / "exercises" / "source", ignore=ignore)
    # a stray copy of a source beside the package: the checkout itself must stay out of reach
    shutil.copy(SOURCE / "ch01" / "ch01.ipynb", where / "backup-ch01.ipynb")
    return where


@pytest.mark.slow  # an end-to-end grading batch in real sandboxes
@pytest.mark.parametrize("layout", ["venv_outside_checkout", "venv_through_symlink",
                                    "checkout_in_tmp"])
def test_grading_in_bwrap_works_wherever_the_venv_and_checkout_live(
    layout, strong_sandbox, notebooks, tmp_path
):
    site = sysconfig.get_paths()["purelib"]  # torch, numpy...: the project's venv
    add_site = f"import site; site.addsitedir({site!r})"
    if layout == "checkout_in_tmp":
        checkout = make_checkout(tmp_path / "checkout")
        python = make_venv(tmp_path / "venv", [str(checkout), add_site]) / "bin" / "python"
    elif layout == "venv_through_symlink":
        make_venv(tmp_path / "real" / "venv", [add_site])
        (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
        checkout, python = REPO_ROOT, tmp_path / "link" / "venv" / "bin" / "python"
    else:
        checkout = REPO_ROOT
        python = make_venv(tmp_path / "venv", [add_site]) / "bin" / "python"
    source = checkout / "exercises" / "source" / "ch01" / "ch01.ipynb"
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_students(subs, {
        "alice": notebooks["reference"], "bob": notebooks["released"],
        "mallory": with_answer(notebooks["reference"], "ch01-ex1-answer",
                               READS_SOURCES.format(source=str(source))),
    })
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "HOME": str(tmp_path), "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [str(python), "-m", "bookgrader", "grade", str(subs), "--out", str(out),
         "--chapter", "ch01", "--timeout", "30", "--cell-timeout", "5"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (out / "grading.log").read_text(encoding="utf-8")
    assert f"sandbox: {strong_sandbox.mode}, seccomp filter" in log.splitlines()[0], log
    rows = gradebook(out)
    assert rows["alice"] == ["passed"] * CH01_EXERCISES, log
    assert rows["bob"] == ["failed"] * CH01_EXERCISES, log
    # the sources are not in the sandbox, even where the checkout is on sys.path
    assert rows["mallory"] == ["failed"] + ["passed"] * (CH01_EXERCISES - 1), log


def test_prlimit_flags_and_python_rlimits_state_the_same_limits():
    """The prlimit(1) flags and the list Python sets where prlimit is missing (the rlimits sandbox
    without prlimit) are one rule written twice: every flag matches its RLIMIT, CPU included."""
    flag_of = {"RLIMIT_AS": "as", "RLIMIT_DATA": "data", "RLIMIT_CPU": "cpu",
               "RLIMIT_NPROC": "nproc", "RLIMIT_FSIZE": "fsize", "RLIMIT_NOFILE": "nofile",
               "RLIMIT_CORE": "core"}
    limits = Limits(timeout=42, memory=3 * 2**30, processes=17, open_files=99)
    flags = dict(arg[2:].split("=", 1) for arg in limits.prlimit_args())
    from_rlimits = {flag_of[name]: str(soft) if soft == hard else f"{soft}:{hard}"
                    for name, soft, hard in limits.rlimits()}
    assert from_rlimits == flags
    assert flags["cpu"] == "47:49" and flags["nproc"] == "17"
