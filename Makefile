# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell command -v python3.11 || command -v python3)
DEMO_DIR ?= .demo
HOST ?= 127.0.0.1
PORT ?= 8000

help:
	@echo "make demo   - set up and serve the demo on http://$(HOST):$(PORT) (SQLite, tasks in-process)"
	@echo "make serve  - web, worker, beat and log sequencer (Procfile) on PostgreSQL and Redis, port $(PORT)"
	@echo "make manage ARGS=\"...\" - a manage.py command with the demo's settings (.demo/env)"
	@echo "make test   - run the whole test suite (PostgreSQL and Redis when they answer)"
	@echo "make test-quick - the suite without the slow marker"
	@echo "make lint   - ruff, mypy and the import layers (lint-imports)"
	@echo "make security - check --deploy with production settings, and bandit"
	@echo "make audit-deps - pip-audit of the installed dependencies (needs a vulnerability service)"
	@echo "make bench  - run the benchmarks under bench/"
	@echo "make vendor - copy the console's pinned JavaScript (package-lock.json) into its static files"
	@echo "make mutation - mutation testing (mutmut) with a score per module (MODULES=...)"
	@echo "make lock   - re-pin the dependencies in $(LOCK) after a change to pyproject.toml"

# Every dependency comes pinned, with its hashes, from the lock; the project itself is
# then installed without resolving anything again.
LOCK := requirements-dev.lock
$(VENV)/.installed: pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# Re-pin every dependency (after a change to pyproject.toml); tests/test_dependencies_locked.py
# fails until the lock matches. Uses pip-tools in a throwaway environment.
lock:
	@tmp=$$(mktemp -d); $(PYTHON) -m venv $$tmp && $$tmp/bin/pip install --quiet pip-tools && \
	CUSTOM_COMPILE_COMMAND="make lock" $$tmp/bin/pip-compile --quiet --extra dev --generate-hashes \
	  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml; \
	status=$$?; rm -rf $$tmp; exit $$status

venv: $(VENV)/.installed

# The demo keeps everything under $(DEMO_DIR): its database, its log key, its witness's
# key, the custodians' share files, credentials.json and custodian-config.json (the
# custodian tool's --config). Delete the folder to start afresh.
# With no Celery worker or beat, four processes run beside the server and stop with it:
# the audit log's sequencer; beat's schedule run in-process (webhook deliveries,
# deadlines, retries: manage.py scheduled_tasks); a webhook receiver on
# 127.0.0.1:$(WEBHOOK_RECEIVER_PORT) that verifies and prints what the demo platform is sent;
# and a witness (escrow.custodian.witness) that checks the log only grows and cosigns it.
# A $(DEMO_DIR)/env from before the demo ran a witness gains the witness's setting.
WEBHOOK_RECEIVER_PORT ?= $(shell echo $$(( $(PORT) + 1 )))
demo: $(VENV)/.installed
	@mkdir -p $(DEMO_DIR)
	@set -a; [ -f $(DEMO_DIR)/env ] || $(PY) manage.py demo_env --dir $(DEMO_DIR) > $(DEMO_DIR)/env; \
	grep -q '^ESCROW_LOG_WITNESS_KEYS=' $(DEMO_DIR)/env || \
	  { echo; $(PY) manage.py demo_env --dir $(DEMO_DIR) --witness-only; } >> $(DEMO_DIR)/env; \
	. $(DEMO_DIR)/env; set +a; \
	unset REDIS_URL; \
	$(PY) manage.py migrate --no-input -v 0 && \
	$(PY) manage.py collectstatic --no-input -v 0 && \
	$(PY) manage.py demo_setup --out $(DEMO_DIR) --base-url http://$(HOST):$(PORT) \
	  --webhook-receiver-url http://127.0.0.1:$(WEBHOOK_RECEIVER_PORT)/webhooks && \
	$(PY) manage.py demo_requests --out $(DEMO_DIR) && \
	{ $(PY) manage.py log_sequencer --loop --interval 1 & sequencer=$$!; \
	  $(PY) manage.py scheduled_tasks --loop --max-interval 5 --skip log-sequence & scheduler=$$!; \
	  $(PY) manage.py webhook_receiver --port $(WEBHOOK_RECEIVER_PORT) \
	    --secret-file $(DEMO_DIR)/webhook-receiver.secret & receiver=$$!; \
	  $(PY) -m escrow.custodian.witness cosign --server http://$(HOST):$(PORT) \
	    --log-key "$$($(PY) -c 'import json,sys; print(json.load(open(sys.argv[1]))["log_key"])' \
	      $(DEMO_DIR)/custodian-config.json)" \
	    --key-file $(DEMO_DIR)/witness.key --state $(DEMO_DIR)/witness.state --every 2 & witness=$$!; \
	  trap 'kill $$sequencer $$scheduler $$receiver $$witness 2>/dev/null; wait $$sequencer $$scheduler $$receiver $$witness' EXIT; \
	  $(PY) manage.py runserver --noreload $(HOST):$(PORT); }

