"""Run one job in a fresh, unprivileged, resource-limited sandbox, and read back plain data.

:func:`detect` fails closed: it gives the sandbox for this user (``bwrap`` as root,
``bwrap-userns`` otherwise), checked by actually starting the interpreter in it, or raises
:class:`SandboxUnavailable` with what is missing, why and the fix. There is no weaker fallback
for grading: no bubblewrap, no seccomp filter, no grading.

``bwrap``
    bubblewrap as root, one fresh sandbox per job: new mount, PID, network, IPC, UTS and cgroup
    namespaces; a root made of read-only binds of the system (``/usr``), the Python installation,
    the virtualenv, the sandboxed interpreter's own ``sys.path`` and the ``convlib`` and
    ``bookgrader`` packages only (real paths, bound again at the paths Python knows them by, so
    symbolic links and a venv or checkout anywhere work), never a folder that holds the exercise
    sources, the submissions or the grader's output (those are hidden under empty read-only tmpfs
    where a bound folder contains them); a fresh ``/proc`` (``/proc/sys`` read-only); private
    size-limited tmpfs ``/scratch`` (working folder), ``/tmp`` and ``/dev/shm``; the seccomp
    filter of :mod:`.seccomp` (bubblewrap's ``--seccomp``); then ``prlimit`` sets the rlimits and
    ``setpriv`` switches to a dedicated uid (one per parallel slot) with no capabilities, an
    empty bounding set, no supplementary groups and ``no_new_privs``, before any student code.
``bwrap-userns``
    the same without root: the process keeps the grader's uid (mapped in a user namespace).
``rlimits``
    Gradescope's container only (:mod:`.gradescope`), where Docker forbids bubblewrap's
    namespaces and a fresh container per submission is the outer boundary: the rlimits, the same
    seccomp filter (loaded in the child before exec), a separate uid without capabilities, and
    root-only folders for everything secret. :func:`detect` never gives it.

Every mode runs each job in its own cgroup where one can be made (:mod:`.cgroups`: memory with
swap off, processes), with the students' high ``oom_score_adj``. The job goes in on stdin and the
results come back on a pipe, both as JSON; stdout and stderr are drained with a size cap, the
results too (beyond it the process is stopped: "output too large"); a wall-clock timeout kills the
whole process group.
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
from bookgrader import seccomp
from bookgrader.cgroups import Cgroup, Cgroups, open_cgroups, student_command
from bookgrader.mounts import bind_args, interpreter_sys_path, mounts
from bookgrader.pipes import RunResult, parse, pump

UID_BASE = 61000
MODES = ("bwrap", "bwrap-userns", "rlimits")
PROBE_IMPORTS = ("numpy", "torch")  # what the exercises' locked set-up cells import
INSTALL = "sudo scripts/install-system-deps"  # the project's one list of system packages
USERNS_SETTINGS = ("/proc/sys/kernel/unprivileged_userns_clone",
                   "/proc/sys/user/max_user_namespaces",
                   "/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
# what bubblewrap prints when the kernel or AppArmor refuses it a user namespace
USERNS_ERRORS = ("uid map", "gid map", "new namespace", "user namespace", "unshare")


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here: the message says which protection is missing, why, and the
    fix. Grading stops (exit 2): it never goes on with weaker isolation."""


