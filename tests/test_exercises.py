"""Exercises that teach (issue 14, item 5): no graded answer is printed in its chapter, visible
checks test a real case, every chapter has exercises and one of them designs, estimates or
measures.

The answers are the expected values of the hidden checks, computed here as the grader's reference
run computes them (the source's locked set-up cells, then each test cell's hidden helpers; the
expected expressions never use a student's name). The chapter's printed numbers are its glued
values, read from the executed chapter notebook's outputs (MyST-NB's ``scrapbook`` records).
"""

from __future__ import annotations

import ast
import json
import math
import re
from fractions import Fraction
from pathlib import Path

import pytest

from bookgrader.notebook import cell_source, find_chapters, load_chapter, nbgrader_meta
from convlib.book import IGNORE_MARKERS, IGNORE_TAGS, ROOT, toc_files

SOURCE = ROOT / "exercises" / "source"
CHAPTERS = ROOT / "book" / "chapters"
SOURCES = find_chapters(SOURCE)

# A glued number: thousands separators and decimals allowed, a fraction such as 16/9 too; not a
# part of a fraction, a version (2.14.1), a date (2026-11-26) or an identifier.
_FRACTION = re.compile(r"(?<![\w.])(\d+)\s*/\s*(\d+)(?![\w.])")
_NUMBER = re.compile(r"(?<![\w.,/:-])[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?"
                     r"(?![\w.]*\d)(?![/:-]\d)(\s*%)?")
# Words in an exercise's statement that say it designs under a budget, estimates or measures.
KINDS = ("budget", "estimate", "measure")


def chapter_notebook(name: str) -> Path | None:
    """book/chapters/NN_*.ipynb for the exercise chapter ``chNN``."""
    found = sorted(CHAPTERS.glob(f"{name[2:]}_*.ipynb"))
    return found[0] if found else None


def glued_texts(notebook: Path) -> dict[str, str]:
    """name -> the text/plain of every value glued in the executed notebook. Left out: figures, the
    provenance of experiments (how a result was made) and their comparison lines and sources
    (``*_line``, ``*_where``: measured accuracies and intervals, which change with the budget and
    can only match an answer by chance), and the cells whose outputs nbval does not
    compare (``NBVAL_IGNORE_OUTPUT``: timings and other numbers that change with every run, which
    can only match an answer by chance)."""
    texts = {}
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        source = cell_source(cell)
        if any(m in source for m in IGNORE_MARKERS) or any(
            t in cell.get("metadata", {}).get("tags", []) for t in IGNORE_TAGS
        ):
            continue
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            data = output.get("data", {})
            text = data.get("application/papermill.record/text/plain", data.get("text/plain"))
            if name and not name.endswith(("provenance", "_line", "_where")) and text is not None and not any(k.startswith(("image/", "application/papermill.record/image"))
                                                     for k in data):
                text = "".join(text) if isinstance(text, list) else text
                if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
                    text = text[1:-1]
                texts[name] = text
    return texts


def shown_numbers(text: str) -> list[tuple[float, float, bool]]:
    """(value, half of its last shown digit, shown as a percentage) of every number in ``text``
    shown with at least two significant digits (a single digit, 7 or 0.9, matches too much)."""
    found = []
    for a, b in _FRACTION.findall(text):
        if int(b):
            found.append((float(Fraction(int(a), int(b))), 1e-12, False))
    for match in _NUMBER.finditer(text):
        shown = match.group(0).rstrip("% ").replace(",", "")
        mantissa = re.split("[eE]", shown.lstrip("-"))[0]
        if len(mantissa.replace(".", "").lstrip("0")) < 2:
            continue
        decimals = len(mantissa.partition(".")[2])
        exponent = int(re.split("[eE]", shown)[1]) if re.search("[eE]", shown) else 0
        found.append((float(shown), 0.5 * 10.0 ** (exponent - decimals), bool(match.group(1))))
    return found


