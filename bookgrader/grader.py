"""The trusted side: reference values, judging a submission's JSON, the gradebook, feedback, log.

Nothing a student wrote runs here. A submission is read as JSON (:mod:`.notebook`), its code runs
in a sandbox (:mod:`.sandbox`), and what comes back is a list of claims about plain values, judged
with :func:`bookgrader.values.compare` against the values the instructor's source produced in
its own sandbox run. One submission's failure is that submission's status, never the batch's.
"""

from __future__ import annotations

import copy
import os
import queue
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from bookgrader.cgroups import protect_grader
from bookgrader.manifest import write_manifest
from bookgrader.notebook import (
    Chapter,
    Check,
    Exercise,
    Malformed,
    Plan,
    find_chapters,
    load_chapter,
    plan_reference,
    plan_submission,
    read_submission,
    submission_path,
)
from bookgrader.report import atomic_write, clean, display_name, fmt, untrusted, write_outputs
from bookgrader.sandbox import Limits, RunResult, Sandbox, detect
from bookgrader.values import compare
from convlib.shards import parse_shard

TOO_LARGE = "output too large"  # the status of a run whose results passed the cap


class ReferenceFailure(RuntimeError):
    """The instructor's source does not pass its own checks: nothing can be graded against it."""


@dataclass
class Result:
    student: str
    chapter: str
    exercise: str
    title: str
    max_points: float
    status: str
    points: float = 0.0
    note: str = ""
    feedback: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- reference
def _reference_expected(where: str, exercise: Exercise, event: dict) -> list[dict]:
    """The expected values of one exercise's checks, after checking the reference passes them."""
    if event.get("setup_errors"):
        error = event["setup_errors"][0]
        raise ReferenceFailure(
            f"{where} {exercise.grade_id}: the test cell's imports or hidden "
            f"helpers raised {error['type']}: {error['message']}"
        )
    values = []
    for check, result in zip(exercise.checks, event["results"], strict=True):
        for key in ("actual", "expected"):
            if "error" in result[key]:
                error = result[key]["error"]
                raise ReferenceFailure(
                    f"{where} {exercise.grade_id}: computing the {key} value of "
                    f"check({check.actual}, ...) raised {error['type']}: "
                    f"{error['message']}"
                )
        problem = compare(result["actual"], result["expected"], check.tol)
        if problem:
            raise ReferenceFailure(f"{where} {exercise.grade_id}: the reference solution fails "
                                   f"check({check.actual}, ...): {problem[1]}")
        values.append(result["expected"])
    return values


def reference_values(chapter: Chapter, sandbox: Sandbox) -> dict[str, list[dict]]:
    """Run the source in a sandbox; the expected value of every check, after checking that the
    reference solution passes all of them."""
    plan = plan_reference(chapter)
    # the instructor's code, hidden helpers included: three times the limits, so that a busy
    # machine does not stop the whole batch (the same sandbox otherwise)
    reference_box = copy.copy(sandbox)
    reference_box.limits = replace(sandbox.limits, timeout=3 * sandbox.limits.timeout,
                                   cell_timeout=3 * sandbox.limits.cell_timeout)
    run = reference_box.run({"cells": plan.cells}, slot=0)
    where = f"{chapter.path}"
    if not run.done:
        raise ReferenceFailure(
            f"{where}: the reference run did not finish ({_ending(run, reference_box)[1]}); "
            f"stderr: {clean(run.stderr_head, 500)}"
        )
    expected: dict[str, list[dict]] = {}
    for event in run.events:
        if event.get("event") == "cell" and event.get("error"):
            label = plan.labels.get(event.get("index"), "a cell")
            error = event["error"]
            raise ReferenceFailure(f"{where}: {label} raised {error['type']}: {error['message']}")
        if event.get("event") != "test":
            continue
        exercise = chapter.exercise(event["grade_id"])
        expected[exercise.grade_id] = _reference_expected(where, exercise, event)
    missing = [e.grade_id for e in chapter.exercises if e.grade_id not in expected]
    if missing:
        raise ReferenceFailure(f"{where}: no reference values for {missing}")
    return expected


