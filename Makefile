# The two quick-start commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test lint typecheck unit integration e2e bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Conveyor needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP) $@

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@touch $(STAMP) $(TEST_STAMP) $@

run: $(STAMP)
	$(BIN)/conveyor migrate
	CONVEYOR_DEMO=true $(BIN)/conveyor serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check conveyor tests bench
	$(BIN)/ruff format --check conveyor tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy conveyor

test: lint typecheck
	$(BIN)/pytest -q -n auto --dist loadgroup

unit: $(TEST_STAMP)
	$(BIN)/pytest -q -n auto tests/unit

integration: $(TEST_STAMP)
	$(BIN)/pytest -q -n auto tests/integration

e2e: $(TEST_STAMP)
	$(BIN)/pytest -q -n auto --dist loadgroup tests/e2e

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
