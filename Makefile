# The two commands of the README. Both create .venv on first use and reuse it after.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-fast lint install bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,lint,parquet,xls]'
	touch $(STAMP)

install: $(STAMP)

## make demo: install, then benchmark OPERA (and the log-mel baseline) on the built-in demo suite
demo: $(STAMP)
	$(BIN)/acubench run --encoder logmel,opera --tasks demo

## make test: install, lint, then the whole suite; the 20 slowest tests are listed so its cost stays visible
test: lint
	$(BIN)/python -m pytest -q --durations=20

## make test-fast: the suite without the slow tier (full-size models, long runs, subprocesses)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

## make lint: ruff (lint and import order), then the import-layer contract of ARCHITECTURE.md
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python .ci/lint_imports.py

## make bench: the CPU figures of BENCHMARKS.md (JSON into benchmarks/results/)
bench: $(STAMP)
	cd benchmarks && ../$(BIN)/python bench_extract.py --encoder logmel --clips 200 --seconds 8
	cd benchmarks && ../$(BIN)/python bench_extract.py --encoder opera-gt --clips 24 --seconds 8 --bf16
	cd benchmarks && ../$(BIN)/python bench_memory.py --encoder opera-gt --minutes 1 10
	cd benchmarks && ../$(BIN)/python bench_probe.py
	cd benchmarks && ../$(BIN)/python bench_align.py --encoder opera-gt --preset demo
	cd benchmarks && ../$(BIN)/python bench_startup.py

clean:
	rm -rf $(VENV) build *.egg-info