# ----------------------------------------------------------------------------- judging
def _ending(run: RunResult, sandbox: Sandbox) -> tuple[str, str]:
    """(status, note) for exercises a run never reached."""
    if run.results_overflow:
        return (TOO_LARGE, f"output too large: the results sent back exceeded "
                           f"{sandbox.limits.results / 2**20:g} MiB")
    if run.timed_out or run.signal == "SIGXCPU":
        return "timeout", f"the notebook ran past its {sandbox.limits.timeout:g} s time limit"
    if run.oom_kills:
        return "memory", (f"the notebook used more than its {sandbox.limits.memory / 2**30:g} GiB "
                          "of memory and the system stopped it")
    if run.sandbox_failure:
        return "crashed", (f"{clean(run.sandbox_failure, 200)}: not caused by the notebook, "
                           "which should be graded again")
    if run.signal == "SIGKILL":
        return "memory", "the process was killed by the system (most likely out of memory)"
    if run.signal == "SIGXFSZ":
        return "crashed", "the process wrote a file larger than the limit"
    if run.signal:
        return "crashed", f"the process died of {run.signal}"
    return ("crashed",
            f"the process exited (status {run.returncode}) before this exercise was graded")


def _valid_value(value: object) -> bool:
    return isinstance(value, dict) and (
        (isinstance(value.get("kind"), str) and "value" in value)
        or isinstance(value.get("error"), dict)
    )


def _events_by_kind(run: RunResult) -> tuple[dict[int, dict], dict[str, dict], set[str]]:
    """The first error of each cell, the first test event of each exercise, and the exercises
    whose test event came more than once (a forged stream)."""
    cell_errors: dict[int, dict] = {}
    tests: dict[str, dict] = {}
    duplicated: set[str] = set()
    for event in run.events:
        index = event.get("index")
        if (event.get("event") == "cell" and isinstance(index, int)
            and isinstance(event.get("error"), dict)):
            cell_errors.setdefault(index, event["error"])
        elif event.get("event") == "test" and isinstance(event.get("grade_id"), str):
            if event["grade_id"] in tests:
                duplicated.add(event["grade_id"])
            tests.setdefault(event["grade_id"], event)
    return cell_errors, tests, duplicated


def _sections(plan: Plan) -> dict[str, list[int]]:
    """For each exercise, the job indices of the cells between the previous test step and its own
    (the code whose errors explain its failed checks)."""
    sections: dict[str, list[int]] = {}
    pending: list[int] = []
    for index, cell in enumerate(plan.cells):
        if cell["type"] == "test":
            sections[cell["grade_id"]] = pending
            pending = []
        else:
            pending.append(index)
    return sections


def _cell_error_feedback(errors: list[tuple[str, dict]], sandbox: Sandbox) -> list[str]:
    """Feedback lines for the first three errors of an exercise's cells."""
    lines = []
    for label, error in errors[:3]:
        if error.get("timeout"):
            lines.append(f"{label} ran past the {sandbox.limits.cell_timeout:g} s time limit")
        else:
            lines.append(f"{label} raised {untrusted(error.get('type'), 80)}: "
                         f"{untrusted(error.get('message'), 200)}")
    return lines


def _results_fit(results_list: object, exercise: Exercise) -> bool:
    """Whether a test event's results are one well-formed claim per check of the exercise."""
    return (
        isinstance(results_list, list)
        and len(results_list) == len(exercise.checks)
        and all(isinstance(r, dict) and _valid_value(r.get("actual")) for r in results_list)
    )


def _probe_error(error: dict, check: Check, sandbox: Sandbox) -> str:
    """Why a check whose probe raised failed, in words (a hidden check shows only the type)."""
    kind = untrusted(error.get("type"), 80)
    if kind == "NotPlainData":
        return "did not give plain data (a number, list or tensor)"
    if error.get("timeout"):
        return f"ran past the {sandbox.limits.cell_timeout:g} s time limit"
    if check.hidden:
        return f"raised {kind}"
    return f"raised {kind}: {untrusted(error.get('message'), 200)}"


