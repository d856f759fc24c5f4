"""The grader's side of a zygote (:mod:`.zygote`): start it in its bubblewrap sandbox, hand it the
pipes of one submission, and look, to :func:`.pipes.pump`, like a ``subprocess.Popen``.

The grader only sends descriptors and a few numbers it chose itself (uid, rlimits, tmpfs size):
the job travels on the child's stdin pipe, which the zygote never reads. Any failure here (the
zygote does not start, stops, or does not answer) ends that submission's run as "the sandbox
could not start" and restarts the zygote for the next one; it never falls back to less isolation.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from bookgrader.zygote import receive, send

READY_TIMEOUT = 300.0  # importing PyTorch on a busy machine
KILL_TIMEOUT = 30.0  # the zygote's answer to a kill
# bubblewrap's --die-with-parent follows the *thread* that started it: zygotes are started by
# this one thread, which lives as long as the grader, not by a pool's thread that ends with it
_STARTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zygote-starter")


class ZygoteError(RuntimeError):
    """The zygote did not start or stopped answering; the message says what it printed."""


class Zygote:
    """One zygote process (bubblewrap, then ``python -m bookgrader.zygote``)."""

    def __init__(self, key: tuple, command, ready_timeout: float = READY_TIMEOUT) -> None:
        """command(control_fd) gives the argument list; key says which sandbox it was built for."""
        self.key, self.broken = key, False
        self.sock, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the zygote lives
        try:
            self.proc = _STARTER.submit(
                subprocess.Popen, command(child_end.fileno()), stdin=subprocess.DEVNULL,
                stdout=self.log, stderr=self.log, pass_fds=(child_end.fileno(),), cwd="/",
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, start_new_session=True).result()
        except OSError as error:
            self.sock.close()
            raise ZygoteError(f"the zygote could not start: {error}") from error
        finally:
            child_end.close()
        message = self.receive(ready_timeout)
        if message is None or message.get("event") != "ready":
            self.close()
            raise ZygoteError(f"the zygote did not start: {message or self.tail()}")

    def tail(self) -> str:
        """The last lines the zygote (or bubblewrap) printed."""
        try:
            self.log.seek(0)
            text = self.log.read()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return "no output"
        return text.splitlines()[-1] if text else "no output"

    def alive(self) -> bool:
        return not self.broken and self.proc.poll() is None

    def receive(self, timeout: float | None) -> dict | None:
        """The next message; None after timeout, at end of file or on an error (then broken)."""
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return None
            message, fds = receive(self.sock)
        except (OSError, ValueError):
            message, fds = None, []
        for fd in fds:
            os.close(fd)
        if message is None:
            self.broken = True
        return message

    def spawn(self, request: dict, stdin: int, stdout: int, stderr: int,
              results: int) -> ZygoteProcess:
        """Hand the child's ends of its four pipes to the zygote (which forks the child)."""
        try:
            send(self.sock, {"run": request}, (stdin, stdout, stderr, results))
        except OSError as error:
            self.broken = True
            raise ZygoteError(f"the zygote stopped ({error}; {self.tail()})") from error
        return ZygoteProcess(self)

    def close(self) -> None:
        """Stop the zygote and its sandbox (closing the socket alone would also do it)."""
        self.broken = True
        self.sock.close()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.log.close()


class ZygoteProcess:
    """One forked child, as :func:`.pipes.pump` uses a Popen: poll, wait, kill, returncode."""

    def __init__(self, zygote: Zygote) -> None:
        self.zygote, self.returncode, self.failure = zygote, None, ""
        self.stdin = self.stdout = self.stderr = None  # set by the caller

    def _take(self, message: dict | None) -> None:
        if message is None:
            self.failure = f"the zygote stopped ({self.zygote.tail()})"
            self.returncode = -1
        elif message.get("event") == "exit":
            self.returncode = int(message["returncode"])
        else:
            self.failure = f"the zygote refused: {message.get('message', message)}"
            self.zygote.broken = True
            self.returncode = -1

    def poll(self) -> int | None:
        if self.returncode is None and (select.select([self.zygote.sock], [], [], 0)[0]
                                        or not self.zygote.alive()):
            self._take(self.zygote.receive(0.0))
        return self.returncode

    def wait(self, timeout: float = KILL_TIMEOUT) -> int:
        """The exit status; a zygote that does not answer in time is stopped (and its sandbox,
        so every process of the child with it)."""
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.zygote.close()
                self.failure, self.returncode = "the zygote did not answer", -9
                break
            if self._ready(left):
                self._take(self.zygote.receive(left))
        return self.returncode

    def _ready(self, timeout: float) -> bool:
        return bool(select.select([self.zygote.sock], [], [], min(timeout, 0.5))[0]) or (
            not self.zygote.alive())

    def kill(self) -> None:
        if self.returncode is None and self.zygote.alive():
            try:
                send(self.zygote.sock, {"kill": True})
            except OSError:
                self.zygote.close()
