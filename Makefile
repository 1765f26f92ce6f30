# The two commands of the README. Both create .venv on first use and reuse it after.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,parquet]'
	touch $(STAMP)

install: $(STAMP)

## make demo: install, then benchmark OPERA (and the log-mel baseline) on the built-in demo suite
demo: $(STAMP)
	$(BIN)/acubench run --encoder logmel,opera --tasks demo

## make test: install, then run the test suite
test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