def _judge_checks(res: Result, exercise: Exercise, results_list: list[dict],
                  expected: list[dict], errors: list[tuple[str, dict]], sandbox: Sandbox) -> None:
    """Judge each check's claim against its expected value: res's feedback, status and points."""
    passed, memory = 0, any(e.get("memory") for _, e in errors)
    timeouts = sum(1 for _, e in errors if e.get("timeout"))
    for number, (check, result, want) in enumerate(
        zip(exercise.checks, results_list, expected, strict=True), start=1
    ):
        actual = result["actual"]
        label = f"hidden check {number}: {check.what}" if check.hidden else check.what
        if "error" in actual:
            error = actual["error"]
            memory = memory or bool(error.get("memory"))
            timeouts += bool(error.get("timeout"))
            res.feedback.append(f"✗ {label}: {_probe_error(error, check, sandbox)}")
            continue
        problem = compare(actual, want, check.tol)
        if problem is None:
            passed += 1
            res.feedback.append(f"✓ {label}")
        elif check.hidden:
            res.feedback.append(f"✗ {label}: wrong {problem[0]}")
        else:
            res.feedback.append(f"✗ {label}: {untrusted(problem[1], 300)}")
    if passed == len(exercise.checks):
        res.status, res.points = "passed", exercise.points
    else:
        res.status = "memory" if memory else "timeout" if timeouts else "failed"
        res.note = f"{passed}/{len(exercise.checks)} checks passed"


def judge(chapter: Chapter, student: str, plan: Plan, run: RunResult,
          expected: dict[str, list[dict]], sandbox: Sandbox) -> list[Result]:
    """Per-exercise results from a run's events (each a claim, checked against expected values)."""
    cell_errors, tests, duplicated = _events_by_kind(run)
    sections = _sections(plan)
    end_status, end_note = _ending(run, sandbox)
    results = []
    for exercise in chapter.exercises:
        res = Result(
            student, chapter.name, exercise.grade_id, exercise.title, exercise.points, "failed"
        )
        results.append(res)
        if exercise.grade_id in plan.tampered:
            res.status, res.note = "tampered", plan.tampered[exercise.grade_id]
            res.feedback.append(
                f"Not graded: {res.note}. Locked and test cells must stay as released."
            )
            continue
        errors = [(plan.labels.get(i, "a cell"), cell_errors[i])
                  for i in sections.get(exercise.grade_id, []) if i in cell_errors]
        res.feedback.extend(_cell_error_feedback(errors, sandbox))
        event = tests.get(exercise.grade_id)
        results_list = event.get("results") if event else None
        if (event is None or exercise.grade_id in duplicated
                or not _results_fit(results_list, exercise)):
            if event is None:
                res.status, res.note = end_status, end_note
            else:
                res.status, res.note = "malformed", "the sandbox sent back results that do not fit"
            res.feedback.append(f"Not graded: {untrusted(res.note, 400)}.")
            continue
        _judge_checks(res, exercise, results_list, expected[exercise.grade_id], errors, sandbox)
    return results


def _read_plan(chapter: Chapter, student_dir: Path) -> tuple[Plan | None, str, str]:
    """The job of a student's notebook, read as JSON only; or (None, status, note) for why not.
    A symbolic link on the way (the student's folder, a chapter folder, the notebook) is never
    followed."""
    if os.path.islink(student_dir):
        return None, "malformed", "the student folder is a symbolic link (not followed)"
    path = submission_path(student_dir, chapter.name)
    link = next((p for p in path.relative_to(student_dir).parents
                 if p != Path(".") and os.path.islink(student_dir / p)), None)
    if link is not None:
        return None, "malformed", f"{link.as_posix()} is a symbolic link (not followed)"
    if not os.path.lexists(path):
        return None, "missing", f"no {chapter.name}.ipynb was submitted"
    try:
        nb = read_submission(path)
    except Malformed as error:
        return None, "malformed", str(error)
    except OSError as error:
        return None, "malformed", f"the notebook cannot be read ({error.strerror})"
    try:
        return plan_submission(chapter, nb), "", ""
    except Exception as error:  # noqa: BLE001 - whatever a notebook holds, it stays its own problem
        return None, "malformed", f"the notebook's cells cannot be read ({type(error).__name__})"


