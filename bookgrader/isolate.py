"""The system calls that put one forked child of the zygote (:mod:`.zygote`) into its own sandbox,
the same one bubblewrap and ``setpriv`` give a fresh process in :mod:`.sandbox`.

bubblewrap builds the root file system once per zygote (read-only binds, hidden folders covered);
what bubblewrap and ``setpriv`` also do per process is redone here for every submission, because
a forked child cannot be started by them without losing what the zygote imported:

- :func:`enter_namespaces`: new mount, network (loopback up), IPC, UTS (hostname ``sandbox``) and
  cgroup namespaces; the PID namespace is entered by the caller (``unshare`` then ``fork``);
- :func:`fresh_mounts`: a new ``/proc`` for the new PID namespace (its ``sys``, ``sysrq-trigger``,
  ``irq`` and ``bus`` read-only, as bubblewrap does), a new ``devpts`` instance and private
  size-limited tmpfs ``/tmp``, ``/scratch`` and ``/dev/shm``, empty for every submission;
- :func:`drop_privileges`: the rlimits, then what ``setpriv --reuid --regid --clear-groups
  --no-new-privs --inh-caps=-all --bounding-set=-all`` does, then :func:`verify_dropped` reads
  ``/proc/self/status`` back, so that a call that silently did nothing stops the child (fail
  closed) instead of running student code with privileges.

Python 3.11 has no ``os.unshare`` or ``os.mount``: libc through ctypes, every result checked.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import resource
import select
import socket
import struct

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PROC_COVERS = ("sys", "sysrq-trigger", "irq", "bus")  # bubblewrap's read-only covers of /proc
TMPFS = ("/tmp", "/scratch", "/dev/shm")
STATUS_ZERO = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4


class IsolationError(OSError):
    """A step of the child's sandbox failed: the child must stop before any student code runs."""


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise IsolationError(code, f"{what}: {os.strerror(code)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")


def prctl(option: int, arg: int = 0, arg3: int = 0) -> None:
    _check(_libc.prctl(option, arg, arg3, 0, 0), f"prctl({option})")


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
           f"mount {fstype or source} on {target}")


def die_with_parent(parent: int, alive_fd: int | None = None) -> None:
    """SIGKILL when the parent goes (bubblewrap's --die-with-parent); already gone: stop now.
    parent: the parent's pid as this process sees it (0 when it is outside this PID namespace;
    then alive_fd, a pipe whose only writer is the parent, says whether it is still there)."""
    prctl(PR_SET_PDEATHSIG, 9)
    if os.getppid() != parent:
        os._exit(70)
    if alive_fd is not None:
        gone = select.select([alive_fd], [], [], 0)[0]
        os.close(alive_fd)
        if gone:
            os._exit(70)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def enter_namespaces() -> None:
    """New mount, network, IPC, UTS and cgroup namespaces for this process (bubblewrap's
    --unshare-net/-ipc/-uts/-cgroup-try and its private mount namespace), set up as it does."""
    unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    try:
        unshare(CLONE_NEWCGROUP)
    except IsolationError as error:  # --unshare-cgroup-try: a kernel without cgroup namespaces
        if error.errno != errno.EINVAL:
            raise
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing propagates back to the zygote
    socket.sethostname("sandbox")
    _loopback_up()


def fresh_mounts(scratch_bytes: int) -> None:
    """What bubblewrap mounts fresh for a process: /proc of this PID namespace, /dev/pts and the
    private tmpfs folders (the zygote's own are hidden underneath, and it never writes them)."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    mount("proc", "/proc", "proc", flags)
    for name in PROC_COVERS:
        path = f"/proc/{name}"
        if os.path.exists(path):
            mount(path, path, None, MS_BIND | MS_REC)
            mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags)
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=620")
    for path in TMPFS:
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={scratch_bytes}")


def _capset_zero() -> None:
    header = struct.pack("Ii", LINUX_CAPABILITY_VERSION_3, 0)
    data = ctypes.create_string_buffer(bytes(24))  # two structs of (effective, permitted, inh.)
    _check(_libc.capset(ctypes.c_char_p(header), data), "capset")


def drop_privileges(uid: int, rlimits: list[tuple[str, int, int]]) -> None:
    """rlimits, then setpriv's --bounding-set=-all --clear-groups --regid --reuid --inh-caps=-all
    --no-new-privs, in that order (the bounding set needs CAP_SETPCAP, which the uid switch
    drops), then :func:`verify_dropped`."""
    if uid <= 0:
        raise IsolationError(errno.EPERM, f"uid {uid} is not a separate unprivileged user")
    for name, soft, hard in rlimits:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
        last = int(handle.read())
    for cap in range(last + 1):
        prctl(PR_CAPBSET_DROP, cap)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _capset_zero()
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    verify_dropped(uid, rlimits)


def verify_dropped(uid: int, rlimits: list[tuple[str, int, int]]) -> None:
    """Read back what the kernel holds for this process; raise unless every privilege is gone."""
    status = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            status[key] = value.split()
    wanted = {"Uid": [str(uid)] * 4, "Gid": [str(uid)] * 4, "Groups": [], "NoNewPrivs": ["1"]}
    wanted.update({key: ["0" * 16] for key in STATUS_ZERO})
    for key, value in wanted.items():
        if status.get(key) != value:
            raise IsolationError(errno.EPERM, f"{key} is {status.get(key)}, not {value}")
    for name, soft, hard in rlimits:
        if resource.getrlimit(getattr(resource, name)) != (soft, hard):
            raise IsolationError(errno.EPERM, f"{name} was not set")


def drop_capabilities() -> None:
    """For the PID-1 process that only reaps: no capabilities left, none to gain."""
    _capset_zero()
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
