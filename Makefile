# One entry point for students, instructors and CI. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
LAB_STAMP := $(VENV)/.installed-lab
SEMINAR := seminars/01_seminar_mlp_autograd
HW ?= activations
SUB ?= build/assignments/$(HW)

.PHONY: help install install-sandbox seminar test lab rebuild check lint assignments grade migrate bench bench-grading clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys' >/dev/null 2>&1 || \
		{ echo "Python >= 3.10 is required: '$(PYTHON)' cannot be run (not installed or not enabled); set PYTHON=/path/to/python3.X"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
		{ echo "Python >= 3.10 is required ('$(PYTHON)' is $$($(PYTHON) --version 2>&1))"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

install: $(STAMP) ## Create .venv and install the pinned dependencies (VENV=..., PYTHON=... to choose)

install-sandbox: ## Install bubblewrap, the grader's sandbox (root + apt-get; util-linux is standard)
	@if command -v bwrap >/dev/null 2>&1; then echo "sandbox: $$(bwrap --version) is installed"; \
	elif [ "$$(id -u)" != 0 ]; then echo "install-sandbox needs root: sudo make install-sandbox"; exit 1; \
	elif ! command -v apt-get >/dev/null 2>&1; then echo "install-sandbox: no apt-get; install bubblewrap with your package manager"; exit 1; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap && bwrap --version; fi

seminar: $(STAMP) ## Execute the seminar into build/ (.ipynb with outputs + .html)
	$(PY) seminars/execute_notebook.py $(SEMINAR).ipynb --out-dir build

test: $(STAMP) ## Run the whole test suite (what CI runs)
	$(PY) -m pytest

$(LAB_STAMP): $(STAMP) requirements-lab.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-lab.txt
	@touch $@

lab: $(LAB_STAMP) ## Open JupyterLab on the seminar (the .py source opens as a notebook too)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(SEMINAR).ipynb

rebuild: $(STAMP) ## Regenerate the seminar .ipynb from its .py source
	$(PY) seminars/rebuild_notebook.py

check: $(STAMP) ## Fail if the committed notebooks are stale or carry widget state
	$(PY) seminars/rebuild_notebook.py --check
	$(PY) seminars/rebuild_notebook.py --check homeworks/weight-init/experiments.py
	RM_WIDGETS_PYTHON=$(PY) bash seminars/rm_widgets.sh --check
	RM_WIDGETS_PYTHON=$(PY) bash seminars/rm_widgets.sh --check homeworks/weight-init/experiments.ipynb

lint: $(STAMP) ## ruff over the code and the notebooks
	$(BIN)/ruff check .

assignments: $(STAMP) ## Write the student releases of the homeworks to build/assignments/
	$(PY) homeworks/release.py --out build/assignments

grade: $(STAMP) ## Grade a submission in the sandbox: make grade HW=activations SUB=path/to/dir
	$(PY) homeworks/grade.py $(HW) $(SUB) --json build/grades/$(HW).json $(GRADE_FLAGS)

bench-grading: $(STAMP) ## Grading time of each homework's reference (median of RUNS=3)
	$(PY) homeworks/bench_grading.py --runs $(or $(RUNS),3)

migrate: $(STAMP) ## Archive notebooks -> merge -> modernize -> rebuild: build/migrated_seminar.ipynb
	@mkdir -p build
	$(PY) seminars/merge_notebooks.py seminars/old_01_seminar_torch_mlp.ipynb \
		seminars/old_02_seminar_autograd.ipynb -o build/migrated_seminar.ipynb \
		--title "Семинар 1: MLP на PyTorch и автоматическое дифференцирование (миграция архива)"
	$(PY) seminars/modernize_code.py build/migrated_seminar.ipynb
	$(PY) seminars/rebuild_notebook.py build/migrated_seminar.ipynb
	@echo "Migrated notebook: build/migrated_seminar.ipynb"

bench: $(STAMP) ## Benchmarks: our Value engine against micrograd 0.1.0
	$(PY) seminars/bench_value.py

clean: ## Remove build outputs (keeps .venv)
	rm -rf build .pytest_cache

# ---- Grading a class and GitHub Classroom templates (issue 13) ----
SUBS ?=
JOBS ?=
.PHONY: grade-class classroom

grade-class: $(STAMP) ## Grade a class: make grade-class HW=mlp SUBS=folder-with-one-subfolder-per-student [JOBS=4] [FORCE=1] [GRADE_FLAGS=--allow-no-isolation]
	@test -n "$(SUBS)" || { echo "SUBS: give the folder with one subfolder per student (make grade-class HW=$(HW) SUBS=...)"; exit 2; } >&2
	$(PY) homeworks/grade_class.py $(HW) $(SUBS) --out build/grades $(if $(JOBS),--jobs $(JOBS)) $(if $(FORCE),--force) $(GRADE_FLAGS)

classroom: $(STAMP) ## Write GitHub Classroom template repositories to build/classroom/<hw>/
	$(PY) homeworks/classroom.py --out build/classroom
