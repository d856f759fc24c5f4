"""One cgroup per submission: its memory (swap off, memfd and tmpfs pages included) and its number
of processes are bounded for the submission as a whole, not per process.

The cgroups are made under the grader's own cgroup, so that a limit the grader runs under (a
small machine, a Slurm job, a test) still holds for its submissions. Where cgroups are found:

- cgroup v1 (this project's reference machine): the ``memory`` and ``pids`` hierarchies, one
  folder in each (``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes`` at the same value,
  or ``memory.swappiness`` 0 without swap accounting; ``pids.max``);
- cgroup v2: one folder with ``memory.max``, ``memory.swap.max`` 0, ``pids.max`` and
  ``memory.oom.group`` (the whole submission is killed together);
- neither writable but systemd running: ``systemd-run --scope`` with ``MemoryMax``,
  ``MemorySwapMax=0`` and ``TasksMax`` around each sandbox.

Where none of these can be made, :func:`open_cgroups` says why; the grader writes it to the log
and to the gradebook's notes, and the per-process rlimits still hold. Every sandboxed process also
gets ``oom_score_adj`` :data:`STUDENT_OOM_SCORE` (the kernel kills a submission before anything
else) and the grader :data:`GRADER_OOM_SCORE` (:func:`protect_grader`).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
STUDENT_OOM_SCORE = 1000  # the first the kernel kills when memory runs out
GRADER_OOM_SCORE = -500  # the last (not -1000: the kernel may still stop a runaway grader)
# run by /bin/sh before bubblewrap: join the submission's cgroups, raise oom_score_adj, exec
JOIN = ('n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); '
        'done; echo "$0" > /proc/self/oom_score_adj || exit 125; exec "$@"')


def protect_grader() -> None:
    """Lower the grader's own oom_score_adj (root only: a normal user cannot lower it)."""
    if os.geteuid() == 0:
        try:
            Path("/proc/self/oom_score_adj").write_text(str(GRADER_OOM_SCORE))
        except OSError:
            pass


def _own(controller: str) -> str | None:
    """The grader's cgroup path in the hierarchy of controller ('' for cgroup v2), or None."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    return None


def student_command(command: list[str], cgroup: Cgroup | None) -> list[str]:
    """command started with the students' oom_score_adj, in cgroup where there is one."""
    if cgroup is not None:
        return cgroup.wrap(command)
    return ["/bin/sh", "-c", JOIN, str(STUDENT_OOM_SCORE), "0", *command]


def _write(folder: Path, name: str, value: object) -> None:
    (folder / name).write_text(f"{value}\n")


@dataclass
class Cgroup:
    """One submission's cgroup: its folders (one per v1 hierarchy, one for v2)."""

    folders: list[Path]
    version: int
    prefix: list[str] = field(default_factory=list)  # systemd-run: the command's prefix

    def wrap(self, command: list[str]) -> list[str]:
        """command started inside this cgroup, with the students' oom_score_adj."""
        if self.prefix:
            return self.prefix + ["/bin/sh", "-c", JOIN, str(STUDENT_OOM_SCORE), "0", *command]
        procs = [str(f / "cgroup.procs") for f in self.folders]
        return ["/bin/sh", "-c", JOIN, str(STUDENT_OOM_SCORE), str(len(procs)), *procs, *command]

    def oom_kills(self) -> int:
        """How many processes the kernel killed here for want of memory."""
        for folder in self.folders:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    text = (folder / name).read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return 0

    def remove(self) -> None:
        """Kill what is left inside (nothing, normally: the PID namespace died), then remove."""
        for _ in range(50):
            left = False
            for folder in self.folders:
                try:
                    pids = (folder / "cgroup.procs").read_text().split()
                except OSError:
                    continue
                for pid in pids:
                    left = True
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            if not left:
                break
            time.sleep(0.02)
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError:
                pass


