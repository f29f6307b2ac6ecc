# raqib: two commands on a fresh machine — `make demo` and `make test`.
# Each creates .venv and installs everything it needs by itself.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit integration e2e bench clean

# setuptools notes on every editable install of a flat layout (several top-level packages,
# as here by design) that same-named folders may shadow them: not news, so not shown.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/raqib demo

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration tests/e2e

# each script adds its headline figures to BENCH_RESULTS; bench_summary prints issue 15's
# goals from them as one table
bench: export BENCH_RESULTS = $(CURDIR)/build/bench-results.json
bench: $(STAMP)
	mkdir -p build && rm -f $(BENCH_RESULTS)
	$(BIN)/python tests/bench/bench_tagger.py
	$(BIN)/python tests/bench/bench_count.py
	$(BIN)/python tests/bench/bench_pipeline.py
	$(BIN)/python tests/bench/bench_latency.py
	$(BIN)/python tests/bench/bench_redis_memory.py
	$(BIN)/python tests/bench/bench_summary.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
