"""Writes of the traffic app: the collect-and-rate run, exporter sources, accounts.

- `collect`  the run over every enabled source, under the job lock;
- `sources`  ExporterSource rows from the environment, encrypted tokens;
- `accounts` accounts created ahead of their traffic, quota periods;
- `store`, `rows`  a page (or a seal) applied in one transaction, with set-based SQL.
"""

from traffic.services.accounts import traffic_account_create, traffic_quota_reset
from traffic.services.collect import CollectFailed, traffic_collect_and_rate, traffic_job_run
from traffic.services.sources import exporter_source_set_token, exporter_sources_sync

__all__ = [
    "CollectFailed",
    "exporter_source_set_token",
    "exporter_sources_sync",
    "traffic_account_create",
    "traffic_collect_and_rate",
    "traffic_job_run",
    "traffic_quota_reset",
]
