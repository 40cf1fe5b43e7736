# The project's menu. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed ## Create .venv with the pinned dependencies and the package (editable)

# pre-commit keeps its state (no hook environments: every hook is `language: system`) here, inside
# the checkout and ignored by git, so `make lint` needs no writable home directory.
PRE_COMMIT_HOME ?= $(CURDIR)/.tools/pre-commit

lint: install ## The gates of .pre-commit-config.yaml: ruff check, ruff format --check, mypy, cfn-lint
	PRE_COMMIT_HOME="$(PRE_COMMIT_HOME)" $(VENV)/bin/pre-commit run --all-files --show-diff-on-failure

format: install ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install ## Lint, then every test suite (the command CI runs)
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest

# The Lambda runtime's Python (python3.13): pyenv's 3.13 if there is one, else python3.13 on PATH.
PYTHON_RUNTIME ?= $(or $(lastword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13)),python3.13)
VENV_RUNTIME ?= .venv-py313

test-py313: ## Unit + integration suites again on the Lambda runtime's Python (3.13), in .venv-py313
	$(MAKE) --no-print-directory install VENV=$(VENV_RUNTIME) PYTHON=$(PYTHON_RUNTIME)
	VENV=$(VENV_RUNTIME) PATH="$(CURDIR)/$(VENV_RUNTIME)/bin:$$PATH" \
		$(VENV_RUNTIME)/bin/python -m pytest tests/unit tests/integration -p no:cacheprovider

demo: install ## Synthetic store -> training report -> local API on :8000 (DB=..., DEMO_STORE=s3, DEMO_ONCE=1)
	DEMO_ONCE=$(DEMO_ONCE) DEMO_STORE=$(DEMO_STORE) DB="$(DB)" $(PY) -m devtools.demo

SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 8000

serve: install ## Local API on 127.0.0.1:8000 calling the predict Lambda handler (SERVE_HOST=, SERVE_PORT=)
	$(PY) -m devtools serve --host $(SERVE_HOST) --port $(SERVE_PORT)

openapi: install ## Regenerate docs/openapi.json from the resolver
	$(PY) -c "from genre_model.serve.routes import openapi_document; print(openapi_document())" > docs/openapi.json

train: install ## Train once: python -m genre_model train (DB and MODEL_* from the environment)
	$(PY) -m genre_model train

.PHONY: help install lint format test test-py313 train demo serve openapi

# tools.mk first: the others name its tools ($(SAM), $(CHECKOV)) as prerequisites, which make
# expands when it reads each rule.
include infra/make/tools.mk
-include $(filter-out infra/make/tools.mk,$(wildcard infra/make/*.mk))
