"""The launch cell: the first code cell of every chapter, so that a notebook opened on its own
(Colab, Binder, JupyterHub, a download) installs the book's package before it imports it.

:func:`launch_cell_source` writes the cell from the repository and branch of ``_config.yml``;
:func:`sync_launch_cell` puts it in a notebook (``python -m convlib.book sync-launch-cells`` does
it for every chapter of the table of contents). The grader's release (``bookgrader.release``)
gives the student notebooks the same cell, so this module sits in the bottom layer.
"""

from __future__ import annotations

from convlib.io import REPO_ROOT

LAUNCH_TAG = "remove-cell"  # hidden on the website, still executed by nbval
LAUNCH_FIRST_LINE = "# Set-up for a notebook opened on its own"
SOURCE_ENV_VAR = "CONVLIB_SOURCE"


def repository() -> tuple[str, str]:
    """The book's repository URL and branch, from ``_config.yml`` (the one place they are set)."""
    import yaml  # deferred: installed with jupyter-book, not a dependency of the package

    text = (REPO_ROOT / "_config.yml").read_text(encoding="utf-8")
    config = yaml.safe_load(text)["repository"]
    return config["url"].rstrip("/"), config.get("branch", "main")


def launch_cell_source() -> str:
    """The first code cell of every chapter: on Colab, Binder, JupyterHub or a downloaded notebook
    it installs the book's package (with its reference results) when ``convlib`` is missing; in a
    clone where ``make`` has run it does nothing. ``$CONVLIB_SOURCE`` points it at another copy
    of the repository (a pip requirement URL: ``git+https://...``, ``file:///path``)."""
    url, branch = repository()
    return "\n".join([
        f"{LAUNCH_FIRST_LINE} (Colab, Binder, JupyterHub, a download):",
        "# install the book's package, convlib, when it is missing. In a clone, it does nothing.",
        "import importlib, importlib.util, os, subprocess, sys",
        "",
        'if importlib.util.find_spec("convlib") is None:',
        f'    REPOSITORY = "git+{url}@{branch}"',
        f'    source = os.environ.get("{SOURCE_ENV_VAR}", REPOSITORY)',
        '    pip = [sys.executable, "-m", "pip", "install", "-q"]',
        '    subprocess.run(pip + [f"convlib @ {source}"], check=True)',
        "    importlib.invalidate_caches()",
    ])


def sync_launch_cell(notebook: dict) -> bool:
    """Put :func:`launch_cell_source` as the first code cell of ``notebook`` (replacing an older
    version of it). Returns True when the notebook changed."""
    cells = notebook["cells"]
    source = launch_cell_source()
    first = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    if first < len(cells) and "".join(cells[first]["source"]).startswith(LAUNCH_FIRST_LINE):
        if "".join(cells[first]["source"]) == source:
            return False
        cells[first]["source"] = source.splitlines(keepends=True)
        return True
    cells.insert(first, {"cell_type": "code", "execution_count": None, "id": "launch",
                         "metadata": {"tags": [LAUNCH_TAG]}, "outputs": [],
                         "source": source.splitlines(keepends=True)})
    return True
