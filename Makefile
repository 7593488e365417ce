# barpipe — two-command quickstart: `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba
export PREFECT_HOME ?= $(CURDIR)/.cache/prefect
# Let Python keep its bytecode cache: without it every process (the CLI, each Dask worker)
# recompiles the sources of pandas, distributed, prefect... on import, several seconds each.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo test lint bench clean

install: $(STAMP)

# Reinstall only when the dependency list changes; the project itself is an editable install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/barpipe demo

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# BENCH_QUICK=1 runs smaller sizes (results go to .cache/bench/RESULTS-quick.md).
bench: install
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[dev,bench]'
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .cache build *.egg-info
