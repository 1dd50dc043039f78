"""Health of the whole service, for `/healthz`: the database, the lock store, every job's last run.

Each check answers `{"status": "ok" | "error", ...}` and never raises; a probe must get an
answer even when what it checks is down.
"""

from django.conf import settings
from django.db import connection

from core.jobs import JOB_NAMES
from core.locks import redis_client
from core.models import JobRun
from core.timeutils import format_rfc3339

FINISHED = (JobRun.Outcome.OK, JobRun.Outcome.PARTIAL, JobRun.Outcome.ERROR)


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def database_check() -> dict:
    """SELECT 1 on the default database."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"status": "error", "vendor": connection.vendor, "message": _failure(exc)}
    return {"status": "ok", "vendor": connection.vendor, "message": ""}


def lock_store_check() -> dict:
    """The job lock store: Redis (also the cache) answers PING; with the database backend (the
    embedded default) the database check covers it and this one says which backend it is."""
    backend = settings.TALLY_LOCK_BACKEND
    if backend != "redis":
        return {"status": "ok", "backend": backend, "message": ""}
    client = redis_client(settings.REDIS_URL)
    try:
        client.ping()
    except Exception as exc:
        return {"status": "error", "backend": backend, "message": _failure(exc)}
    finally:
        client.close()
    return {"status": "ok", "backend": backend, "message": ""}


def jobs_check() -> dict:
    """The last finished run (ok, partial or error) of every job (core.jobs.JOB_NAMES) that has
    run; an `error` there is an error here. One indexed lookup per job, however long the history
    (a probe calls this every few seconds: no DISTINCT over every run ever recorded)."""
    try:
        runs = []
        for name in sorted(JOB_NAMES):
            run = JobRun.objects.filter(job=name, outcome__in=FINISHED).order_by("-started_at").first()
            if run is not None:
                runs.append(run)
    except Exception as exc:
        return {"status": "error", "runs": [], "message": _failure(exc)}
    failed = [r.job for r in runs if r.outcome == JobRun.Outcome.ERROR]
    return {
        "status": "error" if failed else "ok",
        "runs": [
            {
                "job": r.job,
                "outcome": r.outcome,
                "started_at": format_rfc3339(r.started_at),
                "finished_at": format_rfc3339(r.finished_at),
                "error": (r.error or "")[:500],
            }
            for r in runs
        ],
        "message": f"last run failed: {', '.join(failed)}" if failed else "",
    }


def service_health() -> dict:
    """Every check by name. The jobs are read only when the database answered."""
    database = database_check()
    checks = {"database": database, "lock_store": lock_store_check()}
    if database["status"] == "ok":
        checks["jobs"] = jobs_check()
    else:
        checks["jobs"] = {"status": "error", "runs": [], "message": "database unreachable"}
    return checks
