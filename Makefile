# The two front-door commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIND ?= 127.0.0.1:8000
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench conformance clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

## run: install, migrate the SQLite database, create tenant "default" (token printed once), serve on $(BIND)
run: $(STAMP)
	$(BIN)/scim-server quickstart --base-url http://$(BIND)
	$(BIN)/scim-server serve --bind $(BIND)

## test: the whole suite (PostgreSQL too when SCIM_TEST_POSTGRES_URL is set)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance *.egg-info .pytest_cache .ruff_cache .hypothesis
