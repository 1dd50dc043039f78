from celery import shared_task

from core.jobs import TRAFFIC_COLLECT_AND_RATE, USAGE_RATE, run_job
from usage import services


@shared_task(name=USAGE_RATE)
def usage_rate() -> dict:
    """Every minute: price workspace instances and meter rollups into usage entries."""
    return run_job(USAGE_RATE, services.usage_rate).result


@shared_task(name=TRAFFIC_COLLECT_AND_RATE)
def collect_and_rate() -> dict:
    """Every COLLECT_INTERVAL: pull exporter snapshots, write minute facts, rate them."""
    from usage.traffic.services import CollectFailed, traffic_job_run

    try:
        return traffic_job_run(job="collect-and-rate", triggered_by="schedule").result
    except CollectFailed as exc:  # recorded as an error run; /healthz reports it
        return {**exc.result, "status": "error"}
