# skweights developer commands. Everything runs inside a local virtual environment (.venv)
# created from the project's own pyproject.toml, so a fresh machine needs only python3.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SRC    := $(wildcard skweights tests benchmarks examples)

.PHONY: demo test lint format docs bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## The main job on the embedded default: train a small zoo on scikit-learn's digits (cached),
## fit LayerStatistics + LightGBM, print R² and Kendall τ on a held-out split, save the plot.
demo: $(STAMP)
	$(VENV)/bin/skweights demo

## Lint + the whole test suite (what CI runs).
test: $(STAMP)
	$(VENV)/bin/ruff check $(SRC)
	$(VENV)/bin/ruff format --check $(SRC)
	$(PY) -m pytest -n 2 --dist loadgroup -q

lint: $(STAMP)
	$(VENV)/bin/ruff check $(SRC)

format: $(STAMP)
	$(VENV)/bin/ruff check --fix $(SRC)
	$(VENV)/bin/ruff format $(SRC)

## HTML documentation in docs/_build/html, warnings as errors. Needs the docs extras
## (pip install -e ".[docs]"); the gallery runs the examples in quick mode (SKWEIGHTS_DOCS_FULL=1
## for full size, SKWEIGHTS_DOCS_PLOT_GALLERY=0 to skip running them).
docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(PY) benchmarks/bench_features.py --quick
	$(PY) benchmarks/bench_zoo.py --quick

clean:
	rm -rf $(VENV) .cache .pytest_cache build *.egg-info
