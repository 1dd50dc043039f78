"""Settings of traffic/ (svc.plus billing-service names, kept as they are): exporter sources,
the defaults of an account's billing profile, the collect interval and the runtime image.

Read from the environment like every setting; checked when Django starts
(`traffic.apps.TrafficConfig.ready` → `traffic.config.validate_settings`) and parsed there.
Imported by base.py, so every mode has them.
"""

import environ

env = environ.Env()

# --- Exporter sources ---------------------------------------------------------------------
# An array of {source_id, base_url, expected_node_id, expected_env, enabled, timeout_seconds}
# (optional: region, line); when empty, EXPORTER_BASE_URL is the one source `default`.
EXPORTER_SOURCES_JSON = env("EXPORTER_SOURCES_JSON", default="")
EXPORTER_BASE_URL = env("EXPORTER_BASE_URL", default="")
# --- Account billing profile defaults and the run (svc.plus billing-service names) --------
# Decimal strings and whole numbers, parsed (never as float) by traffic.config.
INITIAL_BALANCE = env("INITIAL_BALANCE", default="0")
INITIAL_INCLUDED_QUOTA_BYTES = env("INITIAL_INCLUDED_QUOTA_BYTES", default="0")
PRICE_PER_BYTE = env("PRICE_PER_BYTE", default="0.000000001")
DEFAULT_REGION = env("DEFAULT_REGION", default="default")
SOURCE_REVISION = env("SOURCE_REVISION", default="tally-traffic-v1")
COLLECT_INTERVAL = env("COLLECT_INTERVAL", default="60")
IMAGE = env("IMAGE", default="")
