"""A zygote: one interpreter per parallel slot that has imported PyTorch and NumPy, inside the
slot's bubblewrap sandbox, and forks a freshly isolated child for every submission.

Why: a fresh ``python -m bookgrader.runner`` spends nearly all of its ~2 CPU seconds on
``import torch``. Here that import is paid once per slot, and each submission costs a ``fork``.

What is shared, and why it is safe:

- The zygote runs only trusted code: it imports the libraries the exercises' locked set-up cells
  import (:data:`PRELOAD`), then reads small control messages and file descriptors from the grader.
  It never reads a job (the student's cells arrive on a pipe only the child reads), never runs
  student code and never sees a result, so a child starts from the zygote's state, which no
  student has touched, and nothing one child does reaches the zygote or a later child (a fork's
  memory is a copy). ``tests/test_grading_sandbox.py`` proves it with students who monkeypatch
  ``torch``, set module attributes and write ``sys.modules``.
- The root file system (read-only binds, hidden folders covered) is the zygote's bubblewrap
  sandbox, built by bubblewrap from the same arguments as for a fresh process
  (:meth:`.sandbox.Sandbox.zygote_command`). Everything that is per process in that sandbox is
  made anew for each child (:mod:`.isolate`): PID, mount, network, IPC, UTS and cgroup
  namespaces, ``/proc``, ``/dev/pts``, the tmpfs folders, the rlimits, the slot's uid with no
  capabilities, no groups and ``no_new_privs``, checked by reading ``/proc/self/status`` back.
- What a fork does share: the zygote's address-space layout (ASLR, stack canary) with every child
  of that zygote. A student can learn it but has nothing to use it on: no input of hers reaches
  the zygote or the grader's own process (a separate, unrelated interpreter).

Process tree per submission, like bubblewrap's: the zygote forks a *monitor* (outside the new
PID namespace, reports the exit status), which forks an *init* (PID 1: mounts, then reaps), which
forks the *student process* (PID 2: drops privileges, then runs :mod:`.runner` as ``__main__``
with the same ``sys.argv`` as a fresh process). Each dies with its parent; the zygote kills the
monitor when the grader asks (wall-clock timeout), and the PID namespace dies with its init.

Any failure on this path fails closed: the child stops before student code runs, and the grader
reports the submission as not graded (the sandbox could not start), never with less isolation.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import runpy
import select
import signal
import socket
import sys
import traceback

from bookgrader import isolate

PRELOAD = ("numpy", "torch", "bookgrader.values")
STD_FDS = (0, 1, 2, 3)  # stdin, stdout, stderr, results: as a fresh runner gets them
RESULT_FD = 3
MAX_MESSAGE = 65536
EXIT_ISOLATION, EXIT_INTERNAL = 71, 72


# ----------------------------------------------------------------------------- messages
def send(sock: socket.socket, message: dict, fds: tuple[int, ...] = ()) -> None:
    data = json.dumps(message).encode("utf-8")
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """One message and the descriptors that came with it; (None, []) at end of file."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 8)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data.decode("utf-8")), fds


# ----------------------------------------------------------------------------- child side
def _report(fd: int, error: BaseException) -> None:
    text = "".join(traceback.format_exception(error))
    try:
        os.write(fd, f"zygote child: {text}".encode("utf-8", "replace")[-4000:])
    except OSError:
        pass


def _exit_code(status: int) -> int:
    """A wait status as bubblewrap reports it: the exit code, or 128 + the signal."""
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _fresh_state() -> None:
    """Seed what a fresh interpreter seeds from the system at import (the global generators of
    Python, NumPy and PyTorch), so that no two children share a random stream."""
    random.seed()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()


def _descriptors(fds: list[int]) -> None:
    """The runner's descriptors at 0..3 (as a fresh runner gets them), every other one closed."""
    high = [os.dup(fd) for fd in fds]  # no clash between the received numbers and 0..3
    for fd, target in zip(high, STD_FDS, strict=True):
        os.dup2(fd, target)
    os.closerange(len(STD_FDS), os.sysconf("SC_OPEN_MAX"))


def _student(job: dict) -> None:
    """PID 2: no privileges, a fresh-interpreter state, then the runner itself."""
    isolate.die_with_parent(1)
    os.chdir("/scratch")
    isolate.drop_privileges(job["uid"], [tuple(r) for r in job["rlimits"]])
    _fresh_state()
    sys.argv = ["-m", "--result-fd", str(RESULT_FD)]  # runpy sets argv[0] as -m does
    runpy.run_module("bookgrader.runner", run_name="__main__", alter_sys=True)


