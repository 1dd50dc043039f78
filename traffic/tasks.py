from celery import shared_task

from traffic.services import CollectFailed, traffic_job_run


# The task keeps the name it was scheduled under (usage 0010 wrote it into the beat schedule).
@shared_task(name="usage.collect_and_rate")
def collect_and_rate() -> dict:
    """Every COLLECT_INTERVAL: pull exporter snapshots, write minute facts, rate them."""
    try:
        return traffic_job_run(job="collect-and-rate", triggered_by="schedule").result
    except CollectFailed as exc:  # recorded as an error run; /healthz reports it
        return {**exc.result, "status": "error"}
