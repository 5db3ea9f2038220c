# Driftline — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest audit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,static]" -e sdk/python
	touch $@ $(VENV)/.installed

## run: start Driftline on the embedded PostgreSQL (or DRIFTLINE_DATABASE_URL) and print a key
run: $(VENV)/.installed
	$(BIN)/driftline up

## test: lint, type-check and run the whole suite against real PostgreSQL
test: lint typecheck pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# pytest exits 5 when it collected no tests; make treats that as the failure it is.
pytest: $(VENV)/.installed-dev
	$(BIN)/pytest

## audit: known vulnerabilities in the installed dependencies (pip-audit; needs pypi.org)
audit: $(VENV)/.installed-dev
	$(BIN)/python .ci/audit.py

## bench: ingest benchmark (needs DRIFTLINE_TEST_DATABASE_URL or uses the embedded server)
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
