# gpf-flow developer commands. `make demo` and `make test` are the two set-up commands.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip

.PHONY: demo test lint bench install install-dev clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install: $(BIN)/python
	$(PIP) install -q -e .

install-dev: $(BIN)/python
	$(PIP) install -q -e '.[dev]'

demo: install
	$(BIN)/python -m gpf_flow.demo

test: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

lint: install-dev
	$(BIN)/ruff check gpf_flow tests bench
	$(BIN)/ruff format --check gpf_flow tests bench
	$(BIN)/mypy gpf_flow

bench: install-dev
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-map.png
