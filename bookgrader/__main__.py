"""Command line: ``python -m bookgrader {grade,merge,gradescope,release,check-pages,...}``.

grade DIR [--out grading]    grade every student folder of DIR (make grade SUBMISSIONS=DIR);
                             --shard I/N grades a stable 1/N of the students (one machine each)
merge OUT SHARD_DIR...       one gradebook, grades and feedback from every shard's output
gradescope CHAPTER --out DIR a Gradescope autograder zip for one chapter
release [--out release]      student notebooks + website pages (make release)
check-pages                  exit 1 if book/exercises/*.md are out of date with the sources
selfcheck                    the reference solutions score full points, the released versions zero
sandbox                      which sandbox this machine gives (exit 2, with the fix, if none)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bookgrader.grader import NoSubmissions, grade
from bookgrader.gradescope import export
from bookgrader.notebook import find_chapters
from bookgrader.release import generate, release, stale_pages, with_solutions
from bookgrader.sandbox import Limits, SandboxUnavailable, detect
from bookgrader.shards import merge
from convlib.io import REPO_ROOT


def _size(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    text = text.strip().lower().rstrip("ib")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)


def _limits(args):
    return Limits(timeout=args.timeout, cell_timeout=args.cell_timeout, memory=_size(args.memory))


def _add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per notebook (default 60)"
    )
    parser.add_argument("--cell-timeout", type=float, default=10.0,
                        help="seconds per cell and per check (default 10)")
    parser.add_argument("--memory", default="2G", help="memory per notebook (default 2G)")


def _parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per job, each with its own options."""
    parser = argparse.ArgumentParser(prog="python -m bookgrader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    source_default = str(REPO_ROOT / "exercises" / "source")

    p = sub.add_parser("grade", help="grade a folder of submissions")
    p.add_argument("submissions", type=Path)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "grading")
    p.add_argument("--source", type=Path, default=Path(source_default))
    p.add_argument("--chapter", action="append", help="grade only this chapter (repeatable)")
    p.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel (default 2)")
    p.add_argument("--shard", default=None,
                   help="I/N: grade only the students of shard I of N (0-based; by a hash of the "
                        "student folder's name), then `merge` the shards' --out folders")
    _add_sandbox_options(p)

    p = sub.add_parser("merge", help="one gradebook from the outputs of grade --shard I/N")
    p.add_argument("out", type=Path)
    p.add_argument("shard_dirs", type=Path, nargs="+")

    p = sub.add_parser("gradescope", help="a Gradescope autograder zip for one chapter")
    p.add_argument("chapter")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "gradescope")
    p.add_argument("--source", type=Path, default=Path(source_default))
    _add_sandbox_options(p)

    p = sub.add_parser("release", help="student notebooks and website pages")
    p.add_argument("--source", type=Path, default=Path(source_default))
    p.add_argument("--out", type=Path, default=REPO_ROOT / "release")
    p.add_argument("--pages", type=Path, default=REPO_ROOT / "book" / "exercises")

    p = sub.add_parser("check-pages", help="are the website's exercise pages up to date?")
    p.add_argument("--source", type=Path, default=Path(source_default))
    p.add_argument("--pages", type=Path, default=REPO_ROOT / "book" / "exercises")

    p = sub.add_parser("selfcheck", help="reference scores full points, student version zero")
    p.add_argument("--source", type=Path, default=Path(source_default))
    p.add_argument("--jobs", type=int, default=2)
    _add_sandbox_options(p)

    p = sub.add_parser("sandbox", help="describe the sandbox available here")
    _add_sandbox_options(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "jobs", 1) < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.command == "grade":
        return grade_command(args)
    if args.command in ("merge", "gradescope"):
        return shard_or_gradescope_command(args)
    if args.command == "release":
        for page in release(args.source, args.out, args.pages, REPO_ROOT):
            print(f"released {page.stem}: {args.out / page.stem}/, page {page}")
        return 0
    if args.command == "check-pages":
        stale = stale_pages(args.source, args.pages, REPO_ROOT)
        for name in stale:
            print(
                f"{args.pages / (name + '.md')} is out of date: run make release", file=sys.stderr
            )
        return 1 if stale else 0
    if args.command == "selfcheck":
        return selfcheck(args)

    try:
        box = detect(_limits(args))
    except SandboxUnavailable as error:
        print(error, file=sys.stderr)
        return 2
    box.close()
    print(json.dumps({"mode": box.mode, "description": box.describe(),
                      "protections_off": box.protections_off}, indent=2))
    return 0


