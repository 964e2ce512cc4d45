# savedesk: two commands do all set-up on a fresh machine.
#   make demo   create the environment, then simulate (if no data), train (if no champion) and run the nightly flow
#   make test   create the environment (and Debian's Chromium for the browser tests), then lint, type-check, check the
#               import contracts and run every test (what CI runs)
#   make check  the fast lane while you work: lint, types, import contracts and the fast unit tests (under a minute)

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
DEMO := data/demo

export OMP_WAIT_POLICY := passive
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export DO_NOT_TRACK := 1

.PHONY: env browser demo test check lint typecheck imports unit docs clean

env: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
ifeq ($(UV),)
	$(PYTHON) -m pip install --quiet uv
	$(PYTHON) -m uv sync --frozen
else
	$(UV) sync --frozen
endif
	touch $@

# The browser tests drive Debian's Chromium through Playwright (`playwright install` cannot download here).
browser:
	@test -x /usr/bin/chromium || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

demo: env
	@test -f $(DEMO)/raw/extract.json || $(BIN)/savedesk simulate --data $(DEMO) --accounts 20000 --months 24 --seed 7
	$(BIN)/savedesk validate --data $(DEMO)
	$(BIN)/savedesk train --data $(DEMO) --unless-champion
	$(BIN)/savedesk nightly --data $(DEMO)
	$(BIN)/savedesk monitor --data $(DEMO)

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: env
	$(BIN)/mypy

# The layers and no-cycle contracts of pyproject.toml's [tool.importlinter]; a wrong-way import fails here, named.
imports: env
	$(BIN)/lint-imports

# Tests not marked slow, on both cores.
unit: env
	$(BIN)/pytest -n 2 -q -m "not slow" tests/unit tests/data

check: lint typecheck imports unit

test: lint typecheck imports browser
	$(BIN)/pytest -n 2 --dist loadfile

docs: env
	$(BIN)/python -m sources.dictionary
	$(BIN)/python -m features.docs

clean:
	rm -rf $(VENV) data/demo .pytest_cache .ruff_cache .mypy_cache