def strong_mode() -> str:
    """The mode for this user: bwrap with a uid switch needs root."""
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
    """How an administrator makes the sandbox available, for a reason of unavailable()."""
    if "bwrap is not installed" in reason:
        return f"install bubblewrap: {INSTALL} (or apt-get install bubblewrap)"
    if "seccomp" in reason:
        return seccomp.FIX
    if "util-linux" in reason:
        return "install util-linux (apt-get install util-linux), which provides setpriv and prlimit"
    if "inside the sandbox" in reason:
        return ("keep the virtualenv and the folders Python imports from apart from the exercise "
                "sources, the submissions and the output folder, which the sandbox hides")
    if any(sign in reason.lower() for sign in USERNS_ERRORS):
        return ("bubblewrap was refused a user namespace. On Ubuntu 23.10 and later AppArmor "
                "restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_"
                f"userns=1) to programs with a profile that allows them; run {INSTALL}, which "
                "installs a per-application AppArmor profile for /usr/bin/bwrap (flags="
                "(unconfined) { userns, }) and checks that bwrap starts. Elsewhere: allow "
                "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on "
                f"Debian, user.max_user_namespaces > 0). Now: {_userns_state()}")
    if os.geteuid() == 0:
        return ("bubblewrap could not start the interpreter as root: grade where new namespaces "
                "are allowed (a VM, or a container with CAP_SYS_ADMIN and no seccomp filter "
                f"against unshare), or as another user ({INSTALL} sets that up)")
    return f"bubblewrap could not start the interpreter: run {INSTALL}"


