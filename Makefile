# Two commands for a fresh machine with only Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tracker dev

demo: $(STAMP)
	$(BIN)/tracker dev --demo

# The browser tests drive Debian's chromium (Playwright never downloads a browser here).
$(CHROMIUM):
	$(SUDO) apt-get install -y chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }

# The README's curl tour is run as written by tests/dev/test_readme_tour.py.
CURL := /usr/bin/curl
$(CURL):
	$(SUDO) apt-get install -y curl || { $(SUDO) apt-get update && $(SUDO) apt-get install -y curl; }

# Lint first (seconds), then the suite on two workers (CI has two cores); `PYTEST_WORKERS=0` runs it serially.
PYTEST_WORKERS ?= 2

test: lint $(CHROMIUM) $(CURL)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

bench: $(STAMP)
	loadtest/bench

# ruff, mypy, and the import-linter contracts of pyproject.toml (the architecture: docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check shortlinks tracker tests loadtest
	$(BIN)/mypy shortlinks tracker
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) data
