"""Writing files that readers can trust, and the provenance recorded next to every result.

- :func:`atomic_writer` / :func:`atomic_write_text` / :func:`atomic_write_json`: a file is
  written to a temporary file in the same folder, flushed and ``fsync``-ed, then renamed over the
  target (and the folder ``fsync``-ed where the OS allows): a reader, or a crash, sees the old
  content or the new one, never a part.
- :func:`git_commit`: the commit a result was made from, ``+dirty`` when tracked files differ
  from it, ``"unknown"`` outside a git checkout.
- :func:`cpu_model`, :func:`load_average`, :func:`utc_now`: the machine and the moment.

This is convlib's bottom layer: no torch, no other convlib import (the grader uses it too).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, e.g.
    Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, binary: bool = False,
                  newline: str | None = None) -> Iterator[IO[Any]]:
    """``with atomic_writer(path) as f: f.write(...)``: ``f`` is a temporary file beside ``path``;
    when the body ends without an error it is flushed, ``fsync``-ed and renamed onto ``path``; on
    an error it is removed and ``path`` is untouched. Text mode is UTF-8."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        mode = "wb" if binary else "w"
        encoding = None if binary else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=None if binary else newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically (:func:`atomic_writer`)."""
    with atomic_writer(path, newline="") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike, payload: Any, *, indent: int = 1,
                      ensure_ascii: bool = True) -> None:
    """Write ``payload`` as JSON (``indent`` spaces, a final newline) to ``path`` atomically;
    ``ensure_ascii=False`` keeps non-ASCII text as it is (UTF-8)."""
    atomic_write_text(path, json.dumps(payload, indent=indent, ensure_ascii=ensure_ascii) + "\n")


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10,
                          check=False)


def git_commit(root: str | os.PathLike | None = None) -> str:
    """The commit checked out in ``root`` (default: the checkout convlib lives in), with
    ``+dirty`` when tracked files differ from it; ``"unknown"`` when there is no git or no
    checkout. Untracked files do not make it dirty."""
    root = Path(root) if root is not None else REPO_ROOT
    try:
        head = _git(root, "rev-parse", "HEAD")
        if head.returncode != 0 or not head.stdout.strip():
            return "unknown"
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float | None:
    """The 1-minute load average (processes running or waiting for a CPU), where the OS has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second (``2026-01-31T12:00:00+00:00``)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


__all__ = ["REPO_ROOT", "atomic_write_json", "atomic_write_text", "atomic_writer", "cpu_model",
           "git_commit", "load_average", "utc_now"]