# Any manage.py command against the demo, with the demo's settings loaded from
# $(DEMO_DIR)/env as `make demo` loads them: make manage ARGS="audit_verify".
manage: $(VENV)/.installed
	@test -f $(DEMO_DIR)/env || { echo "no $(DEMO_DIR)/env yet: run make demo first" >&2; exit 2; }
	@set -a; . $(DEMO_DIR)/env; set +a; unset REDIS_URL; $(PY) manage.py $(ARGS)

# The production process set (Procfile: gunicorn, Celery worker and beat, the log
# sequencer) on this machine with honcho, against PostgreSQL and Redis: DATABASE_URL and
# REDIS_URL from the environment, else the local ones. Migrations run first; Ctrl-C
# stops every process. Other settings come from the environment (docs/operations.md),
# never from an .env file (compose's would override it).
SERVE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/escrow
SERVE_REDIS_URL ?= redis://127.0.0.1:6379/0
serve: $(VENV)/.installed
	@set -a; DATABASE_URL=$${DATABASE_URL:-$(SERVE_DATABASE_URL)}; \
	REDIS_URL=$${REDIS_URL:-$(SERVE_REDIS_URL)}; GUNICORN_BIND=$(HOST):$(PORT); \
	ESCROW_PUBLIC_URL=$${ESCROW_PUBLIC_URL:-http://$(HOST):$(PORT)}; \
	PATH="$(abspath $(VENV))/bin:$$PATH"; set +a; \
	python manage.py migrate --no-input && \
	python manage.py collectstatic --no-input -v 0 && \
	exec honcho start --no-colour --env /dev/null -f Procfile

# Uses PostgreSQL and Redis on 127.0.0.1 when DATABASE_URL/REDIS_URL are set or the
# services answer; with CI=true their absence is an error (tests/conftest.py).
# Test tools from Debian: Chromium for the browser tests, Go and x/mod for the test that
# verifies the log with Go's own tlog client. Installed when missing and we may (root).
SYSTEM_TEST_PACKAGES := chromium golang-go golang-golang-x-mod-dev
system-packages:
	@missing=$$(for p in $(SYSTEM_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "not installed: $$missing (their tests are skipped; CI fails them)"; fi; \
	fi

test: $(VENV)/.installed system-packages
	@set -e; \
	if [ -z "$${DATABASE_URL:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
	  export DATABASE_URL=postgres://postgres@127.0.0.1:5432/escrow; fi; \
	if [ -z "$${REDIS_URL:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then \
	  export REDIS_URL=redis://127.0.0.1:6379/15; fi; \
	echo "test database: $${DATABASE_URL:-sqlite (embedded)}; redis: $${REDIS_URL:-none}"; \
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything but the suites marked slow, for a quick local loop.
test-quick:
	$(MAKE) test PYTEST_ARGS="-m 'not slow' $(PYTEST_ARGS)"

# ruff (security rules on), mypy with django-stubs, and the import layers of
# docs/architecture.md (import-linter contracts in pyproject.toml).
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m mypy config escrow accounts legal_requests console
	$(VENV)/bin/lint-imports

# Deploy and supply-chain checks (CI runs them): Django's deploy checks and ours against
# production settings with throwaway secrets, and bandit over our code (nothing above low).
security: $(VENV)/.installed
	@set -e; key=$$($(PY) manage.py log_key_generate ci.escrow.invalid/log | sed -n 's/^ESCROW_LOG_SIGNING_KEY=//p'); \
	ESCROW_ENV=production ALLOWED_HOSTS=escrow.example.org \
	SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	ESCROW_SERVICE_SECRET=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))') \
	ESCROW_TOTP_SEED_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))') \
	ESCROW_LOG_ORIGIN=ci.escrow.invalid/log ESCROW_LOG_SIGNING_KEY="$$key" \
	DATABASE_URL=postgres://escrow@db.invalid/escrow REDIS_URL=redis://cache.invalid:6379/0 \
	$(PY) manage.py check --deploy --fail-level WARNING
	$(VENV)/bin/bandit --quiet --recursive --severity-level medium --exclude '*/migrations/*' \
	  config escrow accounts legal_requests console

# Known vulnerabilities in the locked dependencies (pip-audit). It needs a vulnerability
# service (PyPI's JSON API or OSV); where neither answers it fails rather than pass unchecked.
audit-deps: $(VENV)/.installed
	$(VENV)/bin/pip-audit --strict --skip-editable --progress-spinner off

# Mutation testing (mutmut) of the crypto core and the rule-enforcing services, each module
# against its own fast tests (tests/mutation.py); prints a score per module. Not in CI:
# it takes minutes per module. MODULES="escrow/crypto/threshold.py" for one module.
MODULES ?=
mutation: $(VENV)/.installed
	$(PY) tests/mutation.py $(MODULES) $(MUTATION_ARGS)

# The console's third-party JavaScript, pinned exactly in package.json and
# package-lock.json, copied with its license into console/static/console/vendor/ (served)
# and tests/vendor/ (axe-core, for the browser tests' accessibility checks only), and
# committed: `make demo` and `make test` need no npm. Run after changing a version.
VENDOR := console/static/console/vendor
vendor:
	npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p $(VENDOR)/htmx tests/vendor/axe-core
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/htmx.org/LICENSE $(VENDOR)/htmx/
	node -p '"htmx.org " + require("./node_modules/htmx.org/package.json").version' > $(VENDOR)/htmx/VERSION
	# Chart.js's UMD build bundles @kurkle/color (MIT too): both licenses go with it.
	mkdir -p $(VENDOR)/chartjs
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/LICENSE.md $(VENDOR)/chartjs/
	cp node_modules/@kurkle/color/LICENSE.md $(VENDOR)/chartjs/LICENSE-kurkle-color.md
	node -p '"chart.js " + require("./node_modules/chart.js/package.json").version' > $(VENDOR)/chartjs/VERSION
	cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE \
	  node_modules/axe-core/LICENSE-3RD-PARTY.txt tests/vendor/axe-core/
	node -p '"axe-core " + require("./node_modules/axe-core/package.json").version' > tests/vendor/axe-core/VERSION

bench: $(VENV)/.installed
	$(PY) bench/crypto_bench.py
	$(PY) bench/merkle_bench.py
	@if [ -n "$${DATABASE_URL:-}" ]; then $(PY) bench/log_bench.py; \
	else echo "bench/log_bench.py skipped: it needs DATABASE_URL=postgres://..."; fi
	$(PY) bench/release_bench.py
	$(PY) bench/blind_index_rotation_bench.py

.PHONY: help venv lock system-packages demo manage serve test test-quick lint security audit-deps bench mutation vendor
