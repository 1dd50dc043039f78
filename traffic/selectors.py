"""Reads for the ops endpoints and the traffic account endpoints. Reads only: nothing here
writes, and nothing here imports the services (they import these)."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Q

from core.health import service_health
from core.jobs import TRAFFIC_COLLECT_AND_RATE
from core.models import JobRun
from core.money import format_credits
from core.timeutils import format_rfc3339
from traffic import config
from traffic.deltas import MINUTE
from traffic.models import (
    ExporterSource,
    TrafficAccount,
    TrafficMinute,
    TrafficQuotaState,
    TrafficSourceState,
)
from traffic.pricing import Pricing
from usage.models import UsageEntry

JOB_NAME = TRAFFIC_COLLECT_AND_RATE  # the job lock, JobRun and beat task name (core.jobs)
FINISHED = (JobRun.Outcome.OK, JobRun.Outcome.PARTIAL, JobRun.Outcome.ERROR)
LEDGER_ROWS = 20
MAX_BUCKET_RANGE = timedelta(days=31)


def registered_user_attribution_ids(attribution_ids: set[str]) -> list[str]:
    """The payer resolver traffic registers (usage.hooks): a `user:` id is a registered payer
    when a traffic account carries it (Django users carry no uuid, so a `user:` payer is the
    account the proxy network knows). `team:` ids are billing's to answer."""
    users = [a for a in attribution_ids if a.startswith("user:")]
    if not users:
        return []
    return list(
        TrafficAccount.objects.filter(attribution_id__in=users).values_list("attribution_id", flat=True)
    )


def source_status(state: TrafficSourceState) -> dict:
    return {
        "source_id": state.source_id,
        "last_completed_until": format_rfc3339(state.last_completed_until),
        "last_attempted_at": format_rfc3339(state.last_attempted_at),
        "last_succeeded_at": format_rfc3339(state.last_succeeded_at),
        "last_error": state.last_error,
    }


def pricing_of(account: TrafficAccount | dict) -> Pricing:
    get = account.get if isinstance(account, dict) else lambda name: getattr(account, name)
    quota = get("included_quota_bytes")
    price = get("price_per_byte")
    return Pricing(
        included_quota_bytes=config.initial_included_quota_bytes() if quota is None else int(quota),
        price_per_byte=config.price_per_byte() if price is None else price,
        region_multiplier=get("region_multiplier"),
        line_multiplier=get("line_multiplier"),
        rule_version=get("pricing_rule_version") or config.source_revision(),
    )


def last_finished_run() -> JobRun | None:
    return JobRun.objects.filter(job=JOB_NAME, outcome__in=FINISHED).order_by("-started_at").first()


def source_statuses() -> list[dict]:
    """Every configured source's checkpoint and last attempt, success and error."""
    ids = list(ExporterSource.objects.order_by("source_id").values_list("source_id", flat=True))
    states = {s.source_id: s for s in TrafficSourceState.objects.filter(source_id__in=ids)}
    return [source_status(states.get(i) or TrafficSourceState(source_id=i)) for i in ids]


def traffic_status() -> dict:
    """/v1/status: the last finished collect-and-rate run and every source's state."""
    run = last_finished_run()
    body = {
        "job": "",
        "started_at": None,
        "finished_at": None,
        "processed_samples": 0,
        "written_minutes": 0,
        "replayed_minutes": 0,
        "status": "never_run",
        "error": "",
    }
    if run is not None:
        result = run.result or {}
        body.update(
            job=result.get("job") or "collect-and-rate",
            started_at=result.get("started_at") or format_rfc3339(run.started_at),
            finished_at=result.get("finished_at") or format_rfc3339(run.finished_at),
            processed_samples=int(result.get("processed_samples") or 0),
            written_minutes=int(result.get("written_minutes") or 0),
            replayed_minutes=int(result.get("replayed_minutes") or 0),
            status=run.outcome,
            error=result.get("error") or run.error or "",
        )
    body["source_statuses"] = source_statuses()
    return body