def _run_student(job: dict, fds: list[int]) -> int:
    try:
        _descriptors(fds)
    except BaseException as error:  # noqa: BLE001 - reported on the child's stderr
        _report(fds[2], error)
        return EXIT_INTERNAL
    try:
        _student(job)
        return 0
    except isolate.IsolationError as error:
        _report(2, error)
        return EXIT_ISOLATION
    except BaseException as error:  # noqa: BLE001 - as an uncaught exception in a fresh process
        _report(2, error)
        return 1


def _reap(main: int) -> int:
    """PID 1's work: reap every process of the namespace until the student process ends."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return EXIT_INTERNAL
        except InterruptedError:
            continue
        if pid == main:
            return _exit_code(status)


def _init(job: dict, fds: list[int], monitor_alive: int) -> int:
    """PID 1 of the new PID namespace: its own namespaces and mounts, then the student process."""
    isolate.die_with_parent(0, monitor_alive)  # the monitor is outside: pid 0 seen from here
    isolate.enter_namespaces()
    isolate.fresh_mounts(int(job["scratch"]))
    os.setsid()  # bubblewrap's --new-session: no terminal to inject input into
    pid = os.fork()
    if pid == 0:
        os._exit(_run_student(job, fds))
    for fd in fds:
        os.close(fd)
    isolate.drop_capabilities()
    return _reap(pid)


def _child_exit(fds: list[int], body) -> None:
    """In a forked child: run ``body`` (all of the child's work, so that nothing it raises can
    reach the parent's code) and leave with its exit code, never returning. An isolation failure
    exits with EXIT_ISOLATION, any other error with EXIT_INTERNAL, both reported on the child's
    stderr (``fds[2]``)."""
    code = EXIT_INTERNAL
    try:
        code = body()
    except isolate.IsolationError as error:
        _report(fds[2], error)
        code = EXIT_ISOLATION
    except BaseException as error:  # noqa: BLE001 - reported on the child's stderr
        _report(fds[2], error)
    finally:
        os._exit(code)


def _monitor(job: dict, fds: list[int], zygote: int) -> int:
    """Outside the new PID namespace: start its init, wait, pass its exit status on."""
    isolate.die_with_parent(zygote)
    isolate.unshare(isolate.CLONE_NEWPID)
    alive, keep = os.pipe()  # end of file on alive: this monitor is gone
    pid = os.fork()
    if pid == 0:
        def body() -> int:
            os.close(keep)
            return _init(job, fds, alive)
        _child_exit(fds, body)
    for fd in (*fds, alive):
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return _exit_code(status)


# ----------------------------------------------------------------------------- zygote side
def _spawn(job: dict, fds: list[int], sock: socket.socket) -> int:
    """Fork the monitor of one submission; the zygote keeps none of its descriptors."""
    if len(os.listdir("/proc/self/task")) != 1:  # a fork copies one thread: refuse to guess
        raise RuntimeError("the zygote has more than one thread")
    if len(fds) != len(STD_FDS):
        raise RuntimeError(f"expected {len(STD_FDS)} descriptors, got {len(fds)}")
    sys.stdout.flush()
    sys.stderr.flush()
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        def body() -> int:
            sock.close()
            return _monitor(job, fds, zygote)
        _child_exit(fds, body)
    return pid


def _watch(pid: int, sock: socket.socket) -> int | None:
    """Wait for the monitor; kill it when the grader asks. None: the grader is gone."""
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            ready, _, _ = select.select([pidfd, sock], [], [])
            if pidfd in ready:
                return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            message, fds = receive(sock)
            for fd in fds:
                os.close(fd)
            if message is None or message.get("kill"):
                os.kill(pid, signal.SIGKILL)  # its init, and so its namespace, follow
                if message is None:
                    os.waitpid(pid, 0)
                    return None
    finally:
        os.close(pidfd)


def serve(sock: socket.socket) -> int:
    """Import once, then one child per request until the grader closes the socket."""
    for name in PRELOAD:
        importlib.import_module(name)
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        send(sock, {"event": "error", "message": f"{threads} threads after the imports"})
        return 1
    send(sock, {"event": "ready", "pid": os.getpid(), "preloaded": list(PRELOAD)})
    while True:
        message, fds = receive(sock)
        if message is None:
            return 0
        if "run" not in message:  # a kill that came after its child ended
            for fd in fds:
                os.close(fd)
            continue
        try:
            pid = _spawn(message["run"], fds, sock)
        except (OSError, RuntimeError, KeyError) as error:
            send(sock, {"event": "error", "message": f"{type(error).__name__}: {error}"})
            continue
        finally:
            for fd in fds:
                os.close(fd)
        code = _watch(pid, sock)
        if code is None:
            return 0
        send(sock, {"event": "exit", "returncode": code})


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[argv.index("--control-fd") + 1]))
    try:
        return serve(sock)
    except BaseException as error:  # noqa: BLE001 - the grader reads it from the zygote's stderr
        traceback.print_exc()
        try:
            send(sock, {"event": "error", "message": f"{type(error).__name__}: {error}"})
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
