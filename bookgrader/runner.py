"""What runs *inside* the sandbox: a student's cells, then the grader's probes, reported as JSON.

``python -m bookgrader.runner --result-fd N`` reads one job (JSON) from stdin::

    {"soft_timeout": 10, "output_limit": 1048576, "cells": [
        {"type": "code", "source": "..."},
        {"type": "test", "grade_id": "ch01-ex1", "imports": "...", "probes": [{"actual": "f(3)"}]}]}

and writes one JSON line per cell to file descriptor N: ``{"event": "cell", "index", "error"}``,
``{"event": "test", "index", "grade_id", "results": [{"actual": <described value or error>}]}``
and finally ``{"event": "done"}``. Cells run with plain ``exec`` in one fresh namespace, in order,
like a kernel that keeps going after errors (as nbgrader's autograder does).

Nothing here is trusted: the student's code shares this process and can rewrite any of it. The
grader outside treats every line as a claim about values, which only scores when it equals what
the reference solution computed, and those values never enter the sandbox. In the reference run
(the instructor's source) probes also carry ``expected`` expressions and test steps ``helpers``.
"""

from __future__ import annotations

import builtins
import errno
import importlib.util
import io
import json
import os
import re
import signal
import sys

from bookgrader.values import describe, type_spec


class CellTimeout(BaseException):
    """Raised in a cell or probe that ran past the soft time limit."""


def _on_alarm(signum, frame):  # noqa: ARG001
    raise CellTimeout()


class _CappedText(io.TextIOBase):
    """sys.stdout/sys.stderr for student code: passes the first bytes through, drops the rest."""

    def __init__(self, fd: int, limit: int) -> None:
        self._fd, self._left, self.dropped = fd, limit, 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = str(text).encode("utf-8", "replace")
        keep = data[: max(self._left, 0)]
        if keep:
            self._left -= len(keep)
            try:
                os.write(self._fd, keep)
            except OSError:
                self._left = 0
        self.dropped += len(data) - len(keep)
        return len(text)

    def flush(self) -> None:
        pass


class _Shell:
    """The little of ``get_ipython()`` graded cells may use: %matplotlib, and nothing else."""

    def run_line_magic(self, name, line, *args, **kwargs):
        if name == "matplotlib":
            return None
        raise RuntimeError(f"%{name} is not available when grading")

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        raise RuntimeError(f"%%{name} is not available when grading")

    def system(self, *args, **kwargs):
        raise RuntimeError("shell commands (!) are not available when grading")

    getoutput = system


def _ipython_syntax(source: str) -> str:
    if not re.search(r"^\s*[%!]", source, re.MULTILINE):
        return source
    try:
        # deferred and optional: only cells with magics need IPython, and a bare venv lacks it
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    return TransformerManager().transform_cell(source)


def _error(exc: BaseException) -> dict:
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a student's __str__ may raise anything
        message = "<unprintable>"
    name = type(exc).__name__ if isinstance(type(exc).__name__, str) else "Exception"
    memory = (
        isinstance(exc, MemoryError)
        or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM)
        or (isinstance(exc, RuntimeError)
            and ("can't allocate memory" in message or "out of memory" in message.lower()))
    )
    if isinstance(exc, SystemExit):
        message = f"the code called sys.exit({message})"
    return {"type": name[:80], "message": message[:400], "memory": memory,
            "timeout": isinstance(exc, CellTimeout)}


def _timed(soft: float, fn, *args):
    """fn(*args) under the soft time limit (none if soft is 0): (result, None) or (None, error)."""
    signal.setitimer(signal.ITIMER_REAL, soft)
    try:
        return fn(*args), None
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything, SystemExit included
        return None, _error(exc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _describe_expected(value):
    spec = type_spec(value)
    return spec if spec is not None else describe(value)


def run(job: dict, emit) -> None:
    """Each cell in order, in one namespace; one event per cell."""
    soft = float(job.get("soft_timeout", 10))
    shell = _Shell()
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins,
                       "get_ipython": lambda: shell, "display": lambda *a, **k: None}
    for index, cell in enumerate(job.get("cells", [])):
        if cell.get("type") == "code":
            emit(_code_cell(cell, index, namespace, soft))
        else:
            emit(_test_cell(cell, index, namespace, soft))