def traffic_health() -> tuple[bool, str]:
    """(healthy, message): unhealthy exactly when the last finished run is an error."""
    run = last_finished_run()
    if run is None:
        return True, ""
    message = (run.result or {}).get("error") or run.error or ""
    return run.outcome != JobRun.Outcome.ERROR, message


def healthz() -> tuple[bool, dict]:
    """/healthz: the whole service. `status`/`message` keep their billing-service shape (a
    healthy service answers exactly what /healthz/collect answers); `checks` says what was
    looked at: the database, the lock store and the last finished run of every job. Unhealthy
    when the database or the lock store is unreachable or any job's last run is `error`."""
    checks = service_health()
    collect_healthy, message = traffic_health() if checks["database"]["status"] == "ok" else (True, "")
    problems = [
        f"{name}: {check['message']}"
        for name, check in checks.items()
        if name != "jobs" and check["status"] != "ok"
    ]
    if checks["jobs"]["status"] != "ok" and not checks["jobs"]["runs"]:
        problems.append(f"jobs: {checks['jobs']['message']}")
    problems += [
        f"job {run['job']}: its last run failed"
        for run in checks["jobs"]["runs"]
        if run["outcome"] == JobRun.Outcome.ERROR and run["job"] != JOB_NAME
    ]
    healthy = collect_healthy and all(check["status"] == "ok" for check in checks.values())
    body = {
        "status": "ok" if healthy else "degraded",
        "message": "; ".join(part for part in (message, *problems) if part),
        "checks": checks,
    }
    return healthy, body


def traffic_account_get(*, account_uuid: str) -> TrafficAccount | None:
    return TrafficAccount.objects.filter(account_uuid=account_uuid).select_related("quota_state").first()


def _source_of_truth() -> str:
    return connection.vendor


def billing_profile(account: TrafficAccount) -> dict:
    pricing = pricing_of(account)
    return {
        "package_name": account.package_name,
        "included_quota_bytes": pricing.included_quota_bytes,
        "price_per_byte": f"{pricing.price_per_byte:f}",
        "region_multiplier": str(account.region_multiplier),
        "line_multiplier": str(account.line_multiplier),
        "effective_multiplier": str(pricing.multiplier),
        "pricing_rule_version": pricing.rule_version,
    }


def _quota(account: TrafficAccount) -> TrafficQuotaState | None:
    try:
        return account.quota_state
    except TrafficQuotaState.DoesNotExist:
        return None


def quota_state(account: TrafficAccount) -> dict:
    quota = _quota(account)
    included = pricing_of(account).included_quota_bytes
    remaining = quota.remaining_included_bytes if quota else included
    return {
        "included_quota_bytes": included,
        "remaining_included_quota": remaining,
        "used_included_bytes": max(included - remaining, 0),
        "period_started_at": format_rfc3339(quota.period_started_at) if quota else None,
        "last_rated_minute": format_rfc3339(quota.last_rated_minute) if quota else None,
        "updated_at": format_rfc3339(quota.updated_at) if quota else None,
    }


def traffic_usage_summary(*, account: TrafficAccount, now: datetime) -> dict:
    """Totals of every stored minute (kept in step with the facts, so O(1)), quota use and
    freshness. `sync_delay_seconds` is how far the newest rated minute's end lags now."""
    quota = _quota(account)
    included = pricing_of(account).included_quota_bytes
    remaining = quota.remaining_included_bytes if quota else included
    used = max(included - remaining, 0)
    last = quota.last_rated_minute if quota else None
    percent = (
        (Decimal(used) * 100 / Decimal(included)).quantize(Decimal("0.01")) if included else Decimal("0.00")
    )
    return {
        "account_uuid": str(account.account_uuid),
        "email": account.email,
        "attribution_id": account.attribution_id,
        "total_bytes": quota.total_bytes if quota else 0,
        "uplink_bytes": quota.uplink_bytes if quota else 0,
        "downlink_bytes": quota.downlink_bytes if quota else 0,
        "chargeable_bytes": quota.chargeable_bytes if quota else 0,
        "charged_credits": format_credits(quota.credits if quota else 0),
        "included_quota_bytes": included,
        "remaining_included_quota": remaining,
        "used_bytes": used,
        "usage_percent": f"{percent}",
        "last_bucket_at": format_rfc3339(last),
        "sync_delay_seconds": max(int((now - (last + MINUTE)).total_seconds()), 0) if last else None,
        "billing_profile": billing_profile(account),
        "source_of_truth": _source_of_truth(),
    }


