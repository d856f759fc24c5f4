"""convlib.launch: every chapter starts with the launch cell, which is written from _config.yml.

A chapter opened on its own, as on Colab or Binder (slow tests): offline, in a fresh virtual
environment that holds only what a hosted notebook service gives (PyTorch, torchvision, numpy,
matplotlib, pandas, tqdm, Pillow, a kernel, setuptools), the notebook copied alone into an empty
folder. Its launch cell must install the book's package from a local clone ($CONVLIB_SOURCE) and
the chapter must run top to bottom, reading the reference results installed with the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from convlib.book import toc_notebooks
from convlib.io import REPO_ROOT
from convlib.launch import (
    LAUNCH_TAG,
    SOURCE_ENV_VAR,
    launch_cell_source,
    repository,
    sync_launch_cell,
)

HOSTED = ("torch", "torchvision", "numpy", "matplotlib", "pandas", "tqdm", "pillow", "ipykernel",
          "setuptools", "wheel")
CHAPTERS = ("book/chapters/01_dense_vs_conv.ipynb", "book/appendix/errata.ipynb")


# ---- launching a chapter on its own (Colab, Binder, a download) ------------------------------

@pytest.mark.parametrize("path", toc_notebooks())
def test_every_chapter_starts_with_the_launch_cell_hidden_on_the_website(path):
    notebook = json.loads(REPO_ROOT.joinpath(path).read_text(encoding="utf-8"))
    first = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    assert "".join(first["source"]) == launch_cell_source(), (
        "run: python -m convlib.book sync-launch-cells")
    assert LAUNCH_TAG in first["metadata"].get("tags", [])
    assert first["outputs"] == []  # a no-op where convlib is installed: nothing to compare
    assert not sync_launch_cell(notebook)  # in sync: the generator changes nothing


def test_the_launch_cell_installs_from_the_repository_in_config_and_fits_the_page():
    url, branch = repository()
    source = launch_cell_source()
    assert f"git+{url}@{branch}" in source and url.startswith("https://github.com/")
    assert max(len(line) for line in source.splitlines()) <= 88
    compile(source, "launch", "exec")


def test_sync_inserts_the_launch_cell_before_the_first_code_cell_and_updates_an_old_one():
    notebook = {"cells": [{"cell_type": "markdown", "source": ["# t"], "metadata": {}},
                          {"cell_type": "code", "source": ["import convlib"], "metadata": {},
                           "outputs": []}]}
    assert sync_launch_cell(notebook)
    assert [c["cell_type"] for c in notebook["cells"]] == ["markdown", "code", "code"]
    notebook["cells"][1]["source"] = ["# Set-up for a notebook opened on its own (old)\n"]
    assert sync_launch_cell(notebook)
    assert "".join(notebook["cells"][1]["source"]) == launch_cell_source()
    assert len(notebook["cells"]) == 3 and not sync_launch_cell(notebook)


def closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, with the dependencies of the extras they ask of
    each other (torch asks cuda-toolkit[cublas, ...])."""
    seen: dict[tuple[str, str], bool] = {}
    dists: dict[str, metadata.Distribution] = {}
    todo = [(name, "") for name in names]
    while todo:
        name, extra = todo.pop()
        key = (canonicalize_name(name), extra)
        if key in seen:
            continue
        seen[key] = True
        dist = dists.setdefault(key[0], metadata.distribution(key[0]))
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(requirement.name, e) for e in ("", *requirement.extras)]
    return list(dists.values())


def link_farm(dists: list[metadata.Distribution], farm: Path) -> None:
    """Symbolic links to the top-level files of ``dists``: those packages and no others."""
    farm.mkdir()
    for dist in dists:
        base = Path(dist.locate_file(""))
        for top in {Path(str(f)).parts[0] for f in dist.files or []}:
            source, target = base / top, farm / top
            if source.exists() and not target.exists() and not top.endswith(".pth") and top != "..":
                target.symlink_to(source)


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    """A fresh venv that sees only the hosted-service packages, a kernel for it, and a clone."""
    root = tmp_path_factory.mktemp("hosted")
    venv.create(root / "venv", with_pip=True, symlinks=True)
    python = root / "venv" / "bin" / "python"
    # ensurepip also brings an old setuptools; the hosted one (as on Colab) is current
    subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "setuptools"], check=True)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([python, "-c", where], capture_output=True, text=True,
                             check=True).stdout.strip()
    link_farm(closure(HOSTED), root / "hosted-packages")
    Path(purelib, "hosted.pth").write_text(str(root / "hosted-packages") + "\n")
    kernel = root / "jupyter" / "kernels" / "hosted"
    kernel.mkdir(parents=True)
    kernel.joinpath("kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "hosted service", "language": "python"}))
    clone = root / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO_ROOT}", str(clone)],
                   check=True)
    return {"root": root, "python": python, "purelib": purelib, "clone": clone}


@pytest.mark.slow  # shares the fresh venv with the launch runs
def test_the_fresh_environment_lacks_the_book_and_its_tools(hosted):
    for module in ("convlib", "myst_nb", "nbval", "pytest", "jupyter_book"):
        found = subprocess.run([hosted["python"], "-c", f"import {module}"], capture_output=True,
                               check=False, cwd=hosted["root"])
        assert found.returncode != 0, f"{module} should not be importable in the hosted venv"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_opened_alone_installs_the_book_and_runs(hosted, chapter, cifar_dir, tmp_path,
                                                            monkeypatch):
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(REPO_ROOT / chapter, folder / "chapter.ipynb")
    for key in list(os.environ):
        if key.startswith(("CONVLIB_", "PYTHON", "VIRTUAL_ENV", "PIP_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("JUPYTER_PATH", str(hosted["root"] / "jupyter"))
    monkeypatch.setenv(SOURCE_ENV_VAR, f"file://{hosted['clone']}")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: nothing may come from a package index
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")  # build with the environment's setuptools
    monkeypatch.setenv("CONVLIB_PROFILE", "smoke")
    monkeypatch.setenv("CONVLIB_PROGRESS", "0")
    monkeypatch.setenv("CONVLIB_DATA", str(cifar_dir))
    monkeypatch.setenv("PATH", f"{hosted['python'].parent}{os.pathsep}{os.environ['PATH']}")
    notebook = nbformat.read(folder / "chapter.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import convlib, convlib.store\nprint(convlib.__file__)\n"
        "print(convlib.store.reference_dir())"))
    NotebookClient(notebook, kernel_name="hosted", timeout=900,
                   resources={"metadata": {"path": str(folder)}}).execute()
    where, results = notebook.cells[-1].outputs[0]["text"].split()
    # installed into the fresh venv, not the checkout
    assert where.startswith(hosted["purelib"]), where
    assert Path(results).name == "reference" and Path(results, "dense_vs_conv.json").is_file()
