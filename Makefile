# One command per chore. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install run test fuzz lint soak bench clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/authz: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/authz ## create .venv and install authz with its development extras

# The local demo's secret key, made once beside its database (`make clean` removes both): `authz demo` seals the
# second factors it enrols with it, and `authz serve` must open them, also after a restart.
DEMO_KEY := .authz-demo-key

$(DEMO_KEY):
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))' > $@

run: export AUTHZ_BASE_URL ?= http://$(HOST):$(PORT)
run: export AUTHZ_SECRET_KEY ?= $(shell cat $(DEMO_KEY) 2>/dev/null)
run: install $(DEMO_KEY) ## set up a SQLite database with demo data and serve on http://$(HOST):$(PORT)
	$(BIN)/authz db upgrade
	$(BIN)/authz demo
	$(BIN)/authz serve --host $(HOST) --port $(PORT)

test: install ## run the test suite (needs the machine's PostgreSQL, Redis and Chromium) and the policy tables
	.ci/ensure-chromium
	$(BIN)/pytest -n 2 --dist worksteal
	$(BIN)/authz policy test

fuzz: install ## schemathesis over /openapi.json of a served instance, per role on a fresh demo world (about 2 min, MFA on)
	$(BIN)/python -m tests.fuzz.run

lint: install ## ruff, mypy (strict on authz/) and the walls between the layers (import-linter, pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

soak: install ## R11 under many random fault schedules, real processes (AUTHZ_SOAK_RUNS, default 20: about 10 min)
	$(BIN)/pytest -m soak -q tests/test_r11_property.py

bench: install ## 1 000 000 grants: check speed, start-up (SQL and Redis snapshot), propagation; writes load/RESULTS.md
	$(BIN)/python load/bench.py

clean: ## remove the virtualenv, the local database and the outbox
	rm -rf $(VENV) authz.db authz.db-wal authz.db-shm outbox $(DEMO_KEY)
