# Sarafan — the two commands are `make up` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON_FOR_VENV := $(shell scripts/find-python)
export SARAFAN_DATA_DIR ?= $(CURDIR)/data
# The tests' PostgreSQL databases are named after this one (test_<name>_gw0, …): one name
# per checkout, so that test runs of two checkouts side by side never share a database.
PG_DB ?= sarafan_$(shell printf '%s' '$(CURDIR)' | cksum | cut -d ' ' -f 1)
PG_URL ?= postgres://postgres@127.0.0.1:5432/$(PG_DB)

.PHONY: install up test lint types migrations-check test-sqlite test-postgres bench lock messages clean

$(BIN)/sarafan: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON_FOR_VENV) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(BIN)/sarafan

install: $(BIN)/sarafan

up: install
	$(BIN)/sarafan up

lint: install
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/lint-imports

types: install
	$(BIN)/mypy src

migrations-check: install
	SARAFAN_DATA_DIR=$$(mktemp -d) $(BIN)/sarafan manage makemigrations --check --dry-run

test-sqlite: install
	env -u DATABASE_URL $(BIN)/pytest -n 2 $(PYTEST_ARGS)

# On CI the PostgreSQL pass must run: scripts/require-postgres fails loudly when it cannot connect.
test-postgres: install
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} $(BIN)/python scripts/require-postgres
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} $(BIN)/pytest -n 2 $(PYTEST_ARGS)

test: lint types migrations-check test-sqlite test-postgres

bench: install
	$(BIN)/python benchmarks/run.py

# Regenerates requirements.lock from pyproject.toml (needs uv in the venv).
lock: install
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.12 -o requirements.lock

messages: install
	cd src/sarafan && ../../$(BIN)/sarafan manage makemessages -l ru -l en --no-obsolete && ../../$(BIN)/sarafan manage compilemessages

clean:
	rm -rf $(VENV) .venv-bootstrap .mypy_cache .ruff_cache .pytest_cache
