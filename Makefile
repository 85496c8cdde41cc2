# crossbook: the two commands a fresh machine needs are `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the compiled builds of the matcher and of the LOBSTER replay (Cython, from the same .py
# files; see setup.py): one record of the sources per group
MATCHER_SRC := $(wildcard matching/order.py matching/book.py matching/engine.py matching/*.pxd)
REPLAY_SRC := $(wildcard clients/replay/lobster.py clients/replay/lobster_bulk.py clients/replay/lobster_replay.py clients/replay/*.pxd)
BUILD_INFO := matching/_build_info.json clients/replay/_build_info.json

.PHONY: run test lint install build bench clean

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,dev]"
	touch $(STAMP)

install: $(STAMP) #-- create or refresh .venv with the project and its extras

# Recompiles when a compiled module's source changed (one run builds both groups; a second
# finds nothing to do). Never fails: without a compiler the modules run as plain Python
# (matching._compiled and clients/replay/_compiled also refuse a stale build at import).
$(BUILD_INFO): $(MATCHER_SRC) $(REPLAY_SRC) setup.py | $(STAMP)
	$(PY) setup.py -q build_ext --inplace || true

build: $(BUILD_INFO) #-- compile the matcher's and the replay's hot modules (Cython) if a source changed

run: $(STAMP) #-- start the exchange on the embedded default configuration
	$(VENV)/bin/crossbook serve

test: $(STAMP) $(BUILD_INFO) #-- lint and run every test (on the compiled build)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(STAMP) #-- ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check . || true

bench: $(STAMP) $(BUILD_INFO) #-- matcher benchmark into bench/results/
	mkdir -p bench/results
	$(VENV)/bin/crossbook bench matcher --json bench/results/matcher.json

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info matching/*.so clients/replay/*.so $(BUILD_INFO)
