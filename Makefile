# Phresh - `make help` lists the targets. The two that matter: `make run`, `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export PY

.PHONY: sbom audit help run dev test fault lint format migrate db-start db-stop psql inspect seed backup restore bench bench-instructions profile scaleout-bench install install-dev check-compose clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-dev requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

install: $(VENV)/.installed ## Create .venv and install the runtime requirements

install-dev: $(VENV)/.installed-dev ## Create .venv and install the development requirements

run: install ## Set up everything (database, migrations) and serve on http://127.0.0.1:8000
	@url=$$(scripts/dev-db url) && \
	  echo "database: $$url" && \
	  DATABASE_URL=$$url $(VENV)/bin/alembic upgrade head && \
	  DATABASE_URL=$$url HOST=$(HOST) PORT=$(PORT) exec $(VENV)/bin/gunicorn backend.main:app -c gunicorn.conf.py

# Watches only the code and the SQL (inotify through watchfiles: no CPU while idle).
DEV_RELOAD := --reload --reload-dir backend --reload-dir sql --reload-include '*.sql'

dev: install-dev ## Like run, with uvicorn --reload (one process; reloads on backend/*.py and sql/*.sql)
	@url=$$(scripts/dev-db url) && \
	  DATABASE_URL=$$url $(VENV)/bin/alembic upgrade head && \
	  DATABASE_URL=$$url exec $(VENV)/bin/uvicorn backend.main:app $(DEV_RELOAD) --host $(HOST) --port $(PORT)

COVERAGE ?= --cov=backend --cov-branch --cov-report=term:skip-covered --cov-fail-under=90

# Debian packages a target needs: installed when missing if we can (root with apt), else
# one line with the command to run. Services they bring (nginx) are not started: a
# policy-rc.d says no while apt runs.
define need_packages
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $$missing" >&2; \
	    guard=; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1; }; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }; \
	    [ -z "$$guard" ] || rm -f /usr/sbin/policy-rc.d; \
	  else echo "this target needs: apt-get install $$missing" >&2; exit 1; fi; \
	fi
endef

test: install-dev ## Set up everything and run the tests against real PostgreSQL (branch coverage >= 90%), then again through PgBouncer
	$(call need_packages,pgbouncer nginx)
	@before=$$(git status --porcelain 2>/dev/null); \
	scripts/with-test-db $(VENV)/bin/pytest -m 'not fault' $(COVERAGE) $(PYTEST_ARGS) && \
	{ echo "== the same suite, the app connecting through PgBouncer (transaction pooling) =="; \
	  scripts/with-test-db --pgbouncer $(VENV)/bin/pytest -m 'not fault' -q $(PYTEST_ARGS); }; rc=$$?; \
	after=$$(git status --porcelain 2>/dev/null); \
	if [ "$$before" != "$$after" ]; then \
	  echo "make test changed the working tree (tests must write only to temporary folders):" >&2; \
	  diff <(echo "$$before") <(echo "$$after") >&2; exit 1; \
	fi; exit $$rc

FAULT_PACKAGES := iproute2 iptables faketime

fault: install-dev ## Fault-injection suite: PostgreSQL in a network namespace, faults under load (root; ~3 min)
	$(call need_packages,$(FAULT_PACKAGES))
	$(VENV)/bin/pytest -m fault -n 0 -s -q backend/tests/fault $(PYTEST_ARGS)

lint: install-dev ## ruff (format check + lint), mypy --strict, squawk on every migration's SQL
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) scripts/lint_migrations.py

format: install-dev ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: install ## alembic upgrade head (scripts/migrate: in production, a backup first)
	@scripts/migrate

db-start: install ## Start the project-local PostgreSQL (when DATABASE_URL is unset) and print its URL
	@scripts/dev-db url

db-stop: ## Stop the project-local PostgreSQL cluster
	@scripts/dev-db stop

psql: install ## Open psql on the development database
	@scripts/psql

inspect: install ## psql reports (REPORT=tables|indexes|migrations|offers_by_status|top_cleaners|open_jobs|activity|slow_queries|all)
	@scripts/inspect $(REPORT)

seed: install ## Fake data in the development database (SEED_ARGS="--users 100000 --cleanings 1000000")
	@url=$$(scripts/dev-db url) && DATABASE_URL=$$url $(VENV)/bin/alembic upgrade head && DATABASE_URL=$$url scripts/seed $(SEED_ARGS)

backup: install ## pg_dump the development database to backups/ (custom format, timestamped)
	@scripts/backup

restore: install ## Restore FILE=backups/....dump into an empty database (DATABASE_URL=..., else the dev one)
	@scripts/restore $(FILE)

bench: $(VENV)/.installed-bench ## Benchmark vs the reference app -> docs/benchmarks.md (~15 min; BENCH_ARGS=--quick)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk; } || { echo "bench needs wrk: apt-get install wrk" >&2; exit 1; }
	@url=$$(scripts/dev-db url) && $(PY) scripts/bench/run.py --database-url $$url $(BENCH_ARGS)

bench-instructions: $(VENV)/.installed-bench ## CPU instructions per request, Phresh and the ceiling, in-process under callgrind (SCENARIO=offers; ~10 min)
	@command -v valgrind >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq valgrind; } || { echo "bench-instructions needs valgrind: apt-get install valgrind" >&2; exit 1; }
	@url=$$(scripts/dev-db url) && $(PY) scripts/bench/instructions.py --database-url $$url --scenario $(or $(SCENARIO),offers)

profile: $(VENV)/.installed-bench ## Where a worker's time goes under one bench scenario (py-spy --native; SCENARIO=get_cleaning)
	@command -v wrk >/dev/null || { echo "profile needs wrk: apt-get install wrk" >&2; exit 1; }
	@url=$$(scripts/dev-db url) && $(PY) scripts/bench/profile.py --database-url $$url --scenario $(or $(SCENARIO),get_cleaning)

AUDIT_VENV := .venv-audit
$(AUDIT_VENV)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install --quiet -r requirements-audit.txt
	touch $@

sbom: $(AUDIT_VENV)/.installed ## CycloneDX SBOM of the pinned runtime requirements -> sbom/phresh-runtime.cdx.json
	$(AUDIT_VENV)/bin/cyclonedx-py requirements requirements.txt --of JSON -o sbom/phresh-runtime.cdx.json

audit: $(AUDIT_VENV)/.installed ## pip-audit the pinned requirements (fails if a package could not be checked)
	$(AUDIT_VENV)/bin/pip-audit --strict --no-deps --disable-pip -r requirements.txt -r requirements-dev.txt

scaleout-bench: install-dev ## Scale-out lab measured (nginx, N instances, PgBouncer) -> docs/scaleout.md (~6 min)
	$(call need_packages,pgbouncer nginx wrk)
	$(PY) scripts/bench/scaleout.py

check-compose: install-dev ## Validate docker-compose.yml and lint the Dockerfile (no engine needed)
	scripts/check-containers

clean: ## Remove caches (keeps .venv and the local database)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
