# Kernel Size Matters: one Makefile for readers, learners, instructors and CI.
#   make book     set up .venv if needed, build the website into _build/html (warnings are errors)
#   make test     set up .venv if needed, lint (layers + ruff), the unit tests (fast, then slow), nbval
#   make nbval-portable  nbval again, as on another machine: 1 thread, AVX2 kernels, no bf16
#   make execute  re-execute every notebook in place, top to bottom, in a fresh kernel
#   make lab      JupyterLab on the book, with the venv's kernel
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
PYTEST_FLAGS ?=

# The chapter notebooks, in the order of _toc.yml (tests/test_book.py checks nbval covers exactly these).
NOTEBOOKS = $(shell $(PY) -m convlib.book notebooks 2>/dev/null)

.PHONY: help install book test lint unit slow nbval nbval-portable execute lab release grade reference clean
help:
	@sed -n '1,7p' Makefile

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

book: $(STAMP) release  # the pages link the student notebooks that release/ holds
	$(BIN)/jupyter-book build . -W --keep-going
	@test -f _build/html/index.html && echo "Website: _build/html/index.html"

test: lint unit slow nbval

# The layers of convlib (the import-linter contract in pyproject.toml, ARCHITECTURE.md) and ruff
# (its rules, complexity included, in pyproject.toml): both must report nothing.
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .

# The fast tests on every core (pytest-xdist); the end-to-end ones marked slow (grading batches,
# measured peaks) on their own, so their timing is not disturbed. Both run in CI, nothing skipped.
XDIST ?= -n auto
unit: $(STAMP)
	$(PY) -m pytest tests -m "not slow" $(XDIST) $(PYTEST_FLAGS)

slow: $(STAMP)
	$(PY) -m pytest tests -m slow $(PYTEST_FLAGS)

nbval: $(STAMP)
	@test -n "$(NOTEBOOKS)" || { echo "no notebooks in _toc.yml"; exit 1; }
	CONVLIB_PROGRESS=0 $(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg \
		-p no:cacheprovider $(XDIST) --dist loadfile $(NOTEBOOKS) $(PYTEST_FLAGS)

# A second machine, simulated (convlib.book.PORTABLE_ENV): one thread, the CPU kernels held to AVX2
# (ATen, oneDNN, MKL) and no bf16 autocast, what a laptop without native bf16 runs.
nbval-portable: $(STAMP)
	env $$($(PY) -m convlib.book portable-env) $(MAKE) --no-print-directory nbval

execute: $(STAMP)
	@export CONVLIB_PROGRESS=0; for nb in $(NOTEBOOKS); do \
		echo "executing $$nb"; \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.kernel_name=python3 "$$nb" || exit 1; \
	done

# JupyterLab (requirements.txt) from the repository root, opened on the chapters; --allow-root where
# run as root (containers, cloud VMs). LAB_FLAGS: more options (tests/test_lab.py: port, token, no browser).
LAB_FLAGS ?=
lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --ServerApp.root_dir=. \
		--LabApp.default_url=/lab/tree/book/chapters $(LAB_FLAGS)

# Graded exercises (book/instructors.md). release: student notebooks (nbgrader generate_assignment)
# into release/ and the website's pages book/exercises/*.md. grade: every student folder of
# SUBMISSIONS, each submission in a fresh bubblewrap sandbox (seccomp filter, its own cgroup), into
# grading/ (gradebook.csv, feedback/, log); GRADING_OUT must lie outside SUBMISSIONS.
release: $(STAMP)
	$(PY) -m bookgrader release --source exercises/source --out release --pages book/exercises

SUBMISSIONS ?=
GRADING_OUT ?= grading
GRADE_FLAGS ?=
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [GRADING_OUT=grading] [GRADE_FLAGS='--jobs 2 --timeout 60'] (needs bubblewrap and libseccomp: exits 2, with the fix, without them; sudo scripts/install-system-deps installs them)" >&2; exit 2; }
	$(PY) -m bookgrader grade "$(SUBMISSIONS)" --out "$(GRADING_OUT)" $(GRADE_FLAGS)

# A whole reference set (README, "Reference results"): recipes/cpu/reference.sh, from a clean
# worktree of COMMIT (a set is one commit), every experiment with PROFILE in two one-thread lanes
# with tcmalloc, each lane extending (cpu, full) what it finished. Resumable: run it again after an
# interruption. REFERENCE_OUT defaults to the set's folder in book/results/.
PROFILE ?= cpu
COMMIT ?= HEAD
REFERENCE_OUT ?= $(if $(filter quick,$(PROFILE)),book/results,book/results/$(PROFILE))
reference: $(STAMP)
	PROFILE=$(PROFILE) PYTHON=$(PY) OUT="$(REFERENCE_OUT)" recipes/cpu/reference.sh $(COMMIT)

clean:
	rm -rf _build .pytest_cache
