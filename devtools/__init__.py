"""Tools for tests, the demo, benchmarks and fuzzing; never imported by a deployed app.

- `exporter`  a realistic xray-exporter over HTTP (`python -m devtools.exporter`);
- `pgadmin`   creating and migrating scratch PostgreSQL databases (bench, fuzz);
- `management/commands/demo_seed`  the demo data `make demo` loads.

A Django app only for its management command: installed by config/settings/local.py and
test.py, never by production.
"""
