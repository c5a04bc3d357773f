# dsql: the two commands that matter are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-quick bench lint install clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,native]'
	touch $(STAMP)

# The protocol modules mypyc compiles (build_native.py), again whenever one changes.
NATIVE := pgwire/_native.json
$(NATIVE): $(STAMP) build_native.py pgwire/messages.py pgwire/connection.py
	$(BIN)/python build_native.py

install: $(STAMP) $(NATIVE)

## Start the embedded server (PostgreSQL on 127.0.0.1:5432, DynamoDB on http://127.0.0.1:8000,
## data in ./data); once ready it prints how to connect. ARGS="--port 6543" passes options.
run: $(STAMP) $(NATIVE)
	$(BIN)/dsql serve $(ARGS)

# Test processes (pytest-xdist workers): one per core of the 2-core machines CI runs on.
# TEST_WORKERS=0 runs every test in one process, in order. Workers take whole modules where a
# module's fixtures are shared, single tests elsewhere, the longest first (tests/support/schedule.py).
TEST_WORKERS ?= 2
DIST = --longest-first

## Install everything and run the whole test suite (slow tests included); the 20 slowest are listed.
test: $(STAMP) $(NATIVE)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(DIST) --durations=20 $(ARGS)

## The quick subset, for use while working.
test-quick: $(STAMP) $(NATIVE)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(DIST) -m 'not slow' $(ARGS)

## Benchmarks, side by side with a local PostgreSQL started for the run.
bench: $(STAMP) $(NATIVE)
	$(BIN)/python -m bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
	$(PYTHON) build_native.py --remove
