"""The seccomp filter every sandbox runs under, made with libseccomp (the ``pyseccomp`` binding).

It refuses, with ``EPERM``, the system calls that Docker's default profile refuses and that a
notebook never needs: the kernel keyrings (a channel between students: a key one submission adds
is read by the next), tracing other processes, mounting and namespaces, file handles (reading the
host's disk past every mount), BPF, perf, userfaultfd, kexec and kernel modules. ``clone`` with a
namespace flag is refused too, and ``clone3`` answers ``ENOSYS`` (its flags are in memory a filter
cannot read; the C library then falls back to ``clone``). A system call of another architecture
(32-bit calls from a 64-bit process) kills the process: libseccomp's default for a foreign
architecture.

:func:`program` is the BPF program, for bubblewrap's ``--seccomp FD`` (:mod:`.sandbox`); the
sandbox without bubblewrap (Gradescope's container) loads :func:`rules` in the runner's process
before it executes anything. Without libseccomp there is no filter, and
:class:`SeccompUnavailable` stops grading with the fix.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

DENIED = (
    "add_key", "keyctl", "request_key",  # kernel keyrings: shared between students
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr",
    "unshare", "setns",
    "open_by_handle_at", "name_to_handle_at",
    "bpf", "perf_event_open", "userfaultfd",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "lookup_dcookie",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "personality",
    "iopl", "ioperm", "vhangup", "nfsservctl", "get_kernel_syms", "query_module",
    "create_module", "uselib", "ustat", "sysfs", "_sysctl",
)
# clone(2) flags that make a new namespace (linux/sched.h)
NAMESPACE_FLAGS = {"CLONE_NEWTIME": 0x80, "CLONE_NEWNS": 0x20000, "CLONE_NEWCGROUP": 0x2000000,
                   "CLONE_NEWUTS": 0x4000000, "CLONE_NEWIPC": 0x8000000,
                   "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                   "CLONE_NEWNET": 0x40000000}
FIX = ("install the libseccomp bindings the grader uses: `pip install -r requirements.txt "
       "-c constraints.txt` (pyseccomp) in the grader's environment, and the system's libseccomp "
       "(`sudo scripts/install-system-deps`, or apt-get install libseccomp2)")


class SeccompUnavailable(RuntimeError):
    """No seccomp filter can be made here: grading stops (the message gives the fix)."""


def _bindings():
    try:
        import pyseccomp  # deferred: only a grading run needs it, and it loads libseccomp
    except (ImportError, OSError) as error:  # OSError: the binding found no libseccomp.so
        raise SeccompUnavailable(f"no seccomp filter can be made ({error}): {FIX}") from None
    return pyseccomp


def build():
    """The filter as a libseccomp ``SyscallFilter`` (allow by default, refuse the list above)."""
    seccomp = _bindings()
    try:
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        for name in DENIED:
            try:
                seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
            except (ValueError, RuntimeError, OSError):
                continue  # not a system call of this architecture: nothing to refuse
            rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
        for flag in NAMESPACE_FLAGS.values():
            rules.add_rule(seccomp.ERRNO(errno.EPERM), "clone",
                           seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    except (OSError, RuntimeError, ValueError, AttributeError) as error:
        raise SeccompUnavailable(f"libseccomp could not build the filter ({error}): {FIX}"
                                 ) from None
    return rules


@functools.lru_cache(maxsize=1)
def rules():
    """:func:`build`, once: the sandbox without bubblewrap loads it in each child
    (:meth:`~bookgrader.sandbox.Sandbox.run`), after fork and before exec."""
    return build()


@functools.lru_cache(maxsize=1)
def program() -> bytes:
    """The filter compiled to a BPF program (``struct sock_filter`` array), made once."""
    with tempfile.TemporaryFile() as handle:
        rules().export_bpf(handle)
        handle.seek(0)
        data = handle.read()
    if not data or len(data) % 8:
        raise SeccompUnavailable(f"libseccomp exported no BPF program ({len(data)} bytes): {FIX}")
    return data


def program_fd() -> int:
    """A new file descriptor holding :func:`program` from offset 0 (bubblewrap reads it once)."""
    fd = os.memfd_create("bookgrader-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