def answers_of(value) -> list[float]:
    """The numbers of an expected value worth comparing: a number, or a short flat list of them."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)) and math.isfinite(value):
        return [value]
    if isinstance(value, (list, tuple)) and len(value) <= 4:
        return [v for item in value for v in answers_of(item) if not isinstance(item, (list, tuple))]
    return []


def printed_as(answer: float, texts: dict[str, str]) -> list[str]:
    """The glued values that show ``answer``, rounded as the chapter rounds them; a fraction also
    as a percentage, ``100 * answer`` (a whole-number answer, a count, is not compared with a
    percentage: 90 is not 90%)."""
    hits = []
    for name, text in texts.items():
        for value, half_digit, percent in shown_numbers(text):
            candidates = (answer,)
            if percent and isinstance(answer, int):
                candidates = (100 * answer,)
            elif percent or "share" in name:
                candidates = (100 * answer, answer)
            for candidate in candidates:
                if abs(candidate - value) <= half_digit * (1 + 1e-9) + 1e-12 * abs(value):
                    hits.append(f"{name} = {text!r}")
    return hits


def hidden_answers(path: Path) -> list[tuple[str, str, object]]:
    """(exercise, what, expected value) of every hidden check, computed as the reference run does:
    the locked set-up cells, then the test cell's helpers, then the expected expression."""
    chapter = load_chapter(path)
    namespace: dict = {}
    for cell in chapter.cells:
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") == "code" and meta.get("locked") and not meta.get("grade"):
            exec(compile(cell_source(cell), f"{path.name}:{meta['grade_id']}", "exec"), namespace)
    found = []
    for exercise in chapter.exercises:
        exec(compile(exercise.imports + "\n" + exercise.helpers, exercise.grade_id, "exec"),
             namespace)
        for check in exercise.checks:
            if check.hidden:
                found.append((exercise.grade_id, check.what, eval(check.expected, namespace)))
    return found


def test_every_chapter_has_exercises_and_a_page_in_the_toc():
    chapters = sorted(p.stem for p in CHAPTERS.glob("0*_*.ipynb"))
    assert [p.stem for p in SOURCES] == [f"ch{c[:2]}" for c in chapters]
    toc = toc_files()
    for path in SOURCES:
        assert f"book/exercises/{path.stem}" in toc, path.stem
        assert (ROOT / "book" / "exercises" / f"{path.stem}.md").is_file(), path.stem


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_no_hidden_answer_is_printed_in_its_chapter(path):
    notebook = chapter_notebook(path.stem)
    assert notebook is not None, f"no chapter notebook for {path.stem}"
    texts = glued_texts(notebook)
    assert texts, f"{notebook.name} has no glued values: execute it first"
    repeated = []
    for grade_id, what, expected in hidden_answers(path):
        for answer in answers_of(expected):
            hits = printed_as(answer, texts)
            if hits:
                repeated.append(f"{grade_id} ({what}): {answer!r} is printed as {hits[:3]}")
    assert not repeated, "answers printed in the chapter:\n" + "\n".join(repeated)


def _is_type_only(expected: str) -> bool:
    """``int``, ``(int, float)``, ``torch.Tensor``: an expected value that is only a type."""
    names = {"int", "float", "bool", "str", "list", "tuple", "dict", "Tensor"}
    node = ast.parse(expected, mode="eval").body
    items = node.elts if isinstance(node, ast.Tuple) else [node]
    return all((isinstance(n, ast.Name) and n.id in names)
               or (isinstance(n, ast.Attribute) and n.attr in names) for n in items)


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_every_exercise_has_a_visible_check_of_a_real_case(path):
    for exercise in load_chapter(path).exercises:
        visible = [c for c in exercise.checks if not c.hidden]
        assert any(not _is_type_only(c.expected) for c in visible), (
            f"{exercise.grade_id}: its visible checks only test types; add one that tests a value "
            "on another case, a shape or a property")
        assert any(c.hidden for c in exercise.checks), f"{exercise.grade_id} has no hidden check"


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_every_chapter_has_an_exercise_that_designs_estimates_or_measures(path):
    statements = " ".join(cell_source(c).lower() for c in load_chapter(path).cells
                          if c.get("cell_type") == "markdown")
    assert any(kind in statements for kind in KINDS), (
        f"{path.stem}: no exercise asks to design under a budget, estimate or measure")


def test_the_repeat_detector_finds_printed_answers():
    texts = {"ch3_cross_5x5": "16/9", "ch1_example_zeros": "28", "ch4_breakeven": "229.1",
             "ch6_pointwise_share_3": "93.4%", "ch1_ratio_32_11_value": "8,666"}
    assert printed_as(16 / 9, texts) and printed_as(28, texts) and printed_as(229.1, texts)
    assert printed_as(128 / 137, texts) and printed_as(32**4 / 121, texts)
    assert not printed_as(229, texts) and not printed_as(27, texts) and not printed_as(0.5, texts)
    assert not printed_as(7, {"x": "7"})  # one significant digit: too common to mean anything
    assert not printed_as(27, {"x": "49/27"}) and not printed_as(11, {"x": "torch 2.14.1, 2026-11-26"})
    assert not printed_as(90, {"x": "90%"}) and printed_as(0.9, {"x": "90%"})
