"""Run one job in a separate, unprivileged, resource-limited process, and read back plain data.

Three modes. :func:`detect` fails closed: it gives the strongest mode this user can have (``bwrap``
as root, ``bwrap-userns`` otherwise), checked by actually starting the interpreter in it, or raises
:class:`SandboxUnavailable` with what is missing, why and the fix; a weaker mode only with
``allow_weak=True`` (``--allow-weak-sandbox``), and then :attr:`Sandbox.protections_off` says what
is off, for the log, the gradebook and every feedback file.

``bwrap``
    bubblewrap as root: new mount, PID, network, IPC and UTS namespaces; a root made of read-only
    binds of the system (``/usr``), the Python installation, the virtualenv, the sandboxed
    interpreter's own ``sys.path`` and the ``convlib`` package only (real paths, bound again at the
    paths Python knows them by, so symbolic links and a venv or checkout anywhere work), never a
    folder that holds the exercise sources, the submissions or the grader's output (those are
    hidden under empty read-only tmpfs where a bound folder contains them); private size-limited
    tmpfs ``/scratch`` (working folder), ``/tmp`` and ``/dev/shm``; then ``prlimit`` sets the
    rlimits and ``setpriv`` switches to a dedicated uid (one per parallel slot) with no
    capabilities, no supplementary groups and ``no_new_privs``.
    Every job gets a fresh sandbox and a fresh interpreter: nothing is shared between two
    submissions but the read-only binds.
``bwrap-userns``
    the same without root: the process keeps the grader's uid (mapped in a
    user namespace).
``rlimits``
    no bubblewrap: only the rlimits, a fresh working folder and a clean environment.

In every mode the job goes in on stdin and the results come back on a pipe, both as JSON; stdout
and stderr are drained with a size cap; a wall-clock timeout kills the whole process group.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import bookgrader
import convlib
from bookgrader.mounts import bind_args, interpreter_sys_path, mounts
from bookgrader.pipes import RunResult, parse, pump

UID_BASE = 61000
MODES = ("bwrap", "bwrap-userns", "rlimits")
PROBE_IMPORTS = ("numpy", "torch")  # what the exercises' locked set-up cells import
WEAK_FLAG = "--allow-weak-sandbox"
USERNS_SETTINGS = ("/proc/sys/kernel/unprivileged_userns_clone",
                   "/proc/sys/user/max_user_namespaces",
                   "/proc/sys/kernel/apparmor_restrict_unprivileged_userns")


class SandboxUnavailable(RuntimeError):
    """The strong sandbox cannot run here (or a weaker one was asked for without the opt-in);
    the message says which protection is missing, why, and the fix."""


def strong_mode() -> str:
    """The strongest mode for this user: bwrap with a uid switch needs root."""
    return "bwrap" if os.geteuid() == 0 else "bwrap-userns"


def _userns_state() -> str:
    values = []
    for path in USERNS_SETTINGS:
        try:
            values.append(f"{path[len('/proc/sys/'):].replace('/', '.')}="
                          f"{Path(path).read_text().strip()}")
        except OSError:
            continue
    return ", ".join(values) or "no user-namespace settings readable"


def fix_for(reason: str) -> str:
    """How an administrator makes the strong sandbox available, for a reason of unavailable()."""
    if "bwrap is not installed" in reason:
        return "install bubblewrap: apt-get install bubblewrap (dnf install bubblewrap on Fedora)"
    if "util-linux" in reason:
        return "install util-linux (apt-get install util-linux), which provides setpriv and prlimit"
    if "inside the sandbox" in reason:
        return ("keep the virtualenv and the folders Python imports from apart from the exercise "
                "sources, the submissions and the output folder, which the sandbox hides")
    userns = ("sysctl -w kernel.unprivileged_userns_clone=1 (Debian), sysctl -w "
              "user.max_user_namespaces=15000, and on Ubuntu 24.04+ sysctl -w "
              f"kernel.apparmor_restrict_unprivileged_userns=0 (now: {_userns_state()})")
    if os.geteuid() == 0:
        return ("bubblewrap could not start the interpreter as root: grade where new namespaces "
                "are allowed (a VM, or a container with CAP_SYS_ADMIN and no seccomp filter "
                f"against unshare), or as another user with unprivileged user namespaces: {userns}")
    return f"allow unprivileged user namespaces, which bubblewrap needs without root: {userns}"


@dataclass
class Limits:
    timeout: float = 60.0  # wall-clock seconds for one notebook
    cell_timeout: float = 10.0  # soft limit per cell and per probe
    memory: int = 2 * 2**30  # RLIMIT_DATA (heap and anonymous mappings)
    address_space: int = 8 * 2**30  # RLIMIT_AS (torch alone maps ~3.3 GB of libraries)
    processes: int = 64  # RLIMIT_NPROC (threads count)
    file_size: int = 16 * 2**20  # RLIMIT_FSIZE
    open_files: int = 128  # RLIMIT_NOFILE
    output: int = 2**20  # stdout + stderr passed through, each
    results: int = 32 * 2**20  # bytes of JSON results accepted
    scratch: int = 64 * 2**20  # each tmpfs

    def prlimit_args(self) -> list[str]:
        cpu = int(self.timeout) + 5
        return [f"--as={self.address_space}", f"--data={self.memory}", f"--cpu={cpu}:{cpu + 2}",
                f"--nproc={self.processes}", f"--fsize={self.file_size}",
                f"--nofile={self.open_files}", "--core=0"]

    def rlimits(self) -> list[tuple[str, int, int]]:
        """The same limits as :meth:`prlimit_args`, for Python to set where prlimit is missing."""
        cpu = int(self.timeout) + 5
        same = (("RLIMIT_AS", self.address_space), ("RLIMIT_DATA", self.memory),
                ("RLIMIT_NPROC", self.processes), ("RLIMIT_FSIZE", self.file_size),
                ("RLIMIT_NOFILE", self.open_files), ("RLIMIT_CORE", 0))
        return [(name, value, value) for name, value in same] + [("RLIMIT_CPU", cpu, cpu + 2)]


def _env(home: str) -> dict[str, str]:
    return {"HOME": home, "TMPDIR": "/tmp", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
            "USER": "student", "LOGNAME": "student",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib", "PYTHONHASHSEED": "0",
            "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1"}


def _free_uid(slot: int) -> int:
    uid = UID_BASE + slot
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
        uid += 100


def _wait_for_uid_to_end(uid: int, timeout: float = 10.0) -> bool:
    """Wait until no process runs as uid (a killed PID namespace takes a moment to empty)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        alive = True
                        break
                except OSError:
                    continue
        if not alive:
            return True
        time.sleep(0.05)
    return False


