# The two quick-start commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test lint typecheck unit integration e2e bench clean cdc-servers chromium

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

# `serve` migrates the store itself, once. `exec`: the server is make's own child, so a
# Ctrl-C it handles (a clean stop, status 0) ends `make run` without a make error.
run: $(STAMP)
	CONVEYOR_DEMO=true exec $(BIN)/conveyor serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check conveyor tests bench
	$(BIN)/ruff format --check conveyor tests bench

typecheck: $(TEST_STAMP)
	$(BIN)/mypy conveyor

# The console's browser tests drive Debian's chromium (never a downloaded browser):
# installed here when missing, with sudo unless already root.
chromium:
	@test -x /usr/bin/chromium || { \
		echo "installing Debian's chromium for the console's browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q chromium || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }; \
	}

test: lint typecheck cdc-servers chromium
	$(BIN)/pytest -q -n auto --dist loadgroup

cdc-servers:  # wal_level=logical and the ROW binlog, set when they are not (needs root)
	.ci/cdc-servers

unit: $(TEST_STAMP)
	$(BIN)/pytest -q -n auto --dist loadgroup tests/unit

integration: $(TEST_STAMP)
	$(BIN)/pytest -q -n auto --dist loadgroup tests/integration

e2e: $(TEST_STAMP) chromium
	$(BIN)/pytest -q -n auto --dist loadgroup tests/e2e

# Conveyor's own bytecode, as an installed (non-editable) package has it: with
# PYTHONDONTWRITEBYTECODE set, every `conveyor run` would compile its modules again.
bench: $(BENCH_STAMP)
	$(BIN)/python -m compileall -q conveyor
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
