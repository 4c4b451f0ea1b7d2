# Fieldvisit: two commands on a fresh Debian machine with python3 and make.
#   make run   — install, migrate an embedded SQLite database under ./var/, load demo data once, serve :8000
#   make test  — install what the tests need and run the whole suite (lint, types, tests)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export FIELDVISIT_DATABASE_URL ?= sqlite:///./var/fieldvisit.db
export FIELDVISIT_PHOTO_DIR ?= ./var/photos

.PHONY: run test install install-dev assets lint typecheck pytest fuzz bench clean

$(BIN)/activate:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed; installing Debian's python3-venv"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	@$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# Packages from the npm registry (package-lock.json), never committed: Swagger UI for /docs, the field app's
# libraries (tus-js-client, idb, Workbox) and axe-core for the browser tests. Debian's nodejs and npm are
# installed when a fresh machine lacks them.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing; installing Debian's nodejs and npm"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The field app's libraries as ES modules in pwa/vendor/ (git-ignored), served by us.
pwa/vendor/.built: node_modules/.installed scripts/build-pwa.mjs
	node scripts/build-pwa.mjs

assets: pwa/vendor/.built

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install assets
	@mkdir -p var
	$(BIN)/fieldvisit migrate
	$(BIN)/fieldvisit demo --if-empty
	@echo ""
	@echo "Fieldvisit: http://127.0.0.1:8000   API docs: http://127.0.0.1:8000/docs"
	@echo "Demo logins (password: $${FIELDVISIT_DEMO_PASSWORD:-fieldvisit-demo}):"
	@echo "  admin, reviewer1, manager1   — 上海分行 (SH01)"
	@echo "  reviewer2, manager2          — 苏州分行 (SZ01)"
	@echo "  risk2 (风险管理部), compliance2 (法律合规部) — 苏州分行 (SZ01)"
	@echo ""
	$(BIN)/fieldvisit serve --host 127.0.0.1 --port 8000

# The field app's JavaScript and CSS are formatted by prettier (npm registry, .prettierrc.json).
lint: install-dev node_modules/.installed
	$(BIN)/ruff check api tests bench migrations
	$(BIN)/ruff format --check api tests bench migrations
	node_modules/.bin/prettier --check "pwa/js/**/*.js" pwa/sw.js pwa/app.css scripts tests/photos/tus_js_client.mjs

typecheck: install-dev
	$(BIN)/mypy api

# The suite runs on the product's clock frozen at an instant where UTC's date and the bank's differ
# (tests/conftest.py); the calendar-sensitive tests then run again where both agree, in another TZ.
pytest: install-dev assets
	$(BIN)/pytest -q
	FIELDVISIT_TEST_NOW=2026-12-01T03:00:00+00:00 TZ=America/Los_Angeles $(BIN)/pytest -q -m calendar -p no:cacheprovider

test: lint typecheck pytest

# Schemathesis against a live server (SQLite; PostgreSQL too with FIELDVISIT_TEST_POSTGRES_URL). .ci/run runs it.
fuzz: install-dev assets
	$(PY) -m tests.fuzz.run

clean:
	rm -rf $(VENV) var node_modules pwa/vendor .pytest_cache .mypy_cache .ruff_cache .hypothesis .schemathesis
