"""The finance dashboard, the admin's index page (unfold's DASHBOARD_CALLBACK): where the money
and the trouble are — billable credits per day this cycle, the top teams by name, who is blocked
and why, job health, webhook failures and grants expiring within 7 days.
"""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from djstripe.models import WebhookEventTrigger

from billing.models import DisputeBlock, WebhookOutcome
from billing.selectors import billable_summary, teams_by_attribution_id
from core.admin_tools import credits_short, resolve_payers
from core.jobs import JOB_NAMES
from core.models import JobRun
from core.money import ZERO, format_credits
from credits.models import Grant
from usage.models import CostCenter, UsageEntry

JOBS = list(JOB_NAMES)
TOP = 10
CANDIDATES = 50  # payers by ledger balance, then their exact billable figure
EXPIRING_DAYS = 7
MAX_CHART_DAYS = 62


def dust_threshold() -> Decimal:
    return Decimal(str(getattr(settings, "TALLY_DASHBOARD_DUST_CREDITS", "1.00")))


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _daily_billable(summaries: list[dict], today: date) -> list[tuple[date, Decimal]]:
    """Billable credits per day this cycle, summed over payers.

    Each payer's cycle usage per day comes from one GROUP BY; grants pay the first credits of a
    cycle, so a day is billable for what its usage adds above the part grants covered. A payer's
    days add up to its billable figure exactly (the last day takes the remainder).
    """
    if not summaries:
        return []
    first = max(min(s["cycle_start"] for s in summaries).date(), today - timedelta(days=MAX_CHART_DAYS))
    per_payer: dict[str, dict[date, Decimal]] = {}
    starts = {s["attribution_id"]: s["cycle_start"] for s in summaries}
    rows = (
        UsageEntry.objects.filter(attribution_id__in=list(starts), effective_time__gte=min(starts.values()))
        .annotate(day=TruncDate("effective_time", tzinfo=timezone.get_current_timezone()))
        .values("attribution_id", "day")
        .annotate(credits=Sum("credits"))
    )
    for row in rows:
        per_payer.setdefault(row["attribution_id"], {})[row["day"]] = row["credits"]
    # Entries before a payer's own cycle start belong to its previous cycle: each payer's cycle
    # usage since its own start, all payers in one GROUP BY.
    in_own_cycle = Q()
    for attribution_id, cycle_start in starts.items():
        in_own_cycle |= Q(attribution_id=attribution_id, effective_time__gte=cycle_start)
    cycle_usage_of = dict(
        UsageEntry.objects.filter(in_own_cycle)
        .values("attribution_id")
        .annotate(total=Sum("credits"))
        .values_list("attribution_id", "total")
    )
    totals = dict.fromkeys(_days(first, today), ZERO)
    for summary in summaries:
        usage_by_day = per_payer.get(summary["attribution_id"], {})
        cycle_start = summary["cycle_start"]
        own_days = _days(max(cycle_start.date(), first), today)
        cycle_usage = cycle_usage_of.get(summary["attribution_id"]) or ZERO
        carry = summary["balance"] - cycle_usage  # unbilled credits from before the cycle
        billable_total = max(summary["billable_credits"], ZERO)
        covered = summary["covered_by_grants"]
        cumulative, previous = carry, ZERO
        for index, day in enumerate(own_days):
            cumulative += usage_by_day.get(day, ZERO)
            billable_so_far = min(max(cumulative - covered, ZERO), billable_total)
            if index == len(own_days) - 1:
                billable_so_far = billable_total
            totals[day] += billable_so_far - previous
            previous = billable_so_far
    return sorted(totals.items())


def _chart(labels: list[str], values: list[Decimal], label: str) -> str:
    """Chart.js data; the figures go in as exact decimal literals (never through a float)."""
    data = "[" + ", ".join(format(value, "f") for value in values) + "]"
    skeleton = json.dumps(
        {"labels": labels, "datasets": [{"label": label, "data": "__DATA__", "maxBarThickness": 28}]}
    )
    return skeleton.replace('"__DATA__"', data)