class Sandbox:
    """Starts runner processes in one mode; ``protections_off`` says what that mode lacks."""

    def __init__(self, mode: str, limits: Limits | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown sandbox mode {mode!r}; use one of {MODES}")
        self.mode, self.limits = mode, limits or Limits()
        # the venv's bin folder resolved, the file name not: Python finds its pyvenv.cfg next to
        # the path it was started by, so a venv reached through a symbolic link keeps working
        self.python = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(
            sys.executable))), os.path.basename(sys.executable))
        self.package_paths = [os.path.dirname(os.path.abspath(package.__file__))
                              for package in (convlib, bookgrader)]
        checkout = Path(os.path.realpath(self.package_paths[1])).parent
        # never visible inside: the exercise sources (solutions, hidden tests) and the history
        # that holds them; grade() adds the submissions and its output folder
        self.hidden: set[str] = set()
        self.protect(checkout / "exercises", checkout / ".git")
        self._sys_path: list[str] | None = None
        self.bwrap, self.setpriv, self.prlimit = (
            shutil.which(n) for n in ("bwrap", "setpriv", "prlimit")
        )
        # switch to a dedicated uid: always under bwrap as root; in rlimits mode when root and
        # the interpreter is readable by that uid (unavailable() checks and may turn it off)
        self.drop_uid = os.geteuid() == 0 and bool(self.setpriv) and mode != "bwrap-userns"

    def protect(self, *paths: os.PathLike | str) -> None:
        """Keep these folders out of the sandbox (by real path and by the path given)."""
        for path in paths:
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"paths must be paths, got {type(path).__name__}")
            self.hidden |= {os.path.abspath(path), os.path.realpath(path)}

    # ------------------------------------------------------------------ description
    @property
    def protections_off(self) -> list[str]:
        if self.mode == "bwrap":
            return []
        off = []
        if not self.drop_uid:
            who = "root" if os.geteuid() == 0 else "the grader's own user"
            off.append(f"student code runs as {who}, not as a separate unprivileged user")
        if self.mode == "rlimits":
            off += ["no filesystem isolation: student code can read what the grader can (hidden "
                    "tests, solutions, other submissions, the gradebook) and write where it can",
                    "no network isolation", "no PID namespace: processes a submission leaves "
                    "behind in a new session may outlive it"]
            if os.geteuid() == 0 and not self.drop_uid:
                off.append("the process-count limit does not apply to root")
            if not self.prlimit:
                off.append("rlimits set from Python (prlimit not found)")
        return off

    def describe(self) -> str:
        off = self.protections_off
        return f"sandbox: {self.mode}" + ("" if not off else "; OFF: " + "; ".join(off))

    def unavailable(self) -> str | None:
        """None when this mode works here (Python really starts in it), else why not."""
        missing = self._missing_tool()
        if missing is not None:
            return missing
        probe = Sandbox(self.mode, Limits(timeout=60, cell_timeout=5))
        probe.drop_uid, probe.hidden = self.drop_uid, set(self.hidden)
        # what the exercises import must import inside too (a site folder left out would only
        # show later, as a failed reference run)
        job = {"probe_only": True,
               "imports": [m for m in PROBE_IMPORTS if importlib.util.find_spec(m) is not None]}
        result = probe.run(job)
        done = next((e for e in result.events if e.get("event") == "done"), {})
        if self.mode == "rlimits" and self.drop_uid and done.get("base_prefix") != sys.base_prefix:
            # the dedicated uid cannot read this Python installation (e.g. under /root): a
            # process would start with another standard library, or not at all
            self.drop_uid = probe.drop_uid = False
            result = probe.run(job)
        if not result.done:
            detail = result.stderr_head.strip().splitlines()[-1:] or [
                f"exit status {result.returncode}"
            ]
            return f"a test start failed ({detail[0][:200]})"
        done = next(e for e in result.events if e.get("event") == "done")
        if done.get("import_errors"):
            return f"a test start failed (inside the sandbox: {done['import_errors'][0][:200]})"
        uid = done.get("uid")
        if self.drop_uid and uid in (0, os.geteuid()):
            return "the process did not switch to a separate uid"
        return None

    def _missing_tool(self) -> str | None:
        """What this mode needs and this machine lacks (bwrap, root, setpriv, prlimit), or None."""
        if self.mode == "rlimits":
            return None  # no bubblewrap; without setpriv or prlimit, protections_off says so
        if not self.bwrap:
            return "bwrap is not installed (apt-get install bubblewrap)"
        if self.mode == "bwrap" and os.geteuid() != 0:
            return "not root, so no switch to a separate uid"
        if self.mode == "bwrap" and not self.setpriv:
            return "setpriv (util-linux) is not installed"
        if not self.prlimit:
            return "prlimit (util-linux) is not installed"
        return None

    # ------------------------------------------------------------------ command line
    def _binds(self) -> list[str]:
        if self._sys_path is None:  # once per sandbox: a subprocess
            self._sys_path = interpreter_sys_path(self.python)
        return bind_args(mounts(self.python, self.package_paths, self._sys_path, self.hidden),
                         self.hidden)

    def _flags(self) -> list[str]:
        return ["-E", "-s", "-B"] + (["-P"] if sys.version_info >= (3, 11) else [])

    def _bwrap_args(self) -> list[str]:
        """bubblewrap's namespaces, environment, private folders and binds (up to the caps)."""
        size = str(self.limits.scratch)
        args = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
                "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent",
                "--new-session", "--clearenv"]
        for key, value in _env("/scratch").items():
            args.extend(["--setenv", key, value])
        # Private folders first, read-only binds after: a checkout or venv under /tmp stays visible.
        args += ["--proc", "/proc", "--dev", "/dev"]
        for tmpfs in ("/dev/shm", "/tmp", "/scratch"):
            args += ["--size", size, "--perms", "1777", "--tmpfs", tmpfs]
        args += self._binds()
        return args + ["--chdir", "/scratch"]

    def command(self, slot: int, result_fd: int) -> list[str]:
        runner = [self.python, *self._flags(), "-m", "bookgrader.runner",
                  "--result-fd", str(result_fd)]
        limits = [self.prlimit or "prlimit", *self.limits.prlimit_args(), "--"]
        uid = str(_free_uid(slot))
        drop = [self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
        if self.mode == "rlimits":
            return (limits if self.prlimit else []) + (drop if self.drop_uid else []) + runner
        args = self._bwrap_args()
        if self.mode == "bwrap-userns":
            return args + ["--unshare-user", "--"] + limits + runner
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
                 "--"]
        return args + limits + drop + runner

    # ------------------------------------------------------------------ running
    def run(self, job: dict, slot: int = 0) -> RunResult:
        """Run one job; never raises for anything the job's code does."""
        job = dict(job, soft_timeout=self.limits.cell_timeout, output_limit=self.limits.output)
        payload = json.dumps(job).encode("utf-8")
        result = RunResult()
        scratch = tempfile.mkdtemp(prefix="convlib-grading-") if self.mode == "rlimits" else None
        read_fd, write_fd = os.pipe()
        try:
            try:
                proc = self._start(slot, write_fd, scratch)
            except OSError as error:
                result.returncode, result.stderr_head = -1, f"could not start the sandbox: {error}"
                return result
            finally:
                os.close(write_fd)
            start = time.monotonic()
            raw = pump(proc, payload, read_fd, result, start, self.limits.timeout,
                       self.limits.results)
        finally:
            os.close(read_fd)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
        if getattr(proc, "failure", ""):
            result.stderr_head = f"{proc.failure}\n{result.stderr_head}"
        if self.drop_uid:
            _wait_for_uid_to_end(_free_uid(slot))  # the slot's next run starts with no leftovers
        result.duration = time.monotonic() - start
        code = proc.returncode
        result.returncode = code
        signum = (-code if code is not None and code < 0
                  else (code - 128 if code and 128 < code < 160 else 0))
        if signum:
            try:
                result.signal = signal.Signals(signum).name
            except ValueError:
                result.signal = f"signal {signum}"
        parse(raw, result)
        return result

    def _start(self, slot: int, result_fd: int,
               scratch: str | None) -> subprocess.Popen:
        """The process of one job: a fresh sandbox."""
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        if scratch:
            env = dict(_env(scratch), TMPDIR=scratch, MPLCONFIGDIR=scratch)
            if self.drop_uid:
                os.chown(scratch, _free_uid(slot), _free_uid(slot))
        preexec = self._python_rlimits if (self.mode == "rlimits" and not self.prlimit) else None
        return subprocess.Popen(self.command(slot, result_fd), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=(result_fd,), cwd=scratch or "/", env=env,
                                start_new_session=True, preexec_fn=preexec)

    def _python_rlimits(self) -> None:  # pragma: no cover - only without prlimit
        for name, soft, hard in self.limits.rlimits():
            resource.setrlimit(getattr(resource, name), (soft, hard))


