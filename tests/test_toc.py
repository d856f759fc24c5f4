"""No chapter escapes: nbval runs exactly the notebooks of _toc.yml, and every notebook is in it."""

from __future__ import annotations

import json
import re
import subprocess

from convlib.book import ROOT, toc_files, toc_notebooks

MACHINE_PATH = re.compile(r"(/root/|/tmp/|/work/|/home/[a-z]|/Users/|site-packages/|[A-Z]:\\\\)")
MEMORY_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]{6,}")


def book_notebooks() -> set[str]:
    found = ROOT.joinpath("book").rglob("*.ipynb")
    return {str(p.relative_to(ROOT)) for p in found
            if "_build" not in p.parts and ".ipynb_checkpoints" not in p.parts}


def test_every_notebook_of_the_book_is_in_the_toc():
    assert book_notebooks() == set(toc_notebooks())


def test_every_toc_entry_exists():
    for entry in toc_files():
        assert any(ROOT.joinpath(entry + ext).is_file() for ext in (".md", ".ipynb")), entry


def test_nbval_target_runs_exactly_the_toc_notebooks():
    dry_run = subprocess.run(["make", "-n", "--no-print-directory", "nbval"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    commands = dry_run.replace("\\\n", " ").splitlines()  # join continuation lines
    pytest_line = next(line for line in commands if "--nbval" in line)
    ran = {token for token in pytest_line.split() if token.endswith(".ipynb")}
    assert "--nbval-lax" not in pytest_line  # strict: every cell compared
    assert ran == set(toc_notebooks())


def test_stored_outputs_hold_no_machine_path_address_or_error():
    for path in toc_notebooks():
        notebook = json.loads(ROOT.joinpath(path).read_text(encoding="utf-8"))
        counts = []
        for cell in notebook["cells"]:
            if cell["cell_type"] != "code":
                continue
            assert cell.get("outputs") is not None
            counts.append(cell.get("execution_count"))
            for output in cell.get("outputs", []):
                assert output["output_type"] != "error", f"{path}: stored error output"
                text = json.dumps({k: v for k, v in output.items() if k != "data"}) + json.dumps(
                    {k: v for k, v in output.get("data", {}).items() if not k.startswith("image/")})
                assert not MACHINE_PATH.search(text), f"{path}: output shows a machine path"
                assert not MEMORY_ADDRESS.search(text), f"{path}: output shows a memory address"
        executed = [c for c in counts if c is not None]
        assert executed == list(range(1, len(executed) + 1)), f"{path}: not run top to bottom"