def grade_one(
    chapter: Chapter, expected: dict, student: str, student_dir: Path, sandbox: Sandbox, slot: int
) -> tuple[list[Result], RunResult | None, str]:
    """Grade one student's notebook of one chapter; never raises for the submission's content."""

    def all_as(status: str, note: str) -> list[Result]:
        return [
            Result(student, chapter.name, e.grade_id, e.title, e.points, status, note=note,
                   feedback=[f"Not graded: {untrusted(note, 400)}."])
            for e in chapter.exercises
        ]

    plan, status, note = _read_plan(chapter, student_dir)
    if plan is None:
        return all_as(status, note), None, ""
    run = sandbox.run({"cells": plan.cells}, slot=slot)
    try:
        results = judge(chapter, student, plan, run, expected, sandbox)
    except Exception as error:  # noqa: BLE001 - forged results must not stop the batch
        return (all_as("malformed", f"the results could not be judged ({type(error).__name__})"),
                run, "")
    extra = ""
    dropped = next((e.get("dropped_output", 0) for e in run.events if e.get("event") == "done"), 0)
    if run.stdout_bytes + run.stderr_bytes > 2 * sandbox.limits.output or dropped:
        extra = "output was capped (only the first MiB is kept)"
        for res in results:
            res.feedback.append(
                f"Note: your notebook printed a lot; {extra}, and output does not count."
            )
    return results, run, extra


# ----------------------------------------------------------------------------- batch
LAYOUT = ("one folder per student, each holding that student's notebooks, e.g. "
          "SUBMISSIONS/alice/ch01.ipynb and SUBMISSIONS/bob/ch01.ipynb")


class NoSubmissions(ValueError):
    """The submissions folder holds no student folder (the message gives the expected layout)."""


def students_in(folder: Path) -> list[str]:
    """The student folders of folder (their names as on disk, any bytes), hidden ones left out.
    Nothing inside a student's folder decides whether it is a student: the grader's output may
    not lie in the submissions folder at all (:func:`grade` refuses it)."""
    return sorted(entry.name for entry in os.scandir(folder)
                  if not entry.name.startswith(".")
                  and (entry.is_dir(follow_symlinks=False) or entry.is_symlink()))


def _inside(path: Path, folder: Path) -> bool:
    real, parent = os.path.realpath(path), os.path.realpath(folder)
    return real == parent or real.startswith(parent.rstrip(os.sep) + os.sep)


def _students_or_fail(submissions: Path, out: Path) -> list[str]:
    if not Path(submissions).is_dir():
        raise NoSubmissions(f"no such folder: {submissions}; expected {LAYOUT}")
    if _inside(out, submissions) or _inside(submissions, out):
        raise ValueError(f"the output folder ({out}) must lie outside the submissions folder "
                         f"({submissions}), and the submissions outside it: choose another --out")
    students = students_in(submissions)
    if not students:
        raise NoSubmissions(f"no student folder in {submissions}: expected {LAYOUT} (hidden "
                            f"folders are not students)")
    return students


def _chapter_names(sources: dict, chapters: list[str] | None, submissions: Path,
                   students: list[str], source_root: Path) -> list[str]:
    if chapters:
        unknown = [c for c in chapters if c not in sources]
        if unknown:
            raise ValueError(f"no exercise source for {unknown} in {source_root}")
        return list(chapters)
    return [c for c in sources
            if any(os.path.lexists(submission_path(submissions / s, c)) for s in students)
            ] or list(sources)


def _safe_grade_one(chapter: Chapter, expected: dict, student: str, folder: Path,
                    sandbox: Sandbox, slots: queue.Queue):
    """grade_one, where even a grader bug stays this submission's status (and is logged)."""
    slot = slots.get()
    try:
        return grade_one(chapter, expected, student, folder, sandbox, slot)
    except Exception as error:  # noqa: BLE001 - a grader bug is logged, the batch goes on
        note = f"internal grading error ({type(error).__name__}: {clean(error, 150)})"
        rows = [Result(student, chapter.name, e.grade_id, e.title, e.points, "crashed", note=note,
                       feedback=[f"Not graded: {untrusted(note, 400)}."])
                for e in chapter.exercises]
        return rows, None, traceback.format_exc(limit=5)
    finally:
        slots.put(slot)


