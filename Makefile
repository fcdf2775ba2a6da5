# Two commands for a new user: `make demo` and `make test`. Each sets itself up first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The domain package (the deployed layer) and the tooling beside it: the local runtime and the CLI.
export PYTHONPATH := $(CURDIR)/layers/common/python:$(CURDIR)/tools
# `sam build` needs the Lambda runtime's Python (3.12) on PATH; pyenv keeps it outside PATH.
LAMBDA_PYTHON_DIR := $(firstword $(dir $(shell command -v python3.12 2>/dev/null)) $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/) $(wildcard /root/.pyenv/versions/3.12*/bin/))

.PHONY: demo serve test unit lint format generate check-generated build validate bench clean browser

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)  ## one BigCommerce order end to end, locally
	$(PY) -m orderflow_cli demo

serve: $(STAMP)  ## the local API on 127.0.0.1:$${PORT:-3000}; ARGS=--ephemeral keeps no state
	$(PY) -m orderflow_cli serve $(ARGS)

# The suite runs at DEBUG, so that every log line runs in it (a bad one fails a test, not a request).
# The console's browser tests drive Chromium: Debian's package where apt exists (as root, or with sudo),
# else Playwright's own download. Skipped when a browser is there already.
CHROMIUM ?= /usr/bin/chromium
browser:  ## the browser the console's tests drive
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	else $(PY) -m playwright install chromium; fi

test: $(STAMP) check-generated browser  ## lint, types, generated state machines, then the whole suite
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/cfn-lint template.yaml -a cfn_lint_serverless.rules
	LOG_LEVEL=DEBUG $(PY) -m pytest -q -n auto

lint: $(STAMP)  ## ruff, mypy, and template.yaml against AWS's serverless rules (cfn-lint)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/cfn-lint template.yaml -a cfn_lint_serverless.rules

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

generate: $(STAMP)  ## write statemachines/*.asl.json from flows/*.yaml
	$(PY) -m orderflow_cli flows generate flows/*.yaml --out statemachines

check-generated: $(STAMP)  ## fail when statemachines/ is not what `make generate` makes of flows/
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PY) -m orderflow_cli flows generate flows/*.yaml --out "$$tmp" >/dev/null && \
	diff -r "$$tmp" statemachines >/dev/null || { diff -ru statemachines "$$tmp"; \
	echo "statemachines/ is stale: run 'make generate' and commit the result"; exit 1; }

validate: $(STAMP)
	$(VENV)/bin/sam validate --lint

build: $(STAMP) validate
	@test -n "$(LAMBDA_PYTHON_DIR)" || { echo "sam build needs python3.12 on PATH (the Lambda runtime)"; exit 1; }
	PATH="$(LAMBDA_PYTHON_DIR):$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache
