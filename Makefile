# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test install lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, migrate the SQLite database, deploy bpmn/, create demo users, serve on http://127.0.0.1:5000
run: install
	$(BIN)/iphs-flow db upgrade
	$(BIN)/iphs-flow users demo
	$(BIN)/iphs-flow deploy bpmn
	$(BIN)/iphs-flow serve

## make test: install test dependencies and run the whole suite (SQLite and PostgreSQL)
test: install
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no tests: that is a failure" >&2; exit 1; fi; \
	exit $$rc

lint: install
	$(BIN)/ruff check iphs_flow tests bench

bench: install
	$(BIN)/python -m bench.engine

clean:
	rm -rf $(VENV) instance .pytest_cache