def _code_cell(cell: dict, index: int, namespace: dict, soft: float) -> dict:
    """Run a code cell: its event, with the error it raised (None if none)."""
    source = cell.get("source", "")

    def execute(source: str = source, name: str = f"<cell {index + 1}>") -> None:
        exec(compile(_ipython_syntax(source), name, "exec"), namespace)

    # the instructor's locked cells (imports of torch...) only have the notebook's limit
    _, error = _timed(0 if cell.get("locked") else soft, execute)
    return {"event": "cell", "index": index, "error": error}


def _test_cell(cell: dict, index: int, namespace: dict, soft: float) -> dict:
    """Run a test cell: its set-up code, then its probes; its event."""
    setup_errors = []
    for code in (cell.get("imports", ""), cell.get("helpers", "")):
        if code:
            _, error = _timed(soft, exec, compile(code, "<test setup>", "exec"), namespace)
            if error:
                setup_errors.append(error)
    results = []
    timed_out = False
    for probe in cell.get("probes", []):
        result, timed_out = _probe(probe, namespace, soft, timed_out)
        results.append(result)
    return {"event": "test", "index": index, "grade_id": cell.get("grade_id"),
            "setup_errors": setup_errors, "results": results}


def _probe(probe: dict, namespace: dict, soft: float, timed_out: bool) -> tuple[dict, bool]:
    """One probe's values (or errors), and whether a check of the exercise has timed out."""
    result: dict = {}
    for key in ("actual", "expected"):
        if key not in probe:
            continue
        if timed_out:  # one check ran out of time: the exercise's others are not run
            result[key] = {
                "error": {"type": "CellTimeout", "memory": False, "timeout": True,
                          "message": "not run after an earlier check's timeout"}
            }
            continue
        to_json = describe if key == "actual" else _describe_expected

        def evaluate(expr=probe[key], to_json=to_json):
            return to_json(eval(compile(expr, "<check>", "eval"), namespace))

        value, error = _timed(soft, evaluate)
        if error and error["type"] == "NotPlainData":
            error["message"] = f"the value is not plain data: {error['message']}"
        result[key] = value if error is None else {"error": error}
        timed_out = timed_out or bool(error and error["timeout"])
    return result, timed_out


def main(argv: list[str]) -> int:
    fd = int(argv[argv.index("--result-fd") + 1])
    out = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    limit = int(job.get("output_limit", 2**20))
    sys.stdout, sys.stderr = _CappedText(1, limit), _CappedText(2, limit)
    signal.signal(signal.SIGALRM, _on_alarm)

    def emit(event: dict) -> None:
        out.write(json.dumps(event) + "\n")

    if job.get("probe_only"):
        # found and readable, not imported: importing torch would cost seconds per grading run
        errors = []
        for name in job.get("imports", []):
            spec = importlib.util.find_spec(name)
            if spec is None:
                errors.append(f"No module named {name!r}")
            elif spec.origin and not os.access(spec.origin, os.R_OK):
                errors.append(f"{name} cannot be read ({spec.origin})")
        emit({"event": "done", "uid": os.getuid(), "base_prefix": sys.base_prefix,
              "import_errors": errors})
        out.flush()
        os._exit(0)
    emit({"event": "ready"})
    run(job, emit)
    emit(
        {"event": "done", "dropped_output": sys.stdout.dropped + sys.stderr.dropped
         if isinstance(sys.stdout, _CappedText) and isinstance(sys.stderr, _CappedText) else 0}
    )
    out.flush()
    os._exit(0)  # no atexit handlers, no finalizers a student may have registered


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
