"""The grader's side of one sandboxed process: feed the job, drain its pipes with caps, enforce the
wall-clock limit, and read the results back as JSON lines (used by :mod:`.sandbox`)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field


@dataclass
class RunResult:
    events: list[dict] = field(default_factory=list)
    bad_lines: int = 0
    returncode: int | None = None
    signal: str | None = None
    timed_out: bool = False
    results_overflow: bool = False
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    stderr_head: str = ""
    duration: float = 0.0
    sandbox_failure: str = ""  # the sandbox could not start, or was killed from outside
    oom_kills: int = 0  # processes the kernel killed in the submission's cgroup (memory)

    @property
    def done(self) -> bool:
        return any(e.get("event") == "done" for e in self.events)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process group the sandbox started, then the process."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def pump(proc: subprocess.Popen, payload: bytes, read_fd: int, result: RunResult, start: float,
         timeout: float, results_limit: int) -> bytes:
    """Feed stdin, drain stdout/stderr/results with caps, enforce the wall-clock limit."""
    sel = _selector(proc, read_fd)
    sent, kept = 0, _Kept(results_limit)
    deadline, drain_until = start + timeout, None
    while sel.get_map() and not result.results_overflow:
        now = time.monotonic()
        drain_until = _drain_until(proc, result, now, deadline, drain_until)
        if drain_until is not None and now >= drain_until:
            break
        wait = min((drain_until or deadline) - now, 0.25)
        for key, _ in sel.select(timeout=max(wait, 0.01)):
            if key.data == "stdin":
                sent = _feed(sel, proc, key.fd, payload, sent)
            else:
                _drain(sel, key.fd, key.data, kept, result)
    if result.results_overflow:  # output too large: stop it now, keep nothing of it
        kill(proc)
        kept.chunks.clear()
    _finish(proc, result.timed_out or result.results_overflow)
    result.stderr_head = kept.stderr.decode("utf-8", "replace")
    return b"".join(kept.chunks)


def _selector(proc: subprocess.Popen, read_fd: int) -> selectors.BaseSelector:
    """A selector over the output pipes (to read) and stdin (to write), all non-blocking."""
    sel = selectors.DefaultSelector()
    streams = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr",
               read_fd: "results"}
    for fd, name in streams.items():
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, name)
    stdin_fd = proc.stdin.fileno()
    os.set_blocking(stdin_fd, False)
    sel.register(stdin_fd, selectors.EVENT_WRITE, "stdin")
    return sel


def _drain_until(proc: subprocess.Popen, result: RunResult, now: float, deadline: float,
                 drain_until: float | None) -> float | None:
    """When draining stops: 2 s after the process ended or was killed at the wall-clock limit."""
    if drain_until is not None:
        return drain_until
    if proc.poll() is not None:
        return now + 2.0
    if now >= deadline:
        result.timed_out = True
        kill(proc)
        proc.wait()
        return now + 2.0
    return None


def _feed(sel: selectors.BaseSelector, proc: subprocess.Popen, stdin_fd: int, payload: bytes,
          sent: int) -> int:
    """The write side of stdin: the payload's next 64 KiB; stdin closed once all is sent."""
    try:
        sent += os.write(stdin_fd, payload[sent : sent + 65536])
    except BlockingIOError:
        return sent
    except OSError:  # the process closed its stdin: it will not read the rest
        sent = len(payload)
    if sent >= len(payload):
        sel.unregister(stdin_fd)
        proc.stdin.close()
    return sent


def _drain(sel: selectors.BaseSelector, fd: int, name: str, kept: _Kept,
           result: RunResult) -> None:
    """The read side of one output pipe: one read, kept within the caps; unregistered at its end."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        sel.unregister(fd)
        return
    kept.add(name, data, result)


@dataclass
class _Kept:
    """What pump keeps of the output: the results up to their cap, stderr's first 4096 bytes."""

    results_limit: int
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    stderr: bytearray = field(default_factory=bytearray)

    def add(self, name: str, data: bytes, result: RunResult) -> None:
        """Count one read from the named pipe in result, and keep what the caps allow."""
        if name == "results":
            if self.size + len(data) > self.results_limit:
                result.results_overflow = True
            else:
                self.chunks.append(data)
                self.size += len(data)
        elif name == "stdout":
            result.stdout_bytes += len(data)
        else:
            result.stderr_bytes += len(data)
            if len(self.stderr) < 4096:
                self.stderr.extend(data[: 4096 - len(self.stderr)])


def _finish(proc: subprocess.Popen, timed_out: bool) -> None:
    """Reap the process; one still running once its pipes are drained is killed (after a short
    grace: bubblewrap reports its exit a moment after the pipes close)."""
    grace = time.monotonic() + (0.0 if timed_out else 1.0)
    while proc.poll() is None and time.monotonic() < grace:
        time.sleep(0.005)
    if proc.poll() is None:  # pipes still open past the drain window: stop everything
        kill(proc)
    proc.wait()
    for handle in (proc.stdin, proc.stdout, proc.stderr):
        try:
            handle.close()
        except OSError:
            pass

def parse(raw: bytes, result: RunResult) -> None:
    """The results pipe's JSON lines into result.events (anything else is a bad line)."""
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            result.bad_lines += 1
            continue
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            result.events.append(event)
        else:
            result.bad_lines += 1
