# Everything the project needs is installed by these targets: a fresh clone runs `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck unit serve worker demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check revline tests bench
	$(BIN)/ruff format --check revline tests bench

typecheck: $(STAMP)
	$(BIN)/mypy revline

unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider

# The whole suite: lint, types, and the tests (on PostgreSQL too when REVLINE_TEST_POSTGRES_URL is set).
test: lint typecheck unit

serve: $(STAMP)
	$(BIN)/revline db upgrade
	$(BIN)/revline serve --host 127.0.0.1 --port 8000

# A simulated company played through Revline's real code path; reports in ./revline-demo/.
demo: $(STAMP)
	$(BIN)/revline demo

worker: $(STAMP)
	$(BIN)/revline worker

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) revline-data revline-demo .pytest_cache .mypy_cache .ruff_cache
