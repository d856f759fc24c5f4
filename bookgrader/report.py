"""What grading writes: the gradebook, the grades, per-student feedback; all atomically."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from convlib.io import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from bookgrader.grader import Result

GRADEBOOK_FIELDS = ("student", "chapter", "exercise", "points", "max_points", "status", "note")


def clean(text: object, limit: int = 300) -> str:
    """Student-controlled text made safe for one line of a log or a feedback file."""
    flat = re.sub(r"[\x00-\x1f\x7f`]", " ", str(text))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# Markdown's inline syntax (emphasis, code, links, images, math, tables, headings, escapes)
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~$])")


def untrusted(text: object, limit: int = 300) -> str:
    """Student-originated text for a feedback file: one line (:func:`clean`), HTML escaped and
    Markdown's syntax backslash-escaped, so that it shows as the characters it is."""
    return _MARKDOWN.sub(r"\\\1", html.escape(clean(text, limit), quote=False))


def display_name(folder: str) -> str:
    """A student folder's name as the gradebook, feedback, log and shards show it: valid UTF-8
    (bytes that are not become ``\\xNN``), no control or format characters (``?``), at most 80
    characters. A name changed to fit gets ``~`` and a hash of the original, so that two folders
    never share one."""
    text = folder.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = "".join("?" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in text)
    if len(text) > 80:
        text = text[:64]
    if text != folder:
        digest = hashlib.sha256(folder.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        text += f"~{digest}"
    return text


def fmt(points: float) -> str:
    return f"{points:g}"


def atomic_write(path: Path, text: str) -> None:
    """Write a file so that readers see the old content or the new, never a part
    (:func:`convlib.io.atomic_write_text`: temporary file, fsync, rename)."""
    atomic_write_text(path, text)


def feedback_name(student: str) -> str:
    """A safe file name for a student's feedback, distinct for distinct student names."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", student).lstrip(".") or "_"
    if name != student:
        name += "-" + hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return name


def _csv_cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_outputs(out: Path, results: list[Result], off: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(GRADEBOOK_FIELDS)
    sandbox_note = "; sandbox protections off: " + ", ".join(off) if off else ""
    for r in results:
        writer.writerow(
            [_csv_cell(r.student), r.chapter, r.exercise, fmt(r.points), fmt(r.max_points),
             r.status, _csv_cell(r.note + sandbox_note)]
        )
    atomic_write(out / "gradebook.csv", buffer.getvalue())
    totals: dict[tuple[str, str], list[float]] = {}
    for r in results:
        total = totals.setdefault((r.student, r.chapter), [0.0, 0.0])
        total[0] += r.points
        total[1] += r.max_points
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("student", "chapter", "points", "max_points"))
    for (student, chapter), (points, max_points) in totals.items():
        writer.writerow([_csv_cell(student), chapter, fmt(points), fmt(max_points)])
    atomic_write(out / "grades.csv", buffer.getvalue())
    feedback_dir = out / "feedback"
    written = set()
    for student in dict.fromkeys(r.student for r in results):
        mine = [r for r in results if r.student == student]
        lines = [f"# Feedback for {untrusted(student, 100)}", ""]
        if off:
            lines += [f"*Graded with reduced isolation: {'; '.join(off)}.*", ""]
        for chapter in dict.fromkeys(r.chapter for r in mine):
            rows = [r for r in mine if r.chapter == chapter]
            lines += [f"## {chapter}: {fmt(sum(r.points for r in rows))} / "
                      f"{fmt(sum(r.max_points for r in rows))} points", ""]
            for r in rows:
                lines += [f"### {r.title} ({r.exercise}): {r.status}, "
                          f"{fmt(r.points)} / {fmt(r.max_points)} points", ""]
                lines += [f"- {line}" for line in r.feedback] + [""]
        name = feedback_name(student)
        written.add(f"{name}.md")
        atomic_write(feedback_dir / f"{name}.md", "\n".join(lines))
    for stale in feedback_dir.glob("*.md"):
        if stale.name not in written:
            stale.unlink()