def _weak_refusal(mode: str, strong: str, reason: str | None) -> str:
    """The one message for a refused grading run: what is missing, why, the fix, the opt-in."""
    tried = strong if reason is None else mode
    what = ("filesystem, network and process isolation"
            + (" and a separate unprivileged uid" if tried == "bwrap" else ""))
    if reason is None:  # a weaker mode was asked for by name
        head = (f"refusing to grade with the {mode} sandbox: it is weaker than the {strong} "
                f"sandbox this machine can give ({what})")
        fix = f"drop --sandbox {mode}"
    else:
        head = f"refusing to grade: the {mode} sandbox ({what}) is not available: {reason}"
        fix = fix_for(reason)
    return (f"{head}. Fix: {fix}. To grade anyway with weaker isolation (student code can then "
            f"read the hidden tests and solutions, and write wherever the grader can), pass "
            f"{WEAK_FLAG} (make grade GRADE_FLAGS={WEAK_FLAG}); the log, the gradebook's notes and "
            f"every feedback file then say which protections were off.")


def detect(requested: str = "auto", limits: Limits | None = None, allow_weak: bool = False,
           hidden: tuple = ()) -> tuple[Sandbox, list[str]]:
    """The strong mode (:func:`strong_mode`) if it really starts Python here, with notes on what
    was not available; raises :class:`SandboxUnavailable` otherwise. A weaker mode (by request or
    as a fallback) only with ``allow_weak``. ``hidden``: folders kept out of the sandbox (the
    submissions, the output), already during the test start."""
    if requested != "auto" and requested not in MODES:
        raise ValueError(f"requested must be 'auto' or one of {MODES}, got {requested!r}")
    strong = strong_mode()
    if requested != "auto" and MODES.index(requested) > MODES.index(strong) and not allow_weak:
        raise SandboxUnavailable(_weak_refusal(requested, strong, None))
    notes: list[str] = []
    if requested != "auto":
        candidates: tuple[str, ...] = (requested,)
    else:
        candidates = MODES[MODES.index(strong):] if allow_weak else (strong,)
    for mode in candidates:
        box = Sandbox(mode, limits)
        box.protect(*hidden)
        reason = box.unavailable()
        if reason is None:
            return box, notes
        notes.append(f"{mode}: {reason}")
    if not allow_weak or (requested != "auto" and MODES.index(requested) <= MODES.index(strong)):
        raise SandboxUnavailable(_weak_refusal(candidates[0], strong, notes[0].split(": ", 1)[1]))
    raise SandboxUnavailable("no sandbox mode works here: " + "; ".join(notes)
                             + f". Fix: {fix_for(notes[0])}.")
