# Fireline: `make run` starts everything on the embedded default; `make test` runs the suite as CI does.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PORT ?= 8000

.PHONY: run serve test test-pg bench lint check-deploy clean synapse

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -qq -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -qq -e '.[test]'
	touch $@

run: $(VENV)/.installed
	bin/run

# The production shape from the environment (DATABASE_URL, REDIS_URL or BROKER_URL, SECRET_KEY): README, "Production".
serve: $(VENV)/.installed
	bin/serve

# axe-core for the accessibility tests (tests/a11y), at the version in its lock file; without npm they skip.
AXE_LOCK := tests/a11y/node_modules/.package-lock.json
$(AXE_LOCK): tests/a11y/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/a11y --no-audit --no-fund --loglevel=error \
	  || echo "npm ci failed: the accessibility tests will skip (or fail where FIRELINE_REQUIRE_BROWSER=1)"; \
	else echo "npm not found: the accessibility tests will skip (or fail where FIRELINE_REQUIRE_BROWSER=1)"; fi

# Synapse for the Matrix end-to-end tests, in a virtualenv of its own (its dependencies are not Fireline's pins).
# Built for `make test` only in CI's PostgreSQL pass (FIRELINE_REQUIRE_SERVICES=1), where those tests must run;
# elsewhere they skip unless `make synapse` was run.
SYNAPSE_VENV := .venv-synapse
SYNAPSE_REQS := tests/chatops/matrix/synapse-requirements.txt
$(SYNAPSE_VENV)/.installed: $(SYNAPSE_REQS)
	$(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/python -m pip install -qq -r $(SYNAPSE_REQS)
	touch $@
synapse: $(SYNAPSE_VENV)/.installed
TEST_NEEDS := $(if $(filter 1,$(FIRELINE_REQUIRE_SERVICES)),$(SYNAPSE_VENV)/.installed)

test: $(VENV)/.installed-test $(AXE_LOCK) $(TEST_NEEDS)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

bench: $(VENV)/.installed-test
	$(BIN)/pytest tests/perf -m perf -s

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check-deploy: $(VENV)/.installed
	DEBUG=false SECRET_KEY=$$($(BIN)/python -c 'import secrets;print(secrets.token_urlsafe(60))') \
	ALLOWED_HOSTS=fireline.example.com $(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) var
