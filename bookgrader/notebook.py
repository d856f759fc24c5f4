"""Exercise notebooks: the instructor's sources, their tests as probes, and students' submissions.

Everything here runs in the trusted grader and only *reads* notebooks as JSON: no student code
runs, and a submission is never followed through a symbolic link.

A source notebook (``exercises/source/<chapter>/<chapter>.ipynb``) is in nbgrader's format. Its
graded **test cells** (``nbgrader: {grade: true, locked: true, points, grade_id}``) may only hold:

- ``import`` statements and ``check(ACTUAL, EXPECTED, what="...", tol=...)`` calls (the visible
  part, which students see and run with :func:`bookgrader.check`);
- between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``: more ``check`` calls, and any
  helper code (imports, functions, constants) used by their EXPECTED expressions.

ACTUAL is a *probe*: an expression over the student's names made of names, attributes, calls,
subscripts, arithmetic and literals (no comparison, no ``and``/``or``, no lambda). Only the probes
are sent to a student's sandbox; EXPECTED is evaluated in the reference run of the source and never
leaves the grader.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
MAX_NOTEBOOK_BYTES = 16 * 2**20


class SourceError(ValueError):
    """An exercise source notebook breaks the format (an instructor's error, not a student's)."""


class Malformed(ValueError):
    """A submitted notebook cannot be read as a notebook."""


@dataclass
class Check:
    actual: str  # the probe, evaluated in the student's sandbox
    expected: str  # evaluated only in the reference run
    what: str
    tol: float | None
    hidden: bool


@dataclass
class Exercise:
    grade_id: str
    title: str
    points: float
    checks: list[Check]
    imports: str  # the visible imports of the test cell (run before its probes)
    helpers: str  # the hidden helper code (reference run only)


@dataclass
class LockedCell:
    grade_id: str
    cell_type: str
    source: str  # as students get it (hidden tests removed)
    checksum: str
    exercise: str | None  # the exercise whose test cell this is; None for other locked cells


@dataclass
class Chapter:
    name: str
    path: Path
    cells: list[dict]
    exercises: list[Exercise]
    locked: dict[str, LockedCell] = field(default_factory=dict)

    @property
    def max_points(self) -> float:
        return sum(e.points for e in self.exercises)

    def exercise(self, grade_id: str) -> Exercise:
        return next(e for e in self.exercises if e.grade_id == grade_id)


# ----------------------------------------------------------------------------- helpers
def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata")
    found = meta.get("nbgrader") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def checksum(source: str) -> str:
    """A checksum insensitive to line endings, trailing spaces and surrounding blank lines."""
    lines = [line.rstrip() for line in source.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return hashlib.sha256("\n".join(lines).strip("\n").encode("utf-8")).hexdigest()


def split_hidden(source: str) -> tuple[str, str]:
    """(visible, hidden) parts of a test cell, split the way nbgrader's ClearHiddenTests does."""
    visible, hidden, inside = [], [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            if inside:
                raise SourceError("nested BEGIN HIDDEN TESTS")
            inside = True
        elif END_HIDDEN in line:
            inside = False
        else:
            (hidden if inside else visible).append(line)
    if inside:
        raise SourceError("BEGIN HIDDEN TESTS without END HIDDEN TESTS")
    return "\n".join(visible), "\n".join(hidden)


_PROBE_NODES = (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple, ast.Dict,
                ast.Set, ast.UnaryOp, ast.USub, ast.UAdd, ast.BinOp, ast.Add, ast.Sub, ast.Mult,
                ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult, ast.Call, ast.keyword,
                ast.Attribute, ast.Subscript, ast.Slice)


def validate_probe(expr: ast.expr, forbidden_names: set[str], where: str) -> str:
    """The probe's source, after checking it only computes (no comparison, no hidden name)."""
    for node in ast.walk(ast.Expression(body=expr)):
        if not isinstance(node, _PROBE_NODES):
            raise SourceError(f"{where}: the first argument of check() may only use names, calls, "
                              f"attributes, subscripts, arithmetic and literals, not "
                              f"{type(node).__name__} (the comparison belongs to check itself)")
        if isinstance(node, ast.Name) and node.id in forbidden_names:
            raise SourceError(f"{where}: the probe uses {node.id!r}, which the test cell defines; "
                              f"probes run in the student's namespace, so write its value inline")
        if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            raise SourceError(f"{where}: probes may not use dunder attributes ({node.attr})")
    return ast.unparse(expr)


def _bound_names(statements: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in statements:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
    return names


def _is_check(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "check")


def _parse_check(call: ast.Call, hidden: bool, forbidden: set[str], where: str) -> Check:
    args = list(call.args)
    kwargs = {k.arg: k.value for k in call.keywords}
    if None in kwargs or any(isinstance(a, ast.Starred) for a in args) or not 2 <= len(args) <= 3:
        raise SourceError(f"{where}: write check(actual, expected, what=..., tol=...)")
    if len(args) == 3:
        kwargs.setdefault("what", args[2])
    unknown = set(kwargs) - {"what", "tol"}
    if unknown:
        raise SourceError(f"{where}: check() has no argument {sorted(unknown)[0]!r}")
    what_node, tol_node = kwargs.get("what"), kwargs.get("tol")
    if what_node is not None and not (
        isinstance(what_node, ast.Constant) and isinstance(what_node.value, str)
    ):
        raise SourceError(f"{where}: what= must be a string literal")
    if tol_node is not None and not (
        isinstance(tol_node, ast.Constant) and type(tol_node.value) in (int, float)
    ):
        raise SourceError(f"{where}: tol= must be a number literal")
    actual = validate_probe(args[0], forbidden, where)
    return Check(actual=actual, expected=ast.unparse(args[1]),
                 what=what_node.value if what_node is not None else actual,
                 tol=float(tol_node.value) if tol_node is not None else None, hidden=hidden)


def parse_test_cell(source: str, where: str) -> tuple[list[Check], str, str]:
    """(checks, visible imports, hidden helper code) of a test cell."""
    visible, hidden = split_hidden(source)
    try:
        vis_tree, hid_tree = ast.parse(visible), ast.parse(hidden)
    except SyntaxError as error:
        raise SourceError(f"{where}: {error}") from None
    helpers = [s for s in hid_tree.body if not _is_check(s)]
    forbidden = _bound_names(helpers)
    checks, imports = [], []
    for stmt in vis_tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            imports.append(stmt)
        elif _is_check(stmt):
            checks.append(_parse_check(stmt.value, False, forbidden, where))
        else:
            raise SourceError(f"{where}: the visible part of a test cell may only hold imports and "
                              f"check(...) calls, not {ast.unparse(stmt)[:60]!r}")
    for stmt in hid_tree.body:
        if _is_check(stmt):
            checks.append(_parse_check(stmt.value, True, forbidden, where))
    if not checks:
        raise SourceError(f"{where}: a test cell needs at least one check(...)")
    return (checks, "\n".join(ast.unparse(s) for s in imports),
            "\n".join(ast.unparse(s) for s in helpers))


# ----------------------------------------------------------------------------- sources
def _add_nbgrader_cell(chapter: Chapter, cell: dict, meta: dict, title: str, where: str) -> None:
    """Validate one nbgrader cell and record it: a test cell as an exercise and its student copy,
    another locked cell as it is."""
    source, grade_id = cell_source(cell), meta["grade_id"]
    if meta.get("grade") and meta.get("solution"):
        raise SourceError(f"{where}: manually graded cells are not supported by this grader")
    if meta.get("grade"):
        if cell.get("cell_type") != "code" or not meta.get("locked"):
            raise SourceError(f"{where}: a test cell must be a locked code cell")
        points = meta.get("points")
        if type(points) not in (int, float) or points <= 0:
            raise SourceError(f"{where}: a test cell needs points > 0")
        checks, imports, helpers = parse_test_cell(source, where)
        exercise = Exercise(grade_id, title, float(points), checks, imports, helpers)
        chapter.exercises.append(exercise)
        student = split_hidden(source)[0]
        chapter.locked[grade_id] = LockedCell(grade_id, "code", student, checksum(student),
                                              grade_id)
    elif meta.get("locked"):
        if BEGIN_HIDDEN in source or BEGIN_SOLUTION in source:
            raise SourceError(f"{where}: a locked cell cannot hold solution or hidden regions")
        kind = cell.get("cell_type", "code")
        chapter.locked[grade_id] = LockedCell(grade_id, kind, source, checksum(source), None)
    elif BEGIN_HIDDEN in source:
        raise SourceError(f"{where}: hidden tests belong in a test cell")


def load_chapter(path: Path) -> Chapter:
    """Read and validate one exercise source notebook."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SourceError(f"{path}: not a notebook ({error})") from None
    chapter = Chapter(name=path.stem, path=path, cells=cells, exercises=[])
    title = path.stem
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        source, meta = cell_source(cell), nbgrader_meta(cell)
        where = f"{path.name} cell {index + 1}"
        if cell.get("cell_type") == "markdown":
            headings = [ln.lstrip("#").strip() for ln in source.splitlines() if ln.startswith("##")]
            if headings:
                title = re.sub(r"\s*\(\d+(\.\d+)? points?\)\s*$", "", headings[-1])
        if not meta:
            if BEGIN_HIDDEN in source or BEGIN_SOLUTION in source:
                raise SourceError(f"{where}: a solution or hidden region outside an nbgrader cell")
            continue
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not grade_id or grade_id in seen:
            raise SourceError(f"{where}: every nbgrader cell needs a unique grade_id")
        seen.add(grade_id)
        _add_nbgrader_cell(chapter, cell, meta, title, where)
    if not chapter.exercises:
        raise SourceError(f"{path}: no graded test cell")
    return chapter


def find_chapters(source_root: Path) -> list[Path]:
    """``<root>/<chapter>/<chapter>.ipynb`` for every chapter folder, sorted."""
    root = Path(source_root)
    if not root.is_dir():
        return []
    return sorted(p / f"{p.name}.ipynb" for p in root.iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").is_file())


# ----------------------------------------------------------------------------- submissions
def read_submission(path: Path) -> dict:
    """A submitted notebook as JSON, refusing links, special files, huge files and non-notebooks."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise Malformed("the notebook is a symbolic link, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise Malformed("the notebook is not a regular file")
    if info.st_size > MAX_NOTEBOOK_BYTES:
        raise Malformed(f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(MAX_NOTEBOOK_BYTES + 1)
    try:
        nb = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise Malformed(f"the notebook is not valid JSON ({str(error)[:120]})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise Malformed("the file is JSON but not a notebook (no list of cells)")
    if nb.get("nbformat") != 4:
        raise Malformed("the notebook is not in format version 4")
    for index, cell in enumerate(nb["cells"]):
        source = cell.get("source") if isinstance(cell, dict) else None
        ok_source = isinstance(source, str) or (
            isinstance(source, list) and all(isinstance(s, str) for s in source)
        )
        if (not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw")
            or not ok_source or not isinstance(cell.get("metadata", {}), dict)):
            raise Malformed(f"cell {index + 1} is not a valid notebook cell")
    return nb


def submission_path(student_dir: Path, chapter: str) -> Path:
    """A student's notebook: ``<student>/<ch>.ipynb`` or ``<student>/<ch>/<ch>.ipynb``."""
    flat = student_dir / f"{chapter}.ipynb"
    nested = student_dir / chapter / f"{chapter}.ipynb"
    if os.path.lexists(flat) or not os.path.lexists(nested):
        return flat
    return nested


@dataclass
class Plan:
    """What a student's sandbox runs, and what the trusted side learned from the notebook alone."""

    cells: list[dict]  # the job's cells
    tampered: dict[str, str] = field(default_factory=dict)  # exercise -> reason
    labels: dict[int, str] = field(default_factory=dict)  # job index -> "your code cell 5"


def _plan_locked(plan: Plan, chapter: Chapter, locked: LockedCell) -> None:
    """Add a locked cell's job: its exercise's test step (the probes only) or the instructor's
    code (a locked markdown cell adds nothing)."""
    if locked.exercise is not None:
        exercise = chapter.exercise(locked.exercise)
        plan.cells.append(
            {"type": "test", "grade_id": exercise.grade_id, "imports": exercise.imports,
             "probes": [{"actual": c.actual} for c in exercise.checks]}
        )
    elif locked.cell_type == "code":
        plan.labels[len(plan.cells)] = f"the locked cell {locked.grade_id}"
        plan.cells.append({"type": "code", "source": locked.source, "locked": True})


def _tampered(chapter: Chapter, problems: dict[str, str]) -> dict[str, str]:
    """The exercises not graded, and why: a test cell's problem stops its own exercise, another
    locked cell's stops them all."""
    tampered: dict[str, str] = {}
    for grade_id, reason in problems.items():
        locked = chapter.locked[grade_id]
        if locked.exercise is not None:
            tampered[locked.exercise] = f"its test cell {grade_id} {reason}"
        else:
            for exercise in chapter.exercises:
                tampered.setdefault(exercise.grade_id, f"the locked cell {grade_id} {reason}")
    return tampered


def plan_submission(chapter: Chapter, nb: dict) -> Plan:
    """Job cells for a student's notebook: their code cells, the instructor's locked code cells, and
    one test step (probes only) per graded cell; plus which exercises were tampered with."""
    plan = Plan(cells=[])
    found: dict[str, int] = {}
    problems: dict[str, str] = {}
    for index, cell in enumerate(nb["cells"]):
        source, grade_id = cell_source(cell), nbgrader_meta(cell).get("grade_id")
        locked = chapter.locked.get(grade_id) if isinstance(grade_id, str) else None
        if locked is not None:
            found[locked.grade_id] = found.get(locked.grade_id, 0) + 1
            if found[locked.grade_id] > 1:
                problems[locked.grade_id] = "appears more than once"
                continue
            if cell.get("cell_type") != locked.cell_type or checksum(source) != locked.checksum:
                problems[locked.grade_id] = "was edited"
            _plan_locked(plan, chapter, locked)
        elif cell.get("cell_type") == "code":
            plan.labels[len(plan.cells)] = f"your code cell {index + 1}"
            plan.cells.append({"type": "code", "source": source})
    for grade_id in chapter.locked:
        if grade_id not in found:
            problems[grade_id] = "was deleted"
    plan.tampered = _tampered(chapter, problems)
    return plan


def plan_reference(chapter: Chapter) -> Plan:
    """Job cells for the reference run: the source as written, with expected values to compute."""
    plan = Plan(cells=[])
    for index, cell in enumerate(chapter.cells):
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") != "code":
            continue
        if meta.get("grade"):
            exercise = chapter.exercise(meta["grade_id"])
            plan.cells.append(
                {"type": "test", "grade_id": exercise.grade_id, "imports": exercise.imports,
                 "helpers": exercise.helpers,
                 "probes": [{"actual": c.actual, "expected": c.expected} for c in exercise.checks]}
            )
        else:
            plan.labels[len(plan.cells)] = f"source cell {index + 1}"
            plan.cells.append({"type": "code", "source": cell_source(cell), "locked": True})
    return plan


def solution_lines(chapter: Chapter) -> list[str]:
    """Distinctive lines of the solutions and hidden tests (to check what is released for leaks)."""
    lines = []
    for cell in chapter.cells:
        source, inside = cell_source(cell), False
        for line in source.split("\n"):
            if BEGIN_SOLUTION in line or BEGIN_HIDDEN in line:
                inside = True
            elif END_SOLUTION in line or END_HIDDEN in line:
                inside = False
            elif inside and len(line.strip()) >= 12:
                lines.append(line.strip())
    return lines
