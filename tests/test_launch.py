"""A chapter opened on its own, as on Colab or Binder: offline, in a fresh virtual environment that
holds only what a hosted notebook service gives (PyTorch, torchvision, numpy, matplotlib, pandas,
tqdm, Pillow, a kernel, setuptools), the notebook copied alone into an empty folder. Its launch cell
must install the book's package from a local clone ($CONVLIB_SOURCE) and the chapter must run top to
bottom, reading the reference results installed with the package."""

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

from convlib.book import ROOT, SOURCE_ENV_VAR

HOSTED = ("torch", "torchvision", "numpy", "matplotlib", "pandas", "tqdm", "pillow", "ipykernel",
          "setuptools", "wheel")
CHAPTERS = ("book/chapters/01_dense_vs_conv.ipynb", "book/appendix/errata.ipynb")


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
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    link_farm(closure(HOSTED), root / "hosted-packages")
    Path(purelib, "hosted.pth").write_text(str(root / "hosted-packages") + "\n")
    kernel = root / "jupyter" / "kernels" / "hosted"
    kernel.mkdir(parents=True)
    kernel.joinpath("kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "hosted service", "language": "python"}))
    clone = root / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(clone)], check=True)
    return {"root": root, "python": python, "purelib": purelib, "clone": clone}


@pytest.mark.slow  # shares the fresh venv with the launch runs
def test_the_fresh_environment_lacks_the_book_and_its_tools(hosted):
    for module in ("convlib", "myst_nb", "nbval", "pytest", "jupyter_book"):
        found = subprocess.run([hosted["python"], "-c", f"import {module}"], capture_output=True, check=False,
                               cwd=hosted["root"])
        assert found.returncode != 0, f"{module} should not be importable in the hosted venv"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_opened_alone_installs_the_book_and_runs(hosted, chapter, cifar_dir, tmp_path,
                                                            monkeypatch):
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(ROOT / chapter, folder / "chapter.ipynb")
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
        "import convlib, convlib.experiments\nprint(convlib.__file__)\nprint(convlib.experiments.DEFAULT_OUT)"))
    NotebookClient(notebook, kernel_name="hosted", timeout=900,
                   resources={"metadata": {"path": str(folder)}}).execute()
    where, results = notebook.cells[-1].outputs[0]["text"].split()
    assert where.startswith(hosted["purelib"]), where  # installed into the fresh venv, not the checkout
    assert Path(results).name == "reference" and Path(results, "dense_vs_conv.json").is_file()
