"""scripts/install-system-deps in a bare root: none of its packages installed, run as root and as
a normal user, on Debian and on Ubuntu 24.04 (where bwrap needs an AppArmor profile).

Each run is a bubblewrap sandbox over this machine's files in which ``/etc/os-release`` and
``/etc/apparmor.d`` are the test's own, and ``PATH`` holds only the few tools the script uses
plus stand-ins that record every call: ``apt-get`` (its ``install`` makes the packages present:
dpkg's status and their commands), ``dpkg-query``, ``id`` (the uid the test chooses),
``apparmor_parser``, ``setpriv`` and, once installed, ``bwrap``, which on Ubuntu 24.04 fails as
the real one does ("setting up uid map: Permission denied") until a profile is loaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "install-system-deps"
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
UBUNTU_2404 = 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'
UBUNTU_2204 = 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n'
TOOLS = ("cat", "cmp", "dirname", "basename")  # what the script runs besides the stand-ins
# The command each package brings (what the stand-in apt-get puts on PATH).
COMMANDS = {"bubblewrap": "bwrap", "chromium": "chromium", "chromium-browser": "chromium-browser",
            "npm": "npm"}

STUBS = {
    "id": 'log id "$@"; [ "$1" = -u ] && echo "$FAKE_UID" || echo "uid=$FAKE_UID"\n',
    "dpkg-query": (
        'log dpkg-query "$@"\n'
        'grep -qx "${@: -1}" "$STATE/dpkg" 2>/dev/null && printf installed || exit 1\n'
    ),
    "apt-get": (
        'log apt-get "$@"\n'
        '[ "$FAKE_UID" = 0 ] || '
        '{ echo "E: Could not open lock file (are you root?)" >&2; exit 100; }\n'
        '[ "$1" = install ] || exit 0\n'
        'for arg in "$@"; do case "$arg" in install|-*) ;; *)\n'
        '  echo "$arg" >> "$STATE/dpkg"\n'
        '  cmd="$(grep "^$arg " "$STATE/commands" | cut -d" " -f2)"\n'
        '  [ -z "$cmd" ] || { cp "$STATE/bwrap-or-tool" "$STATE/installed/$cmd";'
        ' chmod +x "$STATE/installed/$cmd"; }\n'
        'esac; done\n'
    ),
    "apparmor_parser": 'log apparmor_parser "$@"; [ -f "${@: -1}" ] && touch "$STATE/loaded"\n',
    # apt's package lists: they know the t64 name of tcmalloc where the test says so
    "apt-cache": 'log apt-cache "$@"; [ -f "$STATE/t64" ] && [ "${@: -1}" = '
                 'libtcmalloc-minimal4t64 ]\n',
    "setpriv": 'log setpriv "$@"; while [[ "$1" == --* ]]; do shift; done; exec "$@"\n',
}
# What an installed package's command does; as bwrap, it fails like Ubuntu's until a profile loads.
INSTALLED = (
    'log "$(basename "$0")" "$@"\n'
    'if [ "$(basename "$0")" = bwrap ] && [ -n "$FAKE_RESTRICTED" ] '
    '&& ! [ -f "$STATE/loaded" ]; then\n'
    '  echo "bwrap: setting up uid map: Permission denied" >&2; exit 1\n'
    'fi\n'
)


@pytest.fixture
def bare(tmp_path):
    """A bare root: (run(os_release, uid, restricted=False), state folder)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap is needed to make the bare root (scripts/install-system-deps)")
    state = tmp_path / "state"
    for folder in ("stubs", "installed", "tools", "apparmor.d"):
        (state / folder).mkdir(parents=True)
    prelude = '#!/bin/bash\nlog() { echo "$*" >> "$STATE/calls"; }\n'
    for name, body in STUBS.items():
        write_executable(state / "stubs" / name, prelude + body)
    (state / "bwrap-or-tool").write_text(prelude + INSTALLED)
    (state / "commands").write_text("".join(f"{p} {c}\n" for p, c in COMMANDS.items()))
    for tool in TOOLS + ("grep", "cut", "cp", "chmod", "touch"):  # the stand-ins' own tools
        (state / "tools" / tool).symlink_to(shutil.which(tool))

    def run(os_release: str, uid: int, restricted: bool = False) -> subprocess.CompletedProcess:
        (state / "os-release").write_text(os_release)
        env = {"PATH": ":".join(str(state / f) for f in ("stubs", "installed", "tools")),
               "STATE": str(state), "FAKE_UID": str(uid), "HOME": str(tmp_path)}
        if restricted:
            env["FAKE_RESTRICTED"] = "1"
        sandbox = [bwrap, "--dev-bind", "/", "/",
                   "--ro-bind", str(state / "os-release"), "/etc/os-release",
                   "--bind", str(state / "apparmor.d"), "/etc/apparmor.d",
                   "--die-with-parent", "/bin/bash", str(SCRIPT)]
        return subprocess.run(sandbox, env=env, capture_output=True, text=True, timeout=60)

    return run, state


def write_executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def calls(state: Path, command: str) -> list[str]:
    log = state / "calls"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.split(" ", 1)[0] == command]


def clear_calls(state: Path) -> None:
    (state / "calls").unlink(missing_ok=True)


def test_the_list_is_one_package_per_line_and_nothing_else_installs_packages():
    text = SCRIPT.read_text()
    block = text.split("PACKAGES=(\n", 1)[1].split("\n)\n", 1)[0]
    names = [line.split("#")[0].strip() for line in block.splitlines()]
    assert all(name and " " not in name for name in names), block
    assert {"bubblewrap", "chromium", "libseccomp2", "libtcmalloc-minimal4", "npm"} <= set(names)
    assert os.access(SCRIPT, os.X_OK)
    callers = [".ci/run", ".github/workflows/ci.yml", ".github/workflows/gpu.yml",
               ".github/workflows/pages.yml", "README.md"]
    for caller in callers:
        assert "scripts/install-system-deps" in (REPO / caller).read_text(), caller
    for path in [REPO / ".ci" / "run", *(REPO / ".github" / "workflows").glob("*.yml")]:
        assert "apt-get" not in path.read_text(), f"{path}: packages are listed only in {SCRIPT}"


