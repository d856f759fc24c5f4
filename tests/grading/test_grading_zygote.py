"""The zygote (bookgrader.zygote): each submission's child starts from a clean interpreter
state and has exactly what a fresh bubblewrap process has (uid, capabilities, namespaces, tmpfs,
rlimits); nothing one student does reaches another; a failing step stops the child before any
student code runs. As root with bubblewrap only (elsewhere the zygote is not used, which the first
test checks instead of skipping).
"""

from __future__ import annotations

import copy
import os
import shutil

import pytest

import bookgrader.sandbox as sandbox_module
from bookgrader.sandbox import Limits, SandboxUnavailable, detect
from bookgrader.zygote import EXIT_ISOLATION

LIMITS = Limits(timeout=30, cell_timeout=5)

# Student A: rewrites every piece of shared state a later student could observe.
POLLUTES = r"""
import builtins, os, random, sys, types
import numpy, torch
torch.ones = lambda *a, **k: "poisoned"
torch.SECRET = numpy.SECRET = "from student A"
sys.modules["student_a_module"] = types.ModuleType("student_a_module")
sys.modules["json"].dumps = lambda *a, **k: "poisoned"
sys.path.insert(0, "/scratch/evil")
builtins.LEAK = "from student A"
os.environ["LEAK"] = "from student A"
random.seed(1234)
numpy.random.seed(1234)
torch.manual_seed(1234)
for path in ("/tmp/a.txt", "/scratch/a.txt", "/dev/shm/a.txt"):
    open(path, "w").write("from student A")
import subprocess
subprocess.Popen(["/bin/sh", "-c", "sleep 60"], start_new_session=True)
"""

# What student B (and a fresh process) looks at.
OBSERVES = {
    "torch": "(torch.ones(2).tolist(), hasattr(torch, 'SECRET'), hasattr(numpy, 'SECRET'))",
    "modules": "'student_a_module' in sys.modules or hasattr(builtins, 'LEAK')",
    "json": "json.dumps([1])",
    "path": "'/scratch/evil' in sys.path",
    "env": "sorted(os.environ.items())",
    "files": "[sorted(os.listdir(p)) for p in ('/tmp', '/scratch', '/dev/shm')]",
    "procs": "sorted(p for p in os.listdir('/proc') if p.isdigit())",
    "status": "[l for l in open('/proc/self/status').read().splitlines() if l.split(':')[0] in "
              "('Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', "
              "'NoNewPrivs', 'Pid', 'PPid', 'Threads')]",
    "limits": "[resource.getrlimit(getattr(resource, n)) for n in ('RLIMIT_AS', 'RLIMIT_DATA', "
              "'RLIMIT_CPU', 'RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_CORE')]",
    "where": "(os.getcwd(), socket.gethostname(), sorted(os.listdir('/')), os.getsid(0) == "
             "os.getpid(), sys.argv[:2], sys.modules['__main__'].__file__, sys.flags.isolated, "
             "sys.flags.safe_path, sys.flags.dont_write_bytecode)",
    "descriptors": "sorted(int(fd) for fd in os.listdir('/proc/self/fd'))[:3]",
    "network": "sorted(socket.if_nameindex())",
}
RANDOM = {"seeds": "(random.random(), numpy.random.rand(), torch.initial_seed())"}
IMPORTS = "import builtins, json, os, random, resource, socket, sys\nimport numpy, torch\n"


def observe_job() -> dict:
    probes = [{"actual": expr} for expr in (*OBSERVES.values(), *RANDOM.values())]
    # locked, as the instructor's set-up cell: a fresh process's import of torch may take more
    # than the cell limit on a busy machine
    return {"cells": [{"type": "code", "source": IMPORTS, "locked": True},
                      {"type": "test", "grade_id": "observe", "probes": probes}]}


def observed(result, random: bool = False) -> dict:
    """What the observe job saw: the OBSERVES values (or the RANDOM ones)."""
    assert result.done, (result.returncode, result.stderr_head)
    test = next(e for e in result.events if e.get("event") == "test")
    values = {name: r["actual"] for name, r in zip([*OBSERVES, *RANDOM], test["results"],
                                                   strict=True)}
    return {name: values[name] for name in (RANDOM if random else OBSERVES)}


@pytest.fixture(scope="module")
def box():
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (tests/test_grading_sandbox.py fails in CI)")
    try:
        sandbox, _ = detect("auto", LIMITS)
    except SandboxUnavailable as error:
        pytest.skip(str(error))
    yield sandbox
    sandbox.close()


