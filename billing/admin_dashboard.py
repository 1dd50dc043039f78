"""The finance dashboard: where the money and the trouble are, on one admin page."""

from django.contrib import admin
from django.db.models import Sum
from django.shortcuts import render
from djstripe.models import WebhookEventTrigger

from billing.models import DisputeBlock, WebhookOutcome
from billing.selectors import billable_summary
from core.jobs import JOB_NAMES
from core.models import JobRun
from usage.models import CostCenter, UsageEntry

JOBS = list(JOB_NAMES)
TOP = 15


def dashboard_data() -> dict:
    # Candidates by ledger balance (one GROUP BY), then the exact billable figure for those.
    candidates = (
        UsageEntry.objects.values("attribution_id")
        .annotate(balance=Sum("credits"))
        .filter(balance__gt=0)
        .order_by("-balance")[: TOP * 2]
    )
    top = sorted(
        (billable_summary(attribution_id=row["attribution_id"]) for row in candidates),
        key=lambda s: s["billable_credits"],
        reverse=True,
    )[:TOP]
    last_runs = []
    for job in JOBS:
        run = JobRun.objects.filter(job=job).order_by("-started_at").first()
        last_ok = JobRun.objects.filter(job=job, outcome="ok").order_by("-started_at").first()
        last_runs.append({"job": job, "run": run, "last_ok": last_ok})
    return {
        "top": top,
        "blocked": CostCenter.objects.filter(blocked_at__isnull=False).order_by("-blocked_at"),
        "disputes": DisputeBlock.objects.filter(status__in=["open", "lost"]).order_by("-created_at")[:50],
        "jobs": last_runs,
        "webhook_errors": WebhookEventTrigger.objects.exclude(exception="").order_by("-created")[:20],
        "webhook_failures": WebhookOutcome.objects.filter(status="failed").order_by("-created_at")[:20],
    }


def finance_dashboard(request):
    context = {**admin.site.each_context(request), "title": "Finance dashboard", **dashboard_data()}
    return render(request, "admin/billing/dashboard.html", context)
