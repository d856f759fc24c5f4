"""How fast ``python -m bookgrader grade`` gets through a folder of chapter-1 submissions.

    python benchmarks/grading_throughput.py [-n 60] [--jobs 2] [--chapter ch01] [--keep DIR]
        [--grade-flag=--timeout=30 ...] [--per-job 10]

Makes N synthetic submissions from the exercise sources the test suite uses (nbgrader's released
notebook, and the same with the reference solutions): honest ones (full marks), wrong ones
(released untouched, or a wrong answer) and adversarial ones (reads the hidden tests, writes
outside its folder, forges results, exits, crashes, asks for 64 GiB), mixed in a fixed rotation.
Then runs the grading command as an instructor would (a subprocess, reference run included) and
prints the wall time, submissions per minute, and CPU seconds per submission (the grader and every
sandboxed process it waited for). On a shared machine the figures are noisy: run it twice.
Each submission gets a fresh bubblewrap sandbox and a fresh interpreter (the only path).

``--per-job N`` measures instead what one job costs, N times in a row: an honest submission of
the chapter and an empty job (start and exit only).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bookgrader.notebook import load_chapter, plan_submission, read_submission
from bookgrader.release import generate, with_solutions
from bookgrader.sandbox import Limits, detect
from convlib.io import REPO_ROOT

SOURCE = REPO_ROOT / "exercises" / "source"

# Adversarial answers for the first exercise (cheap ones: no 60 s timeouts, which would measure the
# time limit instead of the grader).
ADVERSARIAL = {
    "reads_hidden": (
        "import glob\nfound = []\nfor path in glob.glob('/**/*.ipynb', recursive=True)[:200]:\n"
        "    try:\n        found.append(open(path).read())\n    except OSError:\n        pass\n"
        "conv_weights = dense_weights = len(found)\n"
    ),
    "writes_outside": (
        "import os\nfor path in ('/tmp/../pwned', os.path.expanduser('~/pwned'), '/pwned'):\n"
        "    try:\n        open(path, 'w').write('x')\n    except OSError:\n        pass\n"
        "conv_weights = dense_weights = 0\n"
    ),
    "forges_results": (
        "import os, sys\nfd = int(sys.argv[sys.argv.index('--result-fd') + 1])\n"
        "os.write(fd, b'{\"event\": \"done\"}\\n')\nos._exit(0)\n"
    ),
    "exits": "import sys\nsys.exit(0)\n",
    "segfault": "import ctypes\nctypes.string_at(0)\n",
    "memory_bomb": "blob = bytearray(64 * 2**30)\n",
}


def _edited(nb: dict, grade_id: str, source: str) -> dict:
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = source
            return nb
    raise KeyError(f"no cell {grade_id!r} in the released notebook")


def make_submissions(folder: Path, count: int, chapter: str = "ch01") -> dict[str, int]:
    """count student folders in folder; returns how many of each kind."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    with tempfile.TemporaryDirectory(prefix="grading-bench-release-") as tmp:
        generate(SOURCE, Path(tmp), [chapter])
        released = json.loads((Path(tmp) / chapter / f"{chapter}.ipynb").read_text("utf-8"))
    honest = with_solutions(released, SOURCE / chapter / f"{chapter}.ipynb")
    answer = f"{chapter}-ex1-answer"
    wrong = [released, _edited(honest, answer, "conv_weights = dense_weights = 1\n")]
    attacks = [_edited(honest, answer, code) for code in ADVERSARIAL.values()]
    # rotation of 6: 3 honest, 2 wrong, 1 adversarial (each attack in turn)
    kinds = {"honest": 0, "wrong": 0, "adversarial": 0}
    for i in range(count):
        kind = ("honest", "wrong", "honest", "adversarial", "wrong", "honest")[i % 6]
        nb = {"honest": honest, "wrong": wrong[kinds["wrong"] % 2],
              "adversarial": attacks[kinds["adversarial"] % len(attacks)]}[kind]
        kinds[kind] += 1
        (folder / f"student{i:03d}").mkdir(parents=True)
        (folder / f"student{i:03d}" / f"{chapter}.ipynb").write_text(json.dumps(nb), "utf-8")
    return kinds


# (folder holding the cgroups, file with the CPU time, how to read seconds from it, file to join)
CGROUPS = (("/sys/fs/cgroup/cpuacct", "cpuacct.usage", lambda t: int(t) / 1e9, "tasks"),
           ("/sys/fs/cgroup", "cpu.stat", lambda t: int(t.split()[1]) / 1e6, "cgroup.procs"),
           ("/sys/fs/cgroup/unified", "cpu.stat", lambda t: int(t.split()[1]) / 1e6,
            "cgroup.procs"))


