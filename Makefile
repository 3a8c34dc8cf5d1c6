# `make demo` and `make test` do all set-up themselves: a .venv with the package
# and its dev extras, re-installed whenever pyproject.toml changes.
PYTHON ?= $(shell sh tools/find_python.sh)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: demo test test-seeds test-slow bench lint notebooks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(STAMP)

# The benchmark's comparison row needs PyMC + nutpie: not a dependency of the library.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench,bench-pymc]'
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/python -m bayes_scaling.demo --out demo_output

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Every sampler-dependent test once per seed (tests/conftest.py, the `seed` fixture).
SEEDS ?= 1,2,3,4,5
test-seeds: $(STAMP)
	BAYES_SCALING_TEST_SEED=$(SEEDS) $(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/bench_fit.py

lint: $(STAMP)
	$(BIN)/ruff check bayes_scaling tests benchmarks

clean:
	rm -rf $(VENV) demo_output .pytest_cache
