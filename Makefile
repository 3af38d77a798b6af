# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
PYTEST_WORKERS ?= auto

.PHONY: run test install lint bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Browser assets (bpmn-js, axe-core) from npm, pinned by package-lock.json; never committed.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# English UI texts: the .po is in git, the compiled .mo is built here.
iphs_flow/web/translations/en/LC_MESSAGES/messages.mo: iphs_flow/web/translations/en/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -d iphs_flow/web/translations

# The browser tests drive Debian's Chromium; install it only when it is missing.
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

install: $(STAMP) node_modules/.package-lock.json iphs_flow/web/translations/en/LC_MESSAGES/messages.mo

## make run: install, migrate the SQLite database, deploy bpmn/, create demo users, serve on http://127.0.0.1:5000
run: install
	$(BIN)/iphs-flow db upgrade
	$(BIN)/iphs-flow users demo
	$(BIN)/iphs-flow deploy bpmn
	$(BIN)/iphs-flow serve

## make test: install test dependencies and run the whole suite (SQLite and PostgreSQL), one
## pytest-xdist worker per core; PYTEST_WORKERS=0 runs it in one process, PYTEST_ARGS adds options.
## Each test module runs whole on one worker (its module fixtures are made once), handed out in
## the order they are collected: the long browser and API modules first, the quick unit tests last.
## Compiled modules are kept (__pycache__) even where the environment says not to
## (PYTHONDONTWRITEBYTECODE): each of the suite's many Python processes (xdist workers, servers,
## schedulers, console runs) then reads the project and the rewritten tests instead of compiling them.
test: install chromium
	@PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no tests: that is a failure" >&2; exit 1; fi; \
	exit $$rc

lint: install
	$(BIN)/ruff check iphs_flow tests bench

bench: install
	$(BIN)/python -m bench.engine
	$(BIN)/python -m bench.scheduler
	$(BIN)/python -m bench.web
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.http

clean:
	rm -rf $(VENV) instance .pytest_cache