class Cgroups:
    """The parent cgroup(s) of one grading run, and the limits each submission gets."""

    def __init__(self, parents: list[Path], version: int, memory: int, processes: int,
                 prefix: list[str] | None = None) -> None:
        self.parents, self.version = parents, version
        self.memory, self.processes = memory, processes
        self.prefix = prefix or []
        self._numbers = itertools.count(1)  # next() is atomic: jobs run in threads

    def describe(self) -> str:
        if self.prefix:
            return (f"cgroup per submission via systemd-run --scope (memory {self.memory} B, "
                    f"swap 0, {self.processes} processes)")
        return (f"cgroup v{self.version} per submission under {self.parents[0].parent} (memory "
                f"{self.memory} B, swap 0, {self.processes} processes)")

    def new(self) -> Cgroup:
        """A fresh cgroup with the limits (OSError when the kernel refuses one)."""
        if self.prefix:
            return Cgroup([], 2, self.prefix)
        number = next(self._numbers)
        folders = [parent / f"submission-{number}" for parent in self.parents]
        for parent in self.parents:
            parent.mkdir(exist_ok=True)  # again after close(): a sandbox may grade twice
        for folder in folders:
            folder.mkdir()
        try:
            for folder in folders:
                self._limit(folder)
        except OSError:
            Cgroup(folders, self.version).remove()
            raise
        return Cgroup(folders, self.version)

    def _limit(self, folder: Path) -> None:
        if self.version == 2:
            _write(folder, "memory.max", self.memory)
            _write(folder, "memory.swap.max", 0)
            _write(folder, "memory.oom.group", 1)
            _write(folder, "pids.max", self.processes)
        elif (folder / "memory.limit_in_bytes").exists():
            _write(folder, "memory.limit_in_bytes", self.memory)
            if (folder / "memory.memsw.limit_in_bytes").exists():
                _write(folder, "memory.memsw.limit_in_bytes", self.memory)  # memory + swap
            else:
                _write(folder, "memory.swappiness", 0)
        else:
            _write(folder, "pids.max", self.processes)

    def close(self) -> None:
        for parent in self.parents:
            try:
                parent.rmdir()
            except OSError:
                pass


def _v1_parents(name: str) -> list[Path]:
    parents = []
    for controller in ("memory", "pids"):
        own = _own(controller)
        if own is None or not (ROOT / controller).is_dir():
            raise OSError(f"no cgroup v1 {controller} hierarchy")
        parents.append(ROOT / controller / own.lstrip("/") / name)
    return parents


def _v2_parent(name: str) -> Path:
    own = _own("")
    folder = ROOT / (own or "/").lstrip("/")
    if not {"memory", "pids"} <= set((folder / "cgroup.controllers").read_text().split()):
        raise OSError(f"the memory and pids controllers are not delegated to {folder}")
    _write(folder, "cgroup.subtree_control", "+memory +pids")  # EBUSY with processes inside
    return folder / name


def _systemd_prefix(memory: int, processes: int) -> list[str] | None:
    """systemd-run's scope with the limits, where systemd runs and such a scope really starts
    (a user without a systemd user instance gets none)."""
    if not (Path("/run/systemd/system").is_dir() and shutil.which("systemd-run")):
        return None
    prefix = ["systemd-run", "--scope", "--quiet", "--collect",
              *([] if os.geteuid() == 0 else ["--user"]),
              "-p", f"MemoryMax={memory}", "-p", "MemorySwapMax=0", "-p", f"TasksMax={processes}",
              "--"]
    try:
        started = subprocess.run([*prefix, "/bin/true"], capture_output=True, timeout=30,
                                 check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if started.returncode == 0 else None


def open_cgroups(memory: int, processes: int) -> tuple[Cgroups | None, str]:
    """This run's parent cgroups (v1, else v2, else systemd-run), or (None, why not)."""
    name = f"bookgrader-{os.getpid()}-{time.monotonic_ns()}"
    reasons = []
    for version in (1, 2):
        made: list[Path] = []
        try:
            parents = _v1_parents(name) if version == 1 else [_v2_parent(name)]
            for parent in parents:
                parent.mkdir()
                made.append(parent)
            groups = Cgroups(parents, version, memory, processes)
            groups.new().remove()  # the limits can be written
            return groups, ""
        except (OSError, ValueError) as error:
            for parent in made:
                try:
                    parent.rmdir()
                except OSError:
                    pass
            reasons.append(f"v{version}: {getattr(error, 'strerror', None) or error}")
    prefix = _systemd_prefix(memory, processes)
    if prefix is not None:
        return Cgroups([], 2, memory, processes, prefix), ""
    return None, ("no cgroup per submission can be made here (" + "; ".join(reasons)
                  + "): memory and processes are limited per process only (rlimits)")