def _chart_options(unit: str) -> str:
    return json.dumps(
        {
            "animation": False,  # the figures at once (and in screenshots), not growing from zero
            "plugins": {"legend": {"display": False}},
            "scales": {
                "x": {"grid": {"display": False}},
                "y": {"beginAtZero": True, "title": {"display": True, "text": unit}},
            },
        }
    )


def dashboard_data(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    today = timezone.localdate(now)
    dust = dust_threshold()

    # Candidates by ledger balance (one GROUP BY), then the exact billable figure for those.
    candidates = (
        UsageEntry.objects.values("attribution_id")
        .annotate(balance=Sum("credits"))
        .filter(balance__gt=0)
        .order_by("-balance")[:CANDIDATES]
    )
    summaries = [billable_summary(attribution_id=row["attribution_id"], now=now) for row in candidates]
    ranked = sorted(summaries, key=lambda s: s["billable_credits"], reverse=True)
    teams = teams_by_attribution_id(s["attribution_id"] for s in ranked)
    payers = resolve_payers(s["attribution_id"] for s in ranked)
    top = [
        {**s, "team": teams.get(s["attribution_id"]), "payer": payers.get(s["attribution_id"])}
        for s in ranked
        if s["billable_credits"] >= dust
    ][:TOP]
    dust_count = sum(1 for s in ranked if ZERO < s["billable_credits"] < dust)

    daily = _daily_billable(summaries, today)
    daily_total = sum((v for _, v in daily), ZERO)
    top_total = sum((s["billable_credits"] for s in top), ZERO)

    blocked = list(CostCenter.objects.filter(blocked_at__isnull=False).order_by("-blocked_at")[:50])
    disputes = list(DisputeBlock.objects.filter(status__in=["open", "lost"]).order_by("-created_at")[:50])
    blocked_payers = resolve_payers(
        [cc.attribution_id for cc in blocked] + [d.attribution_id for d in disputes]
    )

    jobs = []
    for job in JOBS:
        run = JobRun.objects.filter(job=job).order_by("-started_at").first()
        last_ok = JobRun.objects.filter(job=job, outcome="ok").order_by("-started_at").first()
        jobs.append({"job": job, "run": run, "last_ok": last_ok})

    expiring = list(
        Grant.objects.filter(
            voided_at__isnull=True, expires_at__gt=now, expires_at__lte=now + timedelta(days=EXPIRING_DAYS)
        )
        .select_related("ledger", "feature")
        .order_by("expires_at")[:50]
    )
    expiring_payers = resolve_payers(g.ledger.attribution_id for g in expiring)

    return {
        "dust": dust,
        "dust_count": dust_count,
        "top": top,
        "top_total": top_total,
        "daily": [{"day": d, "credits": v, "exact": format_credits(v)} for d, v in daily],
        "daily_total": daily_total,
        "daily_chart": _chart(
            [d.strftime("%b %d") for d, _ in daily], [v for _, v in daily], "billable credits"
        ),
        "top_chart": _chart(
            [(t["payer"].label if t["payer"] else t["attribution_id"]) for t in top],
            [t["billable_credits"] for t in top],
            "billable credits",
        ),
        "chart_options": _chart_options("credits"),
        "blocked": [{"cost_center": cc, "payer": blocked_payers.get(cc.attribution_id)} for cc in blocked],
        "disputes": [{"dispute": d, "payer": blocked_payers.get(d.attribution_id)} for d in disputes],
        "jobs": jobs,
        "webhook_errors": WebhookEventTrigger.objects.exclude(exception="").order_by("-created")[:20],
        "webhook_failures": WebhookOutcome.objects.filter(status="failed").order_by("-created_at")[:20],
        "expiring": [
            {
                "grant": g,
                "payer": expiring_payers.get(g.ledger.attribution_id),
                "amount": credits_short(g.amount),
            }
            for g in expiring
        ],
        "expiring_days": EXPIRING_DAYS,
        "now": now,
    }


def dashboard_callback(request, context: dict) -> dict:
    """unfold's DASHBOARD_CALLBACK: the admin index is the finance dashboard."""
    context.update({"title": "Finance dashboard", **dashboard_data()})
    return context


def finance_dashboard(request):
    """The dashboard's former address: it is the admin's index now."""
    return redirect(reverse("admin:index"))
