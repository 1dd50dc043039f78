# Tally: `make demo` runs it on the embedded default; `make test` runs the tests on real services.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test sqlite-smoke lint format migrations-check ci bench-server bench-ingest fuzz clean venv

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet -e client
	@touch $(STAMP)

## Run web + Celery worker + beat with demo data (SQLite and a filesystem broker by default).
demo: $(STAMP)
	$(PY) scripts/demo.py

## Run the test suite against real PostgreSQL and Redis (found or started; see scripts/run_tests.py).
test: $(STAMP)
	$(PY) scripts/run_tests.py $(PYTEST_ARGS)

## The demo's embedded default end to end on a throwaway SQLite file (migrate, seed, every job, API, page).
sqlite-smoke: $(STAMP)
	$(PY) scripts/sqlite_smoke.py

## Schemathesis against a real server on a scratch database (FUZZ_MAX_EXAMPLES, default 300).
fuzz: $(STAMP)
	$(PY) scripts/fuzz.py $(FUZZ_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: $(STAMP)
	DJANGO_SETTINGS_MODULE=config.settings.local $(PY) manage.py makemigrations --check --dry-run

## A gunicorn server on PostgreSQL for the benchmarks (foreground); then `make bench-ingest` elsewhere.
bench-server: $(STAMP)
	$(PY) scripts/bench_server.py

bench-ingest: $(STAMP)
	$(PY) bench/ingest.py --database-url $${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tally_bench_ingest}

ci: test sqlite-smoke lint migrations-check

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .hypothesis .schemathesis
