from celery import shared_task

from core.jobs import run_job
from usage.services.jobs import rate_usage_work


@shared_task(name="usage.rate")
def rate_usage() -> dict:
    """Every minute: reconcile workspace instances and meter rollups into entries."""
    return run_job("usage.rate", rate_usage_work).result


@shared_task(name="usage.collect_and_rate")
def collect_and_rate() -> dict:
    """Every COLLECT_INTERVAL: pull exporter snapshots, write minute facts, rate them."""
    from usage.traffic.services import CollectFailed, traffic_job_run

    try:
        return traffic_job_run(job="collect-and-rate", triggered_by="schedule").result
    except CollectFailed as exc:  # recorded as an error run; /healthz reports it
        return {**exc.result, "status": "error"}
