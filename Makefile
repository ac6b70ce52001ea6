# Fireline: `make run` starts everything on the embedded default; `make test` runs the suite as CI does.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PORT ?= 8000

.PHONY: run serve test test-pg bench lint check-deploy clean

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

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
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
	rm -rf $(VENV) var