def _cgroup() -> tuple[Path, str, object, str] | None:
    """A fresh cgroup to count the CPU time of the grader and every sandboxed process (bwrap's
    processes are not reaped into RUSAGE_CHILDREN); None where cgroups are not writable."""
    for root, stat, read, join in CGROUPS:
        folder = Path(root) / f"grading-bench-{os.getpid()}"
        try:
            folder.mkdir()
        except OSError:
            continue
        if (folder / stat).exists() and (folder / join).exists():
            return folder, stat, read, join
        folder.rmdir()
    return None


def run_grading(subs: Path, out: Path, jobs: int, chapter: str, flags: list[str]) -> dict:
    command = [sys.executable, "-m", "bookgrader", "grade", str(subs), "--out", str(out),
               "--chapter", chapter, "--jobs", str(jobs), *flags]
    group = _cgroup()

    def join_group() -> None:  # in the child, before exec: everything it starts is counted
        Path(group[0], group[3]).write_text(str(os.getpid()))

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              preexec_fn=join_group if group else None)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if group:
            cpu, counted = group[2](Path(group[0], group[1]).read_text()), "cgroup"
        else:
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            counted = "grader only (no writable cgroup: sandboxed processes not counted)"
    finally:
        if group:
            time.sleep(0.5)  # the last sandbox processes leave the cgroup
            group[0].rmdir()
    if done.returncode != 0:
        raise SystemExit(f"grading failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return {"wall": wall, "cpu": cpu, "counted": counted, "stdout": done.stdout.strip()}


def per_job(count: int, chapter: str) -> None:
    """CPU and wall seconds of one job (an honest one and an empty one), counted in a
    cgroup that this process joins (it is the grader here)."""
    group = _cgroup()
    if group is None:
        raise SystemExit("--per-job needs a writable cgroup (run as root)")
    home = _own_cgroup(group[0].parent)
    Path(group[0], "cgroup.procs").write_text(str(os.getpid()))  # every thread, later ones too
    try:
        _per_job(count, chapter, lambda: group[2](Path(group[0], group[1]).read_text()))
    finally:
        if home is not None:  # back where it was, so that the counting cgroup can go
            Path(home, "cgroup.procs").write_text(str(os.getpid()))
            time.sleep(0.5)
            group[0].rmdir()


def _own_cgroup(root: Path) -> Path | None:
    """This process's cgroup folder under root (cgroup v2, or v1's cpuacct), None if unknown."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" or "cpuacct" in controllers.split(","):
            folder = root / path.lstrip("/")
            if folder.is_dir():
                return folder
    return None


def _per_job(count: int, chapter: str, cpu) -> None:
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        make_submissions(Path(tmp), 1, chapter)
        plan = plan_submission(load_chapter(SOURCE / chapter / f"{chapter}.ipynb"),
                               read_submission(Path(tmp) / "student000" / f"{chapter}.ipynb"))
    box = detect(Limits())
    for name, job in ((f"honest {chapter}", {"cells": plan.cells}), ("empty", {"cells": []})):
        box.run(job)  # caches warm
        started, before = time.monotonic(), cpu()
        for _ in range(count):
            box.run(job)
        print(f"  {name} job: {(cpu() - before) / count:.3f} CPU s, "
              f"{(time.monotonic() - started) / count:.2f} s wall per job")
    print(f"  ({count} jobs each, load average {os.getloadavg()[0]:.2f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--submissions", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--chapter", default="ch01")
    parser.add_argument("--keep", type=Path, help="grade in this folder and keep it")
    parser.add_argument("--grade-flag", action="append", default=[],
                        help="extra flag for the grade command (repeatable)")
    parser.add_argument("--per-job", type=int, metavar="N",
                        help="measure one job N times (an honest and an empty job)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.per_job:
        per_job(args.per_job, args.chapter)
        return 0
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        base = args.keep or Path(tmp)
        subs, out = base / "submissions", base / "grading"
        kinds = make_submissions(subs, args.submissions, args.chapter)
        figures = run_grading(subs, out, args.jobs, args.chapter, args.grade_flag)
        log = (out / "grading.log").read_text().splitlines()
        mode = next((line for line in log if "sandbox:" in line),
                    "sandbox: ?").split("sandbox:", 1)[1].strip()
    n = args.submissions
    print(f"{n} submissions of {args.chapter} ({kinds['honest']} honest, {kinds['wrong']} wrong, "
          f"{kinds['adversarial']} adversarial), --jobs {args.jobs}, sandbox {mode}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"  wall {figures['wall']:.1f} s (reference run included): "
          f"{60 * n / figures['wall']:.1f} submissions per minute")
    print(f"  CPU {figures['cpu']:.1f} s: {figures['cpu'] / n:.2f} CPU seconds per submission "
          f"(counted: {figures['counted']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
