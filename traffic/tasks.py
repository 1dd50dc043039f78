from celery import shared_task

from core.jobs import TRAFFIC_COLLECT_AND_RATE
from traffic.services import CollectFailed, traffic_job_run


@shared_task(name=TRAFFIC_COLLECT_AND_RATE)
def collect_and_rate() -> dict:
    """Every COLLECT_INTERVAL: pull exporter snapshots, write minute facts, rate them."""
    try:
        return traffic_job_run(job="collect-and-rate", triggered_by="schedule").result
    except CollectFailed as exc:  # recorded as an error run; /healthz reports it
        return {**exc.result, "status": "error"}
