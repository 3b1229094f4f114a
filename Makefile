# Everything the project needs is installed from here into .venv (nothing relies on the machine).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.serve-installed

.PHONY: install serve test test-fast lint bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Serving needs the simulator and the PostgreSQL driver (for --db postgresql://...), nothing of the test tooling.
$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres]'
	touch $(SERVE_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres,testing,test,lint,bench]'
	touch $(STAMP)

install: $(STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/provider-sim serve $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -x -q -m "not slow" $(ARGS)

# ruff's rule set and mypy's settings are in pyproject.toml (each choice with its reason).
LINT_PATHS := simulator

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mypy $(LINT_PATHS)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(ARGS)

# The soak benchmark (bench/README.md#soak): make soak MINUTES=30 [ARGS="--rate 200 --retention '*=3h'"]
MINUTES ?= 30
soak: $(STAMP)
	$(BIN)/python bench/soak.py --minutes $(MINUTES) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache dist build