def traffic_usage_buckets(*, account: TrafficAccount, start: datetime, end: datetime) -> dict:
    """Minute buckets with start <= minute <= end (both inclusive), per node, oldest first."""
    rows = (
        TrafficMinute.objects.filter(account_uuid=account.account_uuid, minute__gte=start, minute__lte=end)
        .order_by("minute", "node_id", "region", "line")
        .values(
            "minute",
            "node_id",
            "region",
            "line",
            "uplink_bytes",
            "downlink_bytes",
            "total_bytes",
            "included_bytes",
            "chargeable_bytes",
            "credits",
        )
    )
    buckets = [
        {
            "bucket_start": format_rfc3339(r["minute"]),
            "bucket_end": format_rfc3339(r["minute"] + MINUTE),
            "node_id": r["node_id"],
            "region": r["region"],
            "line": r["line"],
            "uplink_bytes": r["uplink_bytes"],
            "downlink_bytes": r["downlink_bytes"],
            "total_bytes": r["total_bytes"],
            "included_bytes": r["included_bytes"],
            "chargeable_bytes": r["chargeable_bytes"],
            "credits": format_credits(r["credits"]),
        }
        for r in rows.iterator(chunk_size=2000)
    ]
    return {
        "account_uuid": str(account.account_uuid),
        "start": format_rfc3339(start),
        "end": format_rfc3339(end),
        "total_bytes": sum(b["total_bytes"] for b in buckets),
        "buckets": buckets,
        "source_of_truth": _source_of_truth(),
    }


def traffic_ledger(*, account: TrafficAccount, limit: int = LEDGER_ROWS) -> list[UsageEntry]:
    """The account's newest traffic usage entries (its rated minutes)."""
    return list(
        UsageEntry.objects.filter(
            attribution_id=account.attribution_id,
            kind=UsageEntry.Kind.TRAFFIC,
            object_id__startswith=f"traffic:{account.account_uuid}:",
        ).order_by("-effective_time", "-id")[:limit]
    )


def traffic_billing_summary(*, account: TrafficAccount) -> dict:
    ledger = traffic_ledger(account=account)
    quota = _quota(account)
    return {
        "account_uuid": str(account.account_uuid),
        "attribution_id": account.attribution_id,
        "quota_state": {
            **quota_state(account),
            "charged_credits": format_credits(quota.credits if quota else 0),
        },
        "billing_profile": billing_profile(account),
        "ledger": [
            {
                "id": str(e.id),
                "object_id": e.object_id,
                "entry_type": "traffic_charge",
                "bucket_start": format_rfc3339(e.effective_time),
                "bucket_end": format_rfc3339(e.effective_time + MINUTE),
                "node_id": e.metadata.get("node_id", ""),
                "total_bytes": e.metadata.get("total_bytes", 0),
                "rated_bytes": e.metadata.get("chargeable_bytes", 0),
                "credits": format_credits(e.credits),
                "pricing_rule_version": e.metadata.get("pricing_rule_version", ""),
                "description": e.description,
            }
            for e in ledger
        ],
        "source_of_truth": _source_of_truth(),
    }


def accounts_by_attribution_id(attribution_ids) -> dict[str, TrafficAccount]:
    """The traffic accounts billed to these ids, in one query (a `user:` id is an account)."""
    return {
        a.attribution_id: a for a in TrafficAccount.objects.filter(attribution_id__in=list(attribution_ids))
    }


def user_attribution_ids_matching(term: str) -> set[str]:
    """`user:` ids of the accounts whose e-mail or id contains `term` (case-insensitive)."""
    term = term.strip()
    if term.lower().startswith("user:"):
        term = term[5:]
    if not term:
        return set()
    accounts = TrafficAccount.objects.filter(attribution_id__startswith="user:").filter(
        Q(email__icontains=term) | Q(attribution_id__icontains=term)
    )
    return set(accounts.values_list("attribution_id", flat=True)[:500])