def test_the_zygote_is_used_as_root_with_bwrap_and_only_there(box):
    """Used with bwrap as root, unless a bound folder (a checkout or venv in /tmp, as in a CI
    clone there) lies under a folder each child mounts afresh: then a fresh process per job."""
    hidden = box.bound_under_child_tmpfs()
    assert box.use_zygote == (box.mode == "bwrap" and not hidden), box.zygote_note
    if box.use_zygote:
        assert box.zygote_note.startswith("zygote: one interpreter per slot")
    elif hidden:
        assert box.zygote_note.startswith("zygote not used (") and "afresh" in box.zygote_note


@pytest.mark.slow  # a fresh sandboxed process imports torch
def test_a_child_sees_exactly_what_a_fresh_sandboxed_process_sees(box):
    if not box.use_zygote:
        return
    fresh = copy.copy(box)
    fresh.use_zygote = False
    from_zygote = observed(box.run(observe_job()))
    from_fresh = observed(fresh.run(observe_job()))
    assert from_zygote == from_fresh
    # random streams: seeded from the system in each child, as in each fresh process
    seeds = [observed(box.run(observe_job()), random=True)["seeds"]["value"] for _ in range(2)]
    assert all(a != b for a, b in zip(*seeds)), seeds
    assert from_zygote["status"]["value"][:2] == ["Pid:\t2", "PPid:\t1"]
    assert "CapEff:\t0000000000000000" in from_zygote["status"]["value"]


@pytest.mark.slow  # five sandboxed runs, a second zygote
@pytest.mark.parametrize("slot_b", [0, 1])
def test_nothing_one_student_does_reaches_the_next(box, slot_b):
    """Student A monkeypatches torch, writes sys.modules, builtins, the environment, files and
    leaves a process behind; student B (same slot: same zygote, or the other one) sees none of it."""
    before = observed(box.run(observe_job(), slot=slot_b))
    a = box.run({"cells": [{"type": "code", "source": POLLUTES}]}, slot=0)
    assert a.returncode == 0 and a.bad_lines, (a.events, a.stderr_head)  # its json is poisoned
    after = observed(box.run(observe_job(), slot=slot_b))
    assert after == before
    assert after["torch"]["value"] == [[1.0, 1.0], False, False]
    # the tmpfs folders hold nothing of A's; only the parents of folders bound under /tmp (a
    # checkout or venv there, graded without the zygote) show, before A as after
    bound_tops = sorted({p.split("/")[2] for p in box.bound_under_child_tmpfs() if p.startswith("/tmp/")})
    assert after["files"]["value"] == [bound_tops, [], []]


def test_a_failed_isolation_step_stops_the_child_before_student_code(box, monkeypatch):
    """uid 0 asked of the child (a grader bug): it refuses, fails closed, runs nothing."""
    if not box.use_zygote:
        return
    monkeypatch.setattr(sandbox_module, "_free_uid", lambda slot: 0)
    asks_root = copy.copy(box)
    asks_root.drop_uid = False  # the grader would otherwise wait for uid 0's processes to end
    result = asks_root.run({"cells": [{"type": "code", "source": "import os\nos._exit(0)"}]})
    assert not result.done and not result.events
    assert result.returncode == EXIT_ISOLATION
    assert "IsolationError" in result.stderr_head and "uid 0" in result.stderr_head


def test_a_timeout_kills_the_child_and_the_zygote_serves_the_next(box):
    if not box.use_zygote:
        return
    quick = copy.copy(box)
    quick.limits = Limits(timeout=3, cell_timeout=0)
    loop = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result = quick.run({"cells": [{"type": "code", "source": loop}]})
    assert result.timed_out and result.signal == "SIGKILL"
    assert observed(box.run(observe_job()))["procs"]["value"] == ["1", "2"]


def test_a_zygote_that_stops_is_replaced_and_its_run_is_not_graded(box):
    if not box.use_zygote:
        return
    box.run(observe_job(), slot=0)
    zygote = box._zygotes[0]
    kill = "import os\nos.kill(1, 9)\nos._exit(0)"  # cannot reach the zygote: PID 1 is its init
    assert box.run({"cells": [{"type": "code", "source": kill}]}).returncode == 0
    assert box._zygotes[0] is zygote and zygote.alive()
    zygote.close()  # as if it died
    assert observed(box.run(observe_job(), slot=0))["torch"]["value"][0] == [1.0, 1.0]
    assert box._zygotes[0] is not zygote


def test_a_zygote_that_does_not_start_leaves_the_same_isolation(monkeypatch):
    """Its test start fails: every job gets a fresh bubblewrap process, and the log says so."""
    if os.geteuid() != 0 or shutil.which("bwrap") is None:
        return
    monkeypatch.setattr(sandbox_module.Sandbox, "zygote_command",
                        lambda self, fd: [shutil.which("false") or "/bin/false"])
    sandbox, _ = detect("auto", LIMITS)
    assert sandbox.mode == "bwrap" and not sandbox.use_zygote
    assert sandbox.zygote_note.startswith(("zygote unavailable (", "zygote not used ("))
    assert sandbox.protections_off == []
