"""Exercises that teach (issue 14, item 5; issue 24, item 5): no graded answer is printed in the
book (its chapter's glued values, markdown and printed outputs, and the pages every chapter shares:
the appendix and the course guide), visible checks test a real case, every chapter has exercises
and one of them designs, estimates or measures, the stored runs an exercise embeds are the results
files' own, and in the real sandbox the reference solutions score full points and the released
notebooks zero.

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

from bookgrader.grader import grade
from bookgrader.notebook import cell_source, find_chapters, load_chapter, nbgrader_meta
from bookgrader.release import generate, with_solutions
from bookgrader.sandbox import Limits, SandboxUnavailable, detect
from convlib import store
from convlib.book import IGNORE_MARKERS, IGNORE_TAGS, toc_files
from convlib.io import REPO_ROOT

SOURCE = REPO_ROOT / "exercises" / "source"
CHAPTERS = REPO_ROOT / "book" / "chapters"
SOURCES = find_chapters(SOURCE)
# Pages that every chapter's exercises must not answer either: the appendix and the course guide.
SHARED_PAGES = [REPO_ROOT / "book" / "reading_experiments.ipynb",
                REPO_ROOT / "book" / "course_guide.md",
                *sorted((REPO_ROOT / "book" / "appendix").glob("*.ipynb"))]
# Running text and printed outputs hold many small numbers (figure numbers, epochs, widths, the
# t table): there an answer of at least three significant digits is looked for, among numbers
# shown with at least four.
TEXT_DIGITS = 4
ANSWER_DIGITS = 3

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
            is_image = any(k.startswith(("image/", "application/papermill.record/image"))
                           for k in data)
            if (name and not name.endswith(("provenance", "_line", "_where"))
                    and text is not None and not is_image):
                text = "".join(text) if isinstance(text, list) else text
                if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
                    text = text[1:-1]
                texts[name] = text
    return texts


def page_texts(page: Path) -> dict[str, str]:
    """name -> text of what a page shows a reader: a Markdown page's text; a notebook's Markdown
    cells and its printed outputs (streams, text/plain and text/markdown), except the outputs of
    cells whose outputs nbval does not compare (timings: they match an answer only by chance)."""
    if page.suffix == ".md":
        return {page.name: page.read_text(encoding="utf-8")}
    texts = {}
    for index, cell in enumerate(json.loads(page.read_text(encoding="utf-8"))["cells"]):
        source = cell_source(cell)
        where = f"{page.name} cell {index}"
        if cell.get("cell_type") == "markdown":
            texts[f"{where} (markdown)"] = source
            continue
        if any(m in source for m in IGNORE_MARKERS) or any(
            t in cell.get("metadata", {}).get("tags", []) for t in IGNORE_TAGS
        ):
            continue
        for number, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            for text in (output.get("text"), data.get("text/plain"), data.get("text/markdown")):
                if text is not None and not output.get("metadata", {}).get("scrapbook"):
                    joined = "".join(text) if isinstance(text, list) else text
                    texts[f"{where} output {number}"] = joined
    return texts


def shown_numbers(text: str, digits: int = 2) -> list[tuple[float, float, bool]]:
    """(value, half of its last shown digit, shown as a percentage) of every number in ``text``
    shown with at least ``digits`` significant digits (a single digit, 7 or 0.9, matches too
    much)."""
    found = []
    for a, b in _FRACTION.findall(text):
        if int(b) and len(a.lstrip("0")) + len(b) >= digits:
            found.append((float(Fraction(int(a), int(b))), 1e-12, False))
    for match in _NUMBER.finditer(text):
        shown = match.group(0).rstrip("% ").replace(",", "")
        mantissa = re.split("[eE]", shown.lstrip("-"))[0]
        if len(mantissa.replace(".", "").lstrip("0")) < digits:
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
        return [v for item in value for v in answers_of(item)
                if not isinstance(item, (list, tuple))]
    return []


def printed_as(answer: float, texts: dict[str, str], digits: int = 2) -> list[str]:
    """The glued values that show ``answer``, rounded as the chapter rounds them; a fraction also
    as a percentage, ``100 * answer`` (a whole-number answer, a count, is not compared with a
    percentage: 90 is not 90%)."""
    hits = []
    for name, text in texts.items():
        for value, half_digit, percent in shown_numbers(text, digits):
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
        assert (REPO_ROOT / "book" / "exercises" / f"{path.stem}.md").is_file(), path.stem


# A shown number that rounds to an answer but is another quantity: (exercise, glued name) -> why.
COINCIDENCES = {
    ("ch03-ex3", "ch3_better_result_value"):
        "an accuracy gap in points (+3.6), not the width ratio 32/9 = 3.56 the exercise asks for",
}


def without_coincidences(grade_id: str, texts: dict[str, str]) -> dict[str, str]:
    """The glued texts less those :data:`COINCIDENCES` names for this exercise."""
    return {name: text for name, text in texts.items() if (grade_id, name) not in COINCIDENCES}


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_no_hidden_answer_is_printed_in_its_chapter(path):
    notebook = chapter_notebook(path.stem)
    assert notebook is not None, f"no chapter notebook for {path.stem}"
    texts = glued_texts(notebook)
    assert texts, f"{notebook.name} has no glued values: execute it first"
    repeated = []
    for grade_id, what, expected in hidden_answers(path):
        for answer in answers_of(expected):
            hits = printed_as(answer, without_coincidences(grade_id, texts))
            if hits:
                repeated.append(f"{grade_id} ({what}): {answer!r} is printed as {hits[:3]}")
    assert not repeated, "answers printed in the chapter:\n" + "\n".join(repeated)


def significant_digits(answer: float) -> int:
    """The significant digits of a number as Python writes it shortest: 102400 has 4, 5.4 has 2."""
    text = repr(abs(answer)).lower().split("e")[0].replace(".", "").lstrip("0")
    whole = isinstance(answer, int) or "." not in repr(answer)
    return len(text.rstrip("0")) if whole else len(text)


def printed_answers(path: Path, pages: list[Path]) -> list[str]:
    """Every hidden answer of the exercise source ``path`` that its chapter glues (as the chapter
    rounds it), or that a page of ``pages`` shows in its text or outputs with at least
    :data:`TEXT_DIGITS` significant digits."""
    notebook = chapter_notebook(path.stem)
    glued = glued_texts(notebook)
    assert glued, f"{notebook.name} has no glued values: execute it first"
    shown: dict[str, str] = {}
    for page in pages:
        shown.update(page_texts(page))
    repeated = []
    for grade_id, what, expected in hidden_answers(path):
        for answer in answers_of(expected):
            hits = printed_as(answer, without_coincidences(grade_id, glued))
            if significant_digits(answer) >= ANSWER_DIGITS:
                hits += printed_as(answer, shown, TEXT_DIGITS)
            if hits:
                repeated.append(f"{grade_id} ({what}): {answer!r} is printed as {hits[:3]}")
    return repeated


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_no_hidden_answer_is_shown_in_the_text_or_outputs_of_the_book(path):
    notebook = chapter_notebook(path.stem)
    assert notebook is not None, f"no chapter notebook for {path.stem}"
    repeated = printed_answers(path, [notebook, *SHARED_PAGES])
    assert not repeated, "answers shown in the book:\n" + "\n".join(repeated)


def test_an_answer_planted_in_a_chapters_markdown_is_found(tmp_path):
    """The scan reads running text, not only glued values: a hidden answer of chapter 4's
    exercises written into a Markdown cell of a copy of the chapter makes it fail."""
    source = next(p for p in SOURCES if p.stem == "ch04")
    answers = [a for _, _, e in hidden_answers(source) for a in answers_of(e)
               if isinstance(a, int) and significant_digits(a) >= ANSWER_DIGITS]
    assert answers, "chapter 4's exercises have no answer of three digits to plant"
    nb = json.loads(chapter_notebook("ch04").read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "markdown", "metadata": {},
                        "source": [f"The widest middle here is {answers[0]:,} channels."]})
    planted = tmp_path / "04_planted.ipynb"
    planted.write_text(json.dumps(nb), encoding="utf-8")
    assert not printed_answers(source, [chapter_notebook("ch04")])
    found = printed_answers(source, [planted])
    assert found and "markdown" in found[0], found


STORED_RUN_KEYS = ("test_acc", "train_loss")


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_the_stored_runs_an_exercise_embeds_are_the_results_files(path):
    """A ``chNN-data`` cell copies stored runs into the notebook (the grader's sandbox holds no
    results folder): every run must be the results file's own, and the budget its words."""
    for cell in load_chapter(path).cells:
        if not nbgrader_meta(cell).get("grade_id", "").endswith("-data"):
            continue
        namespace: dict = {}
        exec(compile(cell_source(cell), f"{path.stem}-data", "exec"), namespace)
        results = store.read_json(store.set_folder(namespace["PROFILE"])
                                  / f"{namespace['EXPERIMENT']}.json")
        provenance = results["provenance"]
        seeds = len(provenance["seeds"])
        assert namespace["BUDGET"] == (f"{provenance['epochs']} epochs, {provenance['profile']} "
                                       f"set, {seeds} seed{'s' if seeds != 1 else ''}")
        stored = {(r["variant"], r["seed"]): r for r in results["runs"]}
        for variant, runs in namespace["RUNS"].items():
            assert [r["seed"] for r in runs] == provenance["seeds"], variant
            for run in runs:
                original = stored[(variant, run["seed"])]
                assert run["test_correct"] == original["test_correct"], (variant, run["seed"])
                for key in STORED_RUN_KEYS:
                    assert run[key] == original["history"][key], (variant, run["seed"], key)


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
    assert not printed_as(27, {"x": "49/27"})
    assert not printed_as(11, {"x": "torch 2.14.1, 2026-11-26"})
    assert not printed_as(90, {"x": "90%"}) and printed_as(0.9, {"x": "90%"})


