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

test: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest -q

bench: $(STAMP)
	loadtest/bench

lint: $(STAMP)
	$(BIN)/ruff check shortlinks tracker tests loadtest
	$(BIN)/mypy shortlinks tracker

clean:
	rm -rf $(VENV) data
