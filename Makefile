# crossbook: the two commands a fresh machine needs are `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint install bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,dev]"
	touch $(STAMP)

install: $(STAMP) #-- create or refresh .venv with the project and its extras

run: $(STAMP) #-- start the exchange on the embedded default configuration
	$(VENV)/bin/crossbook serve

test: $(STAMP) #-- lint and run every test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(STAMP) #-- ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check . || true

bench: $(STAMP) #-- matcher benchmark into bench/results/
	mkdir -p bench/results
	$(VENV)/bin/crossbook bench matcher --json bench/results/matcher.json

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
