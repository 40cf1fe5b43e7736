# The project's menu. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# uv installs the pinned requirements in seconds where pip took a minute and a half per venv (CI
# builds two, and the quick-start test a third); it lives in its own venv in .tools/uv. The
# project's venvs are seeded with pip: `sam build` runs `python3 -m pip` from this PATH.
UV_VERSION := 0.13.9
UV := $(CURDIR)/.tools/uv/bin/uv
# The machine's CA store, as pip uses it (uv's own bundle does not know a company's TLS proxy).
export UV_SYSTEM_CERTS ?= true
# Bytecode is written on first import (into git-ignored __pycache__ folders): where
# PYTHONDONTWRITEBYTECODE is set, and uv installs none, every Python process compiled
# scikit-learn, pandas and boto3 from source again (about 5 s of CPU each; CI starts hundreds).
# Compiling all of site-packages at install instead cost minutes for modules never imported.
unexport PYTHONDONTWRITEBYTECODE

$(UV):
	@echo "installing uv $(UV_VERSION) into .tools/uv (about 10 s)"
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The last line's inner `shell date` is the start time: make expands a whole recipe before its
# first line runs.
$(VENV)/.installed: requirements-dev.txt pyproject.toml | $(UV)
	@echo "creating $(VENV) with the pinned dependencies (uv lists each step; about 20 s, longer on a first download or a busy machine)"
	$(UV) venv --quiet --seed --allow-existing --python $(PYTHON) $(VENV)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install -r requirements-dev.txt
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install --no-deps -e .
	touch $@
	@echo "$(VENV) ready in $$(( $$(date +%s) - $(shell date +%s) )) s (genre-model is $(VENV)/bin/genre-model)"

install: $(VENV)/.installed ## Create .venv with the pinned dependencies and the package (editable)

# pre-commit keeps its state (no hook environments: every hook is `language: system`) here, inside
# the checkout and ignored by git, so `make lint` needs no writable home directory.
PRE_COMMIT_HOME ?= $(CURDIR)/.tools/pre-commit

lint: install ## The gates of .pre-commit-config.yaml: ruff check, ruff format --check, mypy, cfn-lint
	PRE_COMMIT_HOME="$(PRE_COMMIT_HOME)" $(VENV)/bin/pre-commit run --all-files --show-diff-on-failure

format: install ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Test stages, each timed and reported by infra/scripts/stages.py (a failure names the stage, the
# failing tests and the first line of each error). Workers: pytest-xdist, one test file per
# worker at a time (module fixtures are built once); TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 4
STAGE := python3 infra/scripts/stages.py run
PYTEST = $(PY) -m pytest -p no:cacheprovider $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# STAGES_APPEND=1 (.ci/run): the stages join the caller's table, which prints the summary.
# TEST_STAGES: a subset of the stages, e.g. `make test TEST_STAGES="lint unit"`.
TEST_STAGES ?= lint unit integration sam
# INTEGRATION_SELECT: pytest's selection for the integration stage. .ci/run, whose reliability
# stage runs the sized checks (marked `reliability`) at full size, leaves their small run out.
INTEGRATION_SELECT ?=
stage_if = $(if $(filter $(1),$(TEST_STAGES)),$(STAGE) $(1) -- $(2) || status=1;)
test: install ## Lint, then every test suite, stage by stage (the command CI runs)
	@$(if $(STAGES_APPEND),,python3 infra/scripts/stages.py reset;) status=0; \
	$(call stage_if,lint,$(MAKE) --no-print-directory lint) \
	$(call stage_if,unit,$(PYTEST) tests/unit) \
	$(call stage_if,integration,$(PYTEST) $(INTEGRATION_SELECT) tests/integration tests/reliability) \
	$(call stage_if,sam,$(PY) -m pytest -p no:cacheprovider tests/sam) \
	$(if $(STAGES_APPEND),,python3 infra/scripts/stages.py summary;) exit $$status

# The Lambda runtime's Python (python3.13): pyenv's 3.13 if there is one, else python3.13 on PATH.
PYTHON_RUNTIME ?= $(or $(lastword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13)),python3.13)
# sam build's layer Makefiles compile the layers' bytecode with it (layers/wheels.mk).
export PYTHON_RUNTIME
VENV_RUNTIME ?= .venv-py313

# Tests marked `once` check what no interpreter changes (the template, the docs and quick start,
# the layer's files, the benchmark harness): the 3.13 run leaves them to `make test`.
test-py313: ## Unit + integration suites again on the Lambda runtime's Python (3.13), in .venv-py313
	$(MAKE) --no-print-directory install VENV=$(VENV_RUNTIME) PYTHON=$(PYTHON_RUNTIME)
	VENV=$(VENV_RUNTIME) PATH="$(CURDIR)/$(VENV_RUNTIME)/bin:$$PATH" \
		$(MAKE) --no-print-directory test-suites VENV=$(VENV_RUNTIME) SUITES_SELECT='-m "not once"'

SUITES_SELECT ?=
test-suites: ## Unit + integration suites only, with $(VENV) (test-py313 runs it with .venv-py313)
	$(PYTEST) $(SUITES_SELECT) tests/unit tests/integration

demo: install ## Synthetic store -> training report -> local API on :8000 (DB=..., DEMO_STORE=s3, DEMO_ONCE=1)
	DEMO_ONCE=$(DEMO_ONCE) DEMO_STORE=$(DEMO_STORE) DB="$(DB)" $(PY) -m devtools.demo

SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 8000

serve: install ## Local API on 127.0.0.1:8000 calling the predict Lambda handler (SERVE_HOST=, SERVE_PORT=)
	$(PY) -m devtools serve --host $(SERVE_HOST) --port $(SERVE_PORT)

docs-examples: install ## Rewrite the answers under the docs' curl examples from the demo model (run make demo first)
	$(PY) -m devtools.docs_examples

openapi: install ## Regenerate docs/openapi.json from the route functions and their schemas
	$(PY) -c "from genre_model.serve.openapi import openapi_document; print(openapi_document())" > docs/openapi.json

train: install ## Train once: python -m genre_model train (DB and MODEL_* from the environment)
	$(PY) -m genre_model train

.PHONY: help install lint format test test-py313 test-suites train demo serve openapi docs-examples

# tools.mk first: the others name its tools ($(SAM), $(CHECKOV)) as prerequisites, which make
# expands when it reads each rule.
include infra/make/tools.mk
-include $(filter-out infra/make/tools.mk,$(wildcard infra/make/*.mk))