def _log_line(name: str, student: str, rows: list[Result], run: RunResult | None,
              extra: str) -> str:
    summary = ", ".join(f"{r.exercise}={r.status}" for r in rows)
    detail = ""
    if run is not None:
        detail = (f" [{run.duration:.1f} s, exit {run.returncode}"
                  f"{', ' + run.signal if run.signal else ''}"
                  f"{', timed out' if run.timed_out else ''}"
                  f"{f', {run.oom_kills} killed for memory' if run.oom_kills else ''}"
                  f"{', ' + run.sandbox_failure if run.sandbox_failure else ''}, output "
                  f"{run.stdout_bytes + run.stderr_bytes} B"
                  f"{f', {run.bad_lines} bad result lines' if run.bad_lines else ''}]")
        if run.stderr_head and not run.done:
            detail += f" stderr: {clean(run.stderr_head[-300:])}"
    return (f"{name} {clean(student, 80)}: {fmt(sum(r.points for r in rows))} points; {summary}"
            f"{detail}{'; ' + clean(extra, 2000) if extra else ''}")


def _grade_chapter(path: Path, submissions: Path, students: dict[str, str], sandbox: Sandbox,
                   jobs: int, log) -> list[Result]:
    """One chapter for every student (folder name on disk -> name shown), jobs at a time."""
    chapter = load_chapter(path)
    t0 = time.monotonic()
    expected = reference_values(chapter, sandbox)
    log(f"{chapter.name}: reference run passed all checks in {time.monotonic() - t0:.1f} s")
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(jobs):
        slots.put(slot)
    results: list[Result] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        graded = pool.map(lambda folder: _safe_grade_one(
            chapter, expected, students[folder], submissions / folder, sandbox, slots), students)
        for student, (rows, run, extra) in zip(students.values(), graded, strict=True):
            results.extend(rows)
            log(_log_line(chapter.name, student, rows, run, extra))
    return results


def _prepare(submissions: Path, out: Path, source_root: Path, sandbox: Sandbox | None,
             limits: Limits | None) -> tuple[list[str], Sandbox]:
    """Everything that can refuse the run, before anything is written: students, sandbox."""
    students = _students_or_fail(submissions, out)
    hidden = (source_root, submissions, out)
    if sandbox is None:
        sandbox = detect(limits, hidden=hidden)
    else:
        sandbox.protect(*hidden)
    return students, sandbox


def grade(submissions: Path, out: Path, source_root: Path, chapters: list[str] | None = None,
          jobs: int = 2, sandbox: Sandbox | None = None, limits: Limits | None = None,
          shard=None) -> list[Result]:
    """Grade the student folders of ``submissions`` (of ``shard`` "i/n" only); write the outputs.

    Before writing anything: :class:`NoSubmissions` without a student folder, ValueError when the
    output folder and the submissions overlap, and :class:`~bookgrader.sandbox.SandboxUnavailable`
    without the sandbox (bubblewrap and the seccomp filter). A student folder whose name cannot be
    shown as it is (not UTF-8, control characters, too long) is graded under
    :func:`~bookgrader.report.display_name`."""
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    shard = parse_shard(shard) if shard is not None else None
    started = time.monotonic()
    submissions, out = Path(submissions), Path(out)
    own_sandbox = sandbox is None  # the caller's own sandbox stays open for its next run
    folders, sandbox = _prepare(submissions, out, Path(source_root), sandbox, limits)
    protect_grader()  # a submission that exhausts memory is killed before the grader
    out.mkdir(parents=True, exist_ok=True)
    log_lines: list[str] = []

    def log(message: str) -> None:
        log_lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}")

    try:
        log(sandbox.describe())
        sources = {p.stem: p for p in find_chapters(Path(source_root))}
        names = _chapter_names(sources, chapters, submissions, folders, source_root)
        students = {f: display_name(f) for f in folders}
        students = {f: s for f, s in students.items() if shard is None or shard.holds(s)}
        log(f"{len(students)} students{f' of shard {shard}' if shard else ''}, chapters {names}, "
            f"{jobs} in parallel")
        results: list[Result] = []
        for name in names:
            results += _grade_chapter(sources[name], submissions, students, sandbox, jobs, log)
        results.sort(key=lambda r: (r.student, names.index(r.chapter)))
        write_outputs(out, results, sandbox.protections_off)
        write_manifest(out, shard, names, results, sandbox.protections_off)
        log(f"done: {len(students)} students graded in {time.monotonic() - started:.1f} s; "
            f"gradebook {out / 'gradebook.csv'}")
        return results
    except Exception as error:
        log(f"ERROR: {error}")
        raise
    finally:
        if own_sandbox:
            sandbox.close()
        atomic_write(out / "grading.log", "\n".join(log_lines) + "\n")
