"""`make lab` works for every user: JupyterLab starts from the Makefile's own recipe (as root it
passes --allow-root, which JupyterLab otherwise demands and exits without), on a loopback port with
a token and no browser, opens on the chapters, lists the project's kernel, and stops cleanly."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)  # the venv running the tests is the one `make lab` uses


def make_lab(*args: str, flags: str = "") -> list[str]:
    # -o: the venv is taken as installed (no reinstall from a test); VENV: this interpreter's.
    return [
        "make",
        "--no-print-directory",
        "-o",
        f"{VENV}/.installed-stamp",
        f"VENV={VENV}",
        f"LAB_FLAGS={flags}",
        *args,
        "lab",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str, *, follow: bool = True) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    opener = urllib.request.build_opener(*(() if follow else (NoRedirect(),)))
    try:
        with opener.open(request, timeout=30) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_make_lab_passes_allow_root_exactly_when_root():
    recipe = subprocess.run(
        make_lab("-n"), cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert f"{VENV}/bin/jupyter lab" in recipe
    assert ("--allow-root" in recipe) == (os.geteuid() == 0), recipe
    assert "/lab/tree/book/chapters" in recipe, recipe
    assert "pip install" not in recipe, (
        "make lab installs nothing: jupyterlab is in requirements.txt"
    )


def as_normal_user(command: list[str]) -> list[str]:
    """``command`` run by uid 1000, as a student's account would run it. As root, bubblewrap puts
    it in a user namespace where it is uid 1000 (``id -u`` says 1000, so make passes no
    --allow-root, and JupyterLab sees a normal user); elsewhere the caller already is one."""
    if os.geteuid() != 0:
        return command
    return ["bwrap", "--unshare-user", "--uid", "1000", "--gid", "1000", "--bind", "/", "/",
            "--dev", "/dev", "--proc", "/proc", "--die-with-parent", *command]


@pytest.mark.parametrize("user", ["this user", "a normal user"])
def test_make_lab_starts_serves_the_chapters_and_the_kernel_and_stops(tmp_path, user):
    port, token = free_port(), secrets.token_hex(16)
    flags = (
        f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
        f"--IdentityProvider.token={token}"
    )
    env = dict(
        os.environ,
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    log = tmp_path / "lab.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        command = make_lab(flags=flags)
        lab = subprocess.Popen(
            as_normal_user(command) if user == "a normal user" else command,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert lab.poll() is None, (
                f"make lab exited ({lab.returncode}):\n{log.read_text()[-3000:]}"
            )
            try:
                status, _, _ = get(f"{base}/api/status", token)
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (
                f"JupyterLab did not answer:\n{log.read_text()[-3000:]}"
            )
            time.sleep(0.5)

        status, _, page = get(f"{base}/lab", token)
        assert status == 200 and b"JupyterLab" in page, (status, page[:300])
        status, _, _ = get(f"{base}/lab", "wrong-token", follow=False)
        assert status in (302, 403), f"/lab without the token: HTTP {status}"

        status, _, body = get(f"{base}/api/kernelspecs", token)
        assert status == 200
        specs = json.loads(body)
        assert "python3" in specs["kernelspecs"], specs
        argv0 = specs["kernelspecs"]["python3"]["spec"]["argv"][0]
        # the project's kernel: the venv's interpreter (the one that has convlib)
        assert argv0 == "python" or Path(argv0).parent == VENV / "bin", argv0

        status, headers, _ = get(f"{base}/", token, follow=False)
        assert status in (301, 302) and headers["Location"].split("?")[0].endswith(
            "/lab/tree/book/chapters"
        ), (status, headers.get("Location"))
        status, _, body = get(f"{base}/api/contents/book/chapters", token)
        assert status == 200
        names = {item["name"] for item in json.loads(body)["content"]}
        assert any(name.endswith(".ipynb") for name in names), names

        request = urllib.request.Request(
            f"{base}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
        )
        urllib.request.urlopen(request, timeout=30).close()
        assert lab.wait(60) == 0, f"make lab exited {lab.returncode}:\n{log.read_text()[-3000:]}"
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            try:
                lab.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
                lab.wait(20)
    assert "Running as root is not recommended" not in log.read_text()
    if user == "a normal user":  # make printed its recipe: no --allow-root for a normal user
        assert "jupyter lab" in log.read_text() and "--allow-root" not in log.read_text()