@dataclass
class Limits:
    timeout: float = 60.0  # wall-clock seconds for one notebook
    cell_timeout: float = 10.0  # soft limit per cell and per probe
    memory: int = 2 * 2**30  # the submission's cgroup (swap off), and RLIMIT_DATA per process
    address_space: int = 8 * 2**30  # RLIMIT_AS (torch alone maps ~3.3 GB of libraries)
    processes: int = 64  # the cgroup's pids.max, and RLIMIT_NPROC (threads count)
    file_size: int = 16 * 2**20  # RLIMIT_FSIZE
    open_files: int = 128  # RLIMIT_NOFILE
    output: int = 2**20  # stdout + stderr passed through, each
    results: int = 4 * 2**20  # bytes of JSON results accepted (beyond: output too large)
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
        self.cgroups: Cgroups | None = None  # open_cgroups(), by unavailable()
        self.cgroup_note = ""  # why there is no cgroup per submission ("" when there is)

    def protect(self, *paths: os.PathLike | str) -> None:
        """Keep these folders out of the sandbox (by real path and by the path given)."""
        for path in paths:
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"paths must be paths, got {type(path).__name__}")
            self.hidden |= {os.path.abspath(path), os.path.realpath(path)}

    # ------------------------------------------------------------------ description
    @property
    def protections_off(self) -> list[str]:
        """What this sandbox lacks, for the log, the gradebook's notes and every feedback file."""
        off = [self.cgroup_note] if self.cgroup_note else []
        if self.mode == "bwrap":
            return off
        if not self.drop_uid:
            who = "root" if os.geteuid() == 0 else "the grader's own user"
            off.append(f"student code runs as {who}, not as a separate unprivileged user")
        if self.mode == "rlimits":
            off += ["no bubblewrap (Gradescope's container: the container is the boundary, "
                    "secret folders are root-only)", "no PID or network namespace"]
            if not self.prlimit:
                off.append("rlimits set from Python (prlimit not found)")
        return off

    def describe(self) -> str:
        off = self.protections_off
        groups = f"; {self.cgroups.describe()}" if self.cgroups else ""
        return (f"sandbox: {self.mode}, seccomp filter, fresh sandbox per submission{groups}"
                + ("" if not off else "; OFF: " + "; ".join(off)))

    def unavailable(self) -> str | None:
        """None when this mode works here (Python really starts in it, under the seccomp filter),
        else why not. Opens the cgroups each job will get (or says why there are none)."""
        missing = self._missing_tool()
        if missing is not None:
            return missing
        try:
            seccomp.program()
        except seccomp.SeccompUnavailable as error:
            return str(error)
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
        problem = _probe_problem(result, self.drop_uid)
        if problem is None:
            self.cgroups, self.cgroup_note = open_cgroups(self.limits.memory, self.limits.processes)
        return problem

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

    def close(self) -> None:
        """Remove this run's parent cgroups (each job's own went when it ended)."""
        if self.cgroups is not None:
            self.cgroups.close()

    # ------------------------------------------------------------------ command line
    def _binds(self) -> list[str]:
        if self._sys_path is None:  # once per sandbox: a subprocess
            self._sys_path = interpreter_sys_path(self.python)
        return bind_args(mounts(self.python, self.package_paths, self._sys_path, self.hidden),
                         self.hidden)

    def _flags(self) -> list[str]:
        return ["-E", "-s", "-B"] + (["-P"] if sys.version_info >= (3, 11) else [])

    def _bwrap_args(self, filter_fd: int) -> list[str]:
        """bubblewrap's namespaces, seccomp filter, environment, private folders and binds."""
        size = str(self.limits.scratch)
        args = [self.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
                "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent",
                "--new-session", "--clearenv", "--seccomp", str(filter_fd)]
        for key, value in _env("/scratch").items():
            args.extend(["--setenv", key, value])
        # Private folders first, read-only binds after: a checkout or venv under /tmp stays visible.
        # /proc/sys: bubblewrap leaves it writable (its check skips the sysctl root, whose folder
        # refuses write access even to root), and a bind of it would show the host's values;
        # an empty read-only tmpfs over it leaves nothing to read or write there.
        args += ["--proc", "/proc", "--tmpfs", "/proc/sys", "--remount-ro", "/proc/sys",
                 "--dev", "/dev"]
        for tmpfs in ("/dev/shm", "/tmp", "/scratch"):
            args += ["--size", size, "--perms", "1777", "--tmpfs", tmpfs]
        args += self._binds()
        return args + ["--chdir", "/scratch"]

    def command(self, slot: int, result_fd: int, filter_fd: int | None = None) -> list[str]:
        """The job's command line; filter_fd: the seccomp program, for bubblewrap."""
        runner = [self.python, *self._flags(), "-m", "bookgrader.runner",
                  "--result-fd", str(result_fd)]
        limits = [self.prlimit or "prlimit", *self.limits.prlimit_args(), "--"]
        uid = str(_free_uid(slot))
        drop = [self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]
        if self.mode == "rlimits":  # the seccomp filter: loaded by _child_setup
            return (limits if self.prlimit else []) + (drop if self.drop_uid else []) + runner
        if filter_fd is None:
            raise ValueError("filter_fd must be the seccomp program's file descriptor under bwrap")
        args = self._bwrap_args(filter_fd)
        if self.mode == "bwrap-userns":
            return args + ["--unshare-user", "--"] + limits + runner
        # setpriv needs these three to switch uid; it then drops them (and the bounding set)
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
                 "--"]
        return args + limits + drop + runner

    # ------------------------------------------------------------------ running
    def run(self, job: dict, slot: int = 0) -> RunResult:
        """Run one job in a fresh sandbox; never raises for anything the job's code does."""
        job = dict(job, soft_timeout=self.limits.cell_timeout, output_limit=self.limits.output)
        payload = json.dumps(job).encode("utf-8")
        result = RunResult()
        scratch = tempfile.mkdtemp(prefix="bookgrader-") if self.mode == "rlimits" else None
        read_fd, write_fd = os.pipe()
        cgroup: Cgroup | None = None
        try:
            try:
                cgroup = self.cgroups.new() if self.cgroups is not None else None
                proc = self._start(slot, write_fd, scratch, cgroup)
            except (OSError, seccomp.SeccompUnavailable) as error:
                result.sandbox_failure = f"the sandbox could not start ({error})"
                return result
            finally:
                os.close(write_fd)
            start = time.monotonic()
            raw = pump(proc, payload, read_fd, result, start, self.limits.timeout,
                       self.limits.results)
            result.duration = time.monotonic() - start
        finally:
            os.close(read_fd)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)
            if cgroup is not None:
                result.oom_kills = cgroup.oom_kills()
                cgroup.remove()
        if self.drop_uid:
            _wait_for_uid_to_end(_free_uid(slot))  # the slot's next run starts with no leftovers
        _exit_status(proc.returncode, self.mode != "rlimits", result)
        if not result.results_overflow:
            parse(raw, result)
        return result

    def _start(self, slot: int, result_fd: int, scratch: str | None,
               cgroup: Cgroup | None) -> subprocess.Popen:
        """The process of one job: a fresh sandbox, in its cgroup."""
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        if scratch:
            env = dict(_env(scratch), TMPDIR=scratch, MPLCONFIGDIR=scratch)
            if self.drop_uid:
                os.chown(scratch, _free_uid(slot), _free_uid(slot))
        preexec = self._child_setup if self.mode == "rlimits" else None
        if preexec is not None:
            seccomp.rules()  # built here, loaded in the child
        filter_fd = seccomp.program_fd() if self.mode != "rlimits" else None
        try:
            command = student_command(self.command(slot, result_fd, filter_fd), cgroup)
            fds = (result_fd,) if filter_fd is None else (result_fd, filter_fd)
            return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, pass_fds=fds, cwd=scratch or "/",
                                    env=env, start_new_session=True, preexec_fn=preexec)
        finally:
            if filter_fd is not None:
                os.close(filter_fd)

    def _child_setup(self) -> None:  # pragma: no cover - runs in the child, before exec
        """The rlimits sandbox's child: the rlimits where prlimit is missing, then the seccomp
        filter (libseccomp also sets no_new_privs), for everything the child executes."""
        if not self.prlimit:
            for name, soft, hard in self.limits.rlimits():
                resource.setrlimit(getattr(resource, name), (soft, hard))
        seccomp.rules().load()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _exit_status(code: int | None, bubblewrap: bool, result: RunResult) -> None:
    """The run's exit, told apart: the submission's process died of a signal (bubblewrap exits
    with 128 + its number) or the sandbox itself was killed from outside (bubblewrap's own
    negative status: the system, never the submission, unless the grader's timeout did it)."""
    result.returncode = code
    if code is None:
        return
    if code < 0 and bubblewrap:
        if not (result.timed_out or result.results_overflow):  # not the grader's own kill
            result.sandbox_failure = f"the sandbox itself was killed by {_signal_name(-code)}"
        return
    signum = -code if code < 0 else (code - 128 if 128 < code < 160 else 0)
    if signum:
        result.signal = _signal_name(signum)


