# `make demo` and `make test` do all set-up themselves: a .venv with the package
# and its dev extras, re-installed whenever pyproject.toml changes.
PYTHON ?= $(shell sh tools/find_python.sh)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: demo test test-seeds test-slow bench lint notebooks docs wheel-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench,docs]'
	touch $(STAMP)

# The benchmark's comparison rows need PyMC + nutpie and PyStan: not dependencies of the library.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench,bench-pymc,bench-stan]'
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
	$(BIN)/python benchmarks/learning_curves.py

# The documentation site, notebooks executed (myst-nb cache: only changed ones re-run),
# warnings and broken cross-references as errors. Open docs/_build/html/index.html.
docs: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m sphinx -b html -W --keep-going -n docs docs/_build/html

# Build a wheel, install it into a fresh venv (no checkout on its path) and run the
# example there: what a user of the released package gets.
WHEEL_DIR := build/wheel-check
wheel-check: $(STAMP)
	rm -rf $(WHEEL_DIR)
	$(BIN)/python -m pip wheel -q --no-deps -w $(WHEEL_DIR)/dist .
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/python -m pip install -q $(WHEEL_DIR)/dist/*.whl
	cd $(WHEEL_DIR) && MPLBACKEND=Agg ./venv/bin/python -c "import bayes_scaling, sys; \
	    assert 'site-packages' in bayes_scaling.__file__, bayes_scaling.__file__"
	cd $(WHEEL_DIR) && MPLBACKEND=Agg ./venv/bin/python -m bayes_scaling.demo --out demo_output
	cd $(WHEEL_DIR) && ./venv/bin/bayes-scaling example runs.csv
	cd $(WHEEL_DIR) && MPLBACKEND=Agg ./venv/bin/bayes-scaling report runs.csv --out report.html \
	    --chains 2 --draws 200 --warmup 200
	@echo "wheel-check: the wheel installs and runs the example ($(WHEEL_DIR))"

lint: $(STAMP)
	$(BIN)/ruff check bayes_scaling tests benchmarks

clean:
	rm -rf $(VENV) demo_output .pytest_cache docs/_build docs/generated build
