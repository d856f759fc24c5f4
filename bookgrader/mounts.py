"""What the bwrap sandbox's root file system holds: the system, the Python installation, the
sandboxed interpreter's own import path and the ``convlib`` and ``bookgrader`` packages,
read-only, by real path and again at the path Python knows each by (symbolic links, a venv or
checkout anywhere); never a folder holding something hidden (the exercise sources, the
submissions, the output), which an empty read-only tmpfs covers where a bound folder contains
it. Used by :mod:`.sandbox`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/alternatives")


def interpreter_sys_path(python: str) -> list[str]:
    """The import path the sandboxed interpreter will have: same interpreter, same flags, so the
    same .pth files (an editable install, a site folder added by a .pth)."""
    flags = ["-E", "-s"] + (["-P"] if sys.version_info >= (3, 11) else [])
    code = "import json, sys; print(json.dumps(sys.path))"
    try:
        done = subprocess.run([python, *flags, "-c", code], capture_output=True, text=True,
                              timeout=60, cwd="/", check=False,
                              env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        paths = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        paths = []  # the test start in the sandbox reports what is wrong
    if not isinstance(paths, list):
        return []
    return [p for p in paths if isinstance(p, str) and os.path.isabs(p)]


def holds(path: str, hidden: set[str]) -> bool:
    """Is a hidden folder at path or under it?"""
    return any(h == path or h.startswith(path.rstrip(os.sep) + os.sep) for h in hidden)


def mounts(python: str, package_paths: list[str], import_path: list[str],
           hidden: set[str]) -> list[tuple[str, str]]:
    """(real folder on the host, path inside) for what the interpreter needs, parents first.
    ``package_paths``: the packages a submission runs with (``convlib``, and ``bookgrader``'s
    runner), each bound alone where its checkout is hidden."""
    package_dirs = {os.path.basename(os.path.realpath(p)): os.path.realpath(p)
                    for p in package_paths}
    prefixes = [sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(python))]
    pairs: set[tuple[str, str]] = set()
    for path in package_paths:
        pairs |= {(os.path.realpath(path), os.path.realpath(path)),
                  (os.path.realpath(path), os.path.abspath(path))}
    for path in prefixes + import_path:
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            continue
        for dest in {real, os.path.abspath(path)}:
            if path not in prefixes and (holds(real, hidden) or holds(dest, hidden)):
                # a checkout on sys.path (editable install): its packages only, never the
                # sources, the .git folder or a gradebook next to it
                for name, package_dir in package_dirs.items():
                    package = os.path.join(dest, name)
                    if os.path.realpath(package) == package_dir:
                        pairs.add((package_dir, package))
                continue
            pairs.add((real, dest))
    chosen: list[tuple[str, str]] = []
    for src, dest in sorted(pairs, key=lambda pair: (pair[1].count(os.sep), pair[1], pair[0])):
        seen = any(dest == d or (dest.startswith(d + os.sep) and src == s + dest[len(d):])
                   for s, d in chosen)
        if not seen:
            chosen.append((src, dest))
    return chosen


def bind_args(binds: list[tuple[str, str]], hidden: set[str]) -> list[str]:
    """bwrap arguments: the system, the binds (parent folders made first), then the covers."""
    args, system = _system_args()
    return args + _bind_mount_args(binds) + _cover_args(hidden, system + binds, binds)


def _system_args() -> tuple[list[str], list[tuple[str, str]]]:
    """The system folders and /etc's files read-only, and the (src, dest) of the folders bound."""
    args: list[str] = []
    system = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):  # /bin -> usr/bin on merged-/usr systems: the same link inside
            args.extend(["--symlink", os.readlink(path), path])
        elif os.path.isdir(path):
            args.extend(["--ro-bind", path, path])
            system.append((path, path))
    for path in ETC_FILES:
        args.extend(["--ro-bind-try", path, path])
    return args, system


def _bind_mount_args(binds: list[tuple[str, str]]) -> list[str]:
    """The read-only binds, each after the folders above it that are not made yet."""
    args: list[str] = []
    made: set[str] = {"/"}
    for src, dest in binds:
        for parent in reversed(Path(dest).parents):
            if str(parent) not in made:
                made.add(str(parent))
                args.extend(["--perms", "0755", "--dir", str(parent)])
        made.add(dest)
        args.extend(["--ro-bind", src, dest])
    return args


def _cover_args(hidden: set[str], bound: list[tuple[str, str]],
                binds: list[tuple[str, str]]) -> list[str]:
    """An empty read-only tmpfs over each hidden folder that a bound folder contains."""
    # a submissions folder inside the venv...: covered after the binds; the outermost only, and
    # never where it would cover one of the binds
    args: list[str] = []
    real = {os.path.realpath(h) for h in hidden}
    outermost = [h for h in sorted(real) if not any(h.startswith(o + os.sep) for o in real)]
    for folder in outermost:
        for src, dest in bound:
            if folder.startswith(src + os.sep) and os.path.isdir(folder):
                inside = dest + folder[len(src):]
                if not any(d == inside or d.startswith(inside + os.sep) for _, d in binds):
                    args.extend(["--perms", "0755", "--tmpfs", inside, "--remount-ro", inside])
    return args
