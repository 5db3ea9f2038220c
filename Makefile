# Driftline — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest audit bench clean vendor-ui

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[all]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[all,dev,static]" -e sdk/python
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
# One pytest-xdist worker per core (at most 4): each creates and drops its own database.
# (Each worker builds the UI's seeded site: --dist loadgroup would share it, but with pytest
# 9.2 it silently stops grouping — pytest-dev/pytest-xdist#1386.)
pytest: $(VENV)/.installed-dev
	$(BIN)/pytest --numprocesses=auto --maxprocesses=4

## audit: known vulnerabilities in the installed dependencies (pip-audit; needs pypi.org)
audit: $(VENV)/.installed-dev
	$(BIN)/python .ci/audit.py

## bench: ingest benchmark (needs DRIFTLINE_TEST_DATABASE_URL or uses the embedded server)
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## vendor-ui: re-fetch the UI's vendored front-end assets from the npm registry (committed;
## Driftline serves them itself, so no page makes a request that leaves the server)
UPLOT := 1.6.32
SWAGGER_UI := 5.35.0
REDOC := 2.5.4
AXE := 4.14.1
vendor-ui:
	rm -rf .vendor-tmp && mkdir .vendor-tmp
	cd .vendor-tmp && npm pack --silent uplot@$(UPLOT) swagger-ui-dist@$(SWAGGER_UI) redoc@$(REDOC) axe-core@$(AXE) >/dev/null
	cd .vendor-tmp && for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done
	V=app/api/ui/static/vendor; rm -rf $$V && mkdir -p $$V/uplot $$V/swagger-ui $$V/redoc tests/ui/vendor && \
	cp .vendor-tmp/uplot-$(UPLOT)/package/dist/uPlot.iife.min.js .vendor-tmp/uplot-$(UPLOT)/package/dist/uPlot.min.css .vendor-tmp/uplot-$(UPLOT)/package/LICENSE $$V/uplot/ && \
	cp .vendor-tmp/swagger-ui-dist-$(SWAGGER_UI)/package/swagger-ui-bundle.js .vendor-tmp/swagger-ui-dist-$(SWAGGER_UI)/package/swagger-ui.css .vendor-tmp/swagger-ui-dist-$(SWAGGER_UI)/package/LICENSE .vendor-tmp/swagger-ui-dist-$(SWAGGER_UI)/package/NOTICE $$V/swagger-ui/ && \
	cp .vendor-tmp/redoc-$(REDOC)/package/bundles/redoc.standalone.js .vendor-tmp/redoc-$(REDOC)/package/LICENSE $$V/redoc/ && \
	cp .vendor-tmp/axe-core-$(AXE)/package/axe.min.js tests/ui/vendor/ && cp .vendor-tmp/axe-core-$(AXE)/package/LICENSE tests/ui/vendor/AXE-LICENSE && \
	sed -i '/sourceMappingURL=/d' $$V/swagger-ui/swagger-ui-bundle.js $$V/swagger-ui/swagger-ui.css && \
	sed -i 's#https://cdn.redoc.ly/redoc/logo-mini.svg#/static/favicon.svg#' $$V/redoc/redoc.standalone.js && \
	printf 'uplot %s\nswagger-ui-dist %s (source-map comments removed)\nredoc %s (its footer logo from cdn.redoc.ly replaced by /static/favicon.svg)\naxe-core %s (tests/ui/vendor)\n' $(UPLOT) $(SWAGGER_UI) $(REDOC) $(AXE) > $$V/VERSIONS
	rm -rf .vendor-tmp
