# The two front-door commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIND ?= 127.0.0.1:8000
BIN := $(VENV)/bin
# Serving needs the package alone; the dev extra (tests, linters, the browser driver) comes with `make test`.
# setuptools notes on every editable install that folders named like the package shadow it: that is the point here.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q --disable-pip-version-check
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: run test browser lint bench conformance clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip

$(RUN_STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(PIP_INSTALL) -e .
	touch $(RUN_STAMP)

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(PIP_INSTALL) -e '.[dev]'
	touch $(STAMP)

## run: install what serving needs, migrate the SQLite database, create tenant "default" (token printed once),
## serve on $(BIND), the log as text for a terminal (SCIM_LOG_FORMAT; JSON elsewhere)
run: export SCIM_LOG_FORMAT ?= text
run: $(RUN_STAMP)
	$(BIN)/scim-server quickstart --base-url http://$(BIND)
	$(BIN)/scim-server serve --bind $(BIND)

## browser: Debian's Chromium for the console's browser tests, and curl and jq for the README's walkthrough test,
## when missing (without apt or root those tests skip, with the reason; under CI=true they fail instead)
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; } || \
	  echo "Chromium could not be installed: the console's browser tests will skip"
	@{ command -v curl && command -v jq; } >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl jq; } || \
	  echo "curl and jq could not be installed: the README's walkthrough test will skip"

## test: ruff, the layer contracts of setup.cfg (lint-imports), the whole suite (PostgreSQL too when
## SCIM_TEST_POSTGRES_URL is set)
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

## conformance: the public testers (scim2-tester, scim-sanity) and schemathesis on /openapi.json, installed into
## .cache/conformance from PyPI on first use, against a fresh production server
conformance: $(STAMP)
	bench/conformance/run.sh

## bench: load benchmark (wrk against gunicorn, SQLite and PostgreSQL when BENCH_POSTGRES_URL or
## SCIM_TEST_POSTGRES_URL is set) next to a bare Flask ceiling, then webhook delivery (bench/load/webhooks.py);
## installs wrk with apt-get when missing
BENCH_POSTGRES_URL ?= $(SCIM_TEST_POSTGRES_URL)
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk; } || \
	  { echo "wrk is missing and could not be installed with apt-get"; exit 1; }
	$(BIN)/python -m bench.load.run $(if $(BENCH_POSTGRES_URL),--postgres $(BENCH_POSTGRES_URL)) $(BENCH_ARGS)
	$(BIN)/python -m bench.load.webhooks $(if $(BENCH_POSTGRES_URL),--postgres $(BENCH_POSTGRES_URL))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo

clean:
	rm -rf $(VENV) instance *.egg-info .pytest_cache .ruff_cache .hypothesis .import_linter_cache