def _probe_problem(result: RunResult, drop_uid: bool) -> str | None:
    """Why a test start failed (None when it worked)."""
    if not result.done:
        lines = (result.sandbox_failure or result.stderr_head).strip().splitlines()
        last = (lines[-1:] or [f"exit status {result.returncode}"])[0]
        return f"a test start failed ({last[:200]})"
    done = next(e for e in result.events if e.get("event") == "done")
    if done.get("import_errors"):
        return f"a test start failed (inside the sandbox: {done['import_errors'][0][:200]})"
    if drop_uid and done.get("uid") in (0, os.geteuid()):
        return "the process did not switch to a separate uid"
    return None


def detect(limits: Limits | None = None, *, hidden: tuple = ()) -> Sandbox:
    """The sandbox for this user (:func:`strong_mode`) if it really starts Python here under the
    seccomp filter; raises :class:`SandboxUnavailable` (what is missing, why, the fix) otherwise.
    ``hidden``: folders kept out of the sandbox (the submissions, the output), already during the
    test start."""
    mode = strong_mode()
    box = Sandbox(mode, limits)
    box.protect(*hidden)
    reason = box.unavailable()
    if reason is not None:
        what = ("filesystem, network and process isolation, a seccomp filter"
                + (" and a separate unprivileged uid" if mode == "bwrap" else ""))
        raise SandboxUnavailable(f"refusing to grade: the {mode} sandbox ({what}) is not "
                                 f"available: {reason}. Fix: {fix_for(reason)}.")
    return box