def test_as_root_it_installs_what_is_missing_once_then_nothing(bare):
    run, state = bare
    first = run(DEBIAN, uid=0)
    assert first.returncode == 0, first.stderr
    assert calls(state, "apt-get") == [
        "apt-get update -qq",
        "apt-get install -y -qq bubblewrap libseccomp2 chromium npm python3-venv "
        "libtcmalloc-minimal4",
    ]
    assert (state / "installed" / "bwrap").is_file()
    assert not calls(state, "apparmor_parser"), "Debian needs no AppArmor profile"
    clear_calls(state)
    second = run(DEBIAN, uid=0)
    assert second.returncode == 0, second.stderr
    assert calls(state, "apt-get") == [] and "all present" in second.stdout


def test_as_a_user_it_installs_nothing_and_prints_the_sudo_line(bare):
    run, state = bare
    result = run(DEBIAN, uid=1000)
    assert result.returncode == 1
    assert calls(state, "apt-get") == []
    assert "bubblewrap" in result.stderr and "chromium" in result.stderr
    assert f"run: sudo {SCRIPT}" in result.stderr.splitlines()
    run(DEBIAN, uid=0)  # then root installs, and the user's run is content
    again = run(DEBIAN, uid=1000)
    assert again.returncode == 0 and "all present" in again.stdout, again.stderr


def test_a_runners_own_chrome_stands_in_for_chromium(bare):
    run, state = bare
    write_executable(state / "installed" / "google-chrome", "#!/bin/bash\n")
    result = run(DEBIAN, uid=0)
    assert result.returncode == 0, result.stderr
    install = calls(state, "apt-get")[-1].split()
    assert "chromium" not in install and "bubblewrap" in install


def test_ubuntu_2404_gets_the_apparmor_profile_for_bwrap_then_bwrap_works(bare):
    run, state = bare
    result = run(UBUNTU_2404, uid=0, restricted=True)
    assert result.returncode == 0, result.stdout + result.stderr
    install = calls(state, "apt-get")[-1].split()
    assert "chromium-browser" in install and "chromium" not in install  # Ubuntu's name
    assert "libtcmalloc-minimal4t64" in install and "libtcmalloc-minimal4" not in install
    profile = (state / "apparmor.d" / "bwrap").read_text()
    for rule in ("abi <abi/4.0>,", "include <tunables/global>",
                 "profile bwrap /usr/bin/bwrap flags=(unconfined) {", "userns,",
                 "include if exists <local/bwrap>"):
        assert rule in profile
    assert calls(state, "apparmor_parser") == ["apparmor_parser -r /etc/apparmor.d/bwrap"]
    # bwrap was tried as a normal user (nobody), after the profile was loaded, and worked.
    tried = [c for c in calls(state, "setpriv") if "bwrap --unshare-user --ro-bind / / true" in c]
    assert tried and "--reuid=65534" in tried[-1]
    assert "user namespaces work for a normal user" in result.stdout
    assert "sysctl" not in SCRIPT.read_text().split("set -euo pipefail", 1)[1]
    clear_calls(state)
    again = run(UBUNTU_2404, uid=0, restricted=True)
    assert again.returncode == 0 and calls(state, "apt-get") == []
    assert calls(state, "apparmor_parser") == [], "an unchanged, loaded profile is left alone"


def test_ubuntu_2404_user_is_told_to_run_it_with_sudo_when_bwrap_is_refused(bare):
    run, state = bare
    run(UBUNTU_2404, uid=0)  # the packages, but no profile loaded
    (state / "loaded").unlink(missing_ok=True)
    result = run(UBUNTU_2404, uid=1000, restricted=True)
    assert result.returncode == 1
    assert "AppArmor" in result.stderr and f"run: sudo {SCRIPT}" in result.stderr


def test_a_profile_that_does_not_help_fails_loudly(bare):
    run, state = bare
    write_executable(state / "stubs" / "apparmor_parser", "#!/bin/bash\nexit 0\n")  # loads nothing
    result = run(UBUNTU_2404, uid=0, restricted=True)
    assert result.returncode != 0
    assert "still fails for a normal user" in result.stderr


def test_ubuntu_2204_needs_no_profile(bare):
    run, state = bare
    result = run(UBUNTU_2204, uid=0, restricted=False)
    assert result.returncode == 0, result.stderr
    assert "libtcmalloc-minimal4" in calls(state, "apt-get")[-1].split()  # before the t64 names
    assert calls(state, "apparmor_parser") == [] and not (state / "apparmor.d" / "bwrap").exists()


def test_a_derivative_whose_apt_knows_the_t64_name_gets_it_and_counts_it_present(bare):
    """Linux Mint 22 (Ubuntu 24.04's packages, another ID): apt's lists decide tcmalloc's name;
    once installed under it, the package is present (no second install)."""
    run, state = bare
    (state / "t64").touch()
    mint = 'PRETTY_NAME="Linux Mint 22"\nID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="22"\n'
    result = run(mint, uid=0)
    assert result.returncode == 0, result.stderr
    install = calls(state, "apt-get")[-1].split()
    assert "libtcmalloc-minimal4t64" in install and "libtcmalloc-minimal4" not in install
    clear_calls(state)
    again = run(mint, uid=0)
    assert again.returncode == 0 and calls(state, "apt-get") == [], again.stdout