def grade_command(args) -> int:
    """make grade: exit 2, with one message, when the run is refused (no student folder, no
    sandbox, an output folder among the submissions); 0 when graded."""
    started = time.monotonic()
    try:
        results = grade(args.submissions, args.out, args.source, args.chapter, jobs=args.jobs,
                        limits=_limits(args), shard=args.shard)
    except (NoSubmissions, SandboxUnavailable, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    students = len({r.student for r in results})
    print(f"graded {students} students in {time.monotonic() - started:.1f} s: "
          f"{args.out / 'gradebook.csv'}, {args.out / 'grades.csv'}, {args.out / 'feedback'}/, "
          f"{args.out / 'grading.log'}")
    first = (args.out / "grading.log").read_text(encoding="utf-8").partition("\n")[0]
    if "; OFF: " in first:  # the log's first line describes the sandbox
        print(f"WARNING: {first.split(' ', 2)[2]}", file=sys.stderr)
    return 0


def shard_or_gradescope_command(args) -> int:
    """merge: one gradebook from the shards' outputs; gradescope: the autograder zip. Exit 2 with
    one message when the shards do not make one whole or the chapter is unknown."""
    try:
        if args.command == "merge":
            results = merge(args.out, args.shard_dirs)
            print(f"merged {len(args.shard_dirs)} shards, {len({r.student for r in results})} "
                  f"students: {args.out / 'gradebook.csv'}")
        else:
            path = export(args.chapter, args.out, args.source, REPO_ROOT, _limits(args))
            print(f"Gradescope autograder for {args.chapter}: {path}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def selfcheck(args) -> int:
    """Release every chapter, then grade two students: one who hands in the reference solutions
    (must score full points) and one who hands in the release untouched (must score zero)."""
    with tempfile.TemporaryDirectory(prefix="convlib-selfcheck-") as tmp:
        tmp = Path(tmp)
        released = generate(args.source, tmp / "release")
        for nb_path in released:
            source = next(p for p in find_chapters(args.source) if p.name == nb_path.name)
            nb = json.loads(nb_path.read_text(encoding="utf-8"))
            for student, content in (("reference", with_solutions(nb, source)), ("student", nb)):
                (tmp / "submissions" / student).mkdir(parents=True, exist_ok=True)
                (tmp / "submissions" / student / nb_path.name).write_text(
                    json.dumps(content), "utf-8"
                )
        try:
            results = grade(tmp / "submissions", tmp / "out", args.source, jobs=args.jobs,
                            limits=_limits(args))
        except SandboxUnavailable as error:
            print(error, file=sys.stderr)
            return 2
    bad = [r for r in results
           if (r.student == "reference" and (r.status, r.points) != ("passed", r.max_points))
           or (r.student == "student" and (r.status, r.points) != ("failed", 0))]
    for r in results:
        print(
            f"{r.student:10} {r.chapter} {r.exercise:12} {r.points:g}/{r.max_points:g} "
            f"{r.status} {r.note}"
        )
    if bad:
        print(f"SELFCHECK FAILED for {[(r.student, r.exercise) for r in bad]}", file=sys.stderr)
        return 1
    print("selfcheck passed: reference solutions score full points, released versions zero")
    return 0


if __name__ == "__main__":
    sys.exit(main())