@pytest.fixture(scope="module")
def sandbox():
    """The grader's real sandbox (bubblewrap, the seccomp filter, a cgroup); where the machine
    gives none, skip with the reason (a failure in CI, where a skip is one)."""
    try:
        box = detect(Limits())
    except SandboxUnavailable as error:
        pytest.skip(str(error))
    yield box
    box.close()


@pytest.mark.slow  # one grading batch per chapter, in real sandboxes
@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_reference_scores_full_points_and_the_release_zero_in_the_sandbox(path, sandbox,
                                                                          tmp_path):
    """With the grader's default limits (60 s per notebook, 10 s per cell, 2 GiB): the source's
    own solutions pass every exercise, the released notebook untouched passes none."""
    released = generate(SOURCE, tmp_path / "release", [path.stem])
    nb_path = next(p for p in released if p.stem == path.stem)
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for student, content in (("reference", with_solutions(nb, path)), ("untouched", nb)):
        (tmp_path / "subs" / student).mkdir(parents=True)
        (tmp_path / "subs" / student / nb_path.name).write_text(json.dumps(content), "utf-8")
    results = grade(tmp_path / "subs", tmp_path / "out", SOURCE, [path.stem], jobs=1,
                    sandbox=sandbox)
    rows = {(r.student, r.exercise): r for r in results}
    exercises = [e.grade_id for e in load_chapter(path).exercises]
    for grade_id in exercises:
        ref, empty = rows[("reference", grade_id)], rows[("untouched", grade_id)]
        assert (ref.status, ref.points) == ("passed", ref.max_points), ref
        assert (empty.status, empty.points) == ("failed", 0), empty
