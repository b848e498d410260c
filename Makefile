# aied-trends: `make run` runs the main job on the embedded defaults, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test test-events lint bench report clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## fetch the seed journal from its live site into data/warehouse.sqlite
	$(BIN)/aied run --source magtech --journal 1673-677X

demo: $(STAMP)  ## offline: replay recorded responses on 127.0.0.1 through the whole pipeline
	$(BIN)/aied demo

test: $(STAMP)  ## the whole suite (starts a throwaway PostgreSQL unless AIED_TEST_POSTGRES_URL is set)
	$(BIN)/pytest

test-events: $(STAMP)
	$(BIN)/pytest -m events

lint: $(STAMP)
	$(BIN)/ruff check flows sources transforms warehouse expectations bench tests

bench: $(STAMP)
	$(BIN)/python -m bench --records 100000

report: $(STAMP)
	$(BIN)/aied report --out report

clean:
	rm -rf $(VENV) data report .pytest_cache
