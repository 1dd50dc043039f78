"""The admin's sidebar, as data for `UNFOLD["SIDEBAR"]` (settings import this: no models here).

An item is a model's changelist; it shows only to someone its admin lets view it, so the
Finance group sees Billing to Stripe and nothing of System it may not open.
"""

from django.urls import reverse_lazy


def can_view(model_label: str):
    def check(request) -> bool:
        from django.apps import apps
        from django.contrib import admin

        model_admin = admin.site._registry.get(apps.get_model(model_label))
        return bool(model_admin and model_admin.has_view_or_change_permission(request))

    return check


def item(title: str, icon: str, model_label: str) -> dict:
    app_label, model_name = model_label.split(".")
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(f"admin:{app_label}_{model_name}_changelist"),
        "permission": can_view(model_label),
    }


def group(title: str, *items: dict, collapsible: bool = False) -> dict:
    return {"title": title, "separator": True, "collapsible": collapsible, "items": list(items)}


TALLY_NAVIGATION = [
    group(
        "Billing",
        {"title": "Finance dashboard", "icon": "monitoring", "link": reverse_lazy("admin:index")},
        item("Teams", "groups", "billing.team"),
        {
            "title": "Usage from unregistered payers",
            "icon": "person_search",
            "link": reverse_lazy("admin:billing_team_unregistered_payers"),
            "permission": can_view("billing.team"),
        },
        item("Memberships", "badge", "billing.membership"),
        item("Cost centers", "account_balance_wallet", "usage.costcenter"),
        item("Disputes (blocks)", "gavel", "billing.disputeblock"),
        item("Webhook outcomes", "webhook", "billing.webhookoutcome"),
        item("Usage reported to Stripe", "upload", "billing.usagereport"),
    ),
    group(
        "Credits",
        item("Ledgers", "menu_book", "credits.ledger"),
        item("Grants", "redeem", "credits.grant"),
        item("Features", "category", "credits.feature"),
        item("Balance snapshots", "photo_camera", "credits.balancesnapshot"),
    ),
    group(
        "Usage",
        item("Usage entries", "receipt_long", "usage.usageentry"),
        item("Meters", "speed", "usage.meter"),
        item("Meter events", "bolt", "usage.meterevent"),
        item("Meter rollups", "stacked_bar_chart", "usage.meterrollup"),
        item("Workspace classes", "dns", "usage.workspaceclass"),
        item("Workspace instances", "computer", "usage.workspaceinstance"),
    ),
    group(
        "Traffic",
        item("Traffic accounts", "person", "traffic.trafficaccount"),
        item("Traffic minutes", "timer", "traffic.trafficminute"),
        item("Exporter sources", "cloud_download", "traffic.exportersource"),
        item("Source checkpoints", "flag", "traffic.trafficsourcestate"),
        item("Counter states", "counter_1", "traffic.trafficcounterstate"),
    ),
    group("Audit", item("Audit events", "history", "audit.auditevent")),
    group(
        "Stripe",
        item("Customers", "contacts", "djstripe.customer"),
        item("Invoices", "request_quote", "djstripe.invoice"),
        item("Subscriptions", "autorenew", "djstripe.subscription"),
        item("Disputes", "report", "djstripe.dispute"),
        item("Webhook events", "notifications", "djstripe.event"),
        item("Webhook deliveries", "outbox", "djstripe.webhookeventtrigger"),
    ),
    group(
        "System",
        item("Job runs", "schedule", "core.jobrun"),
        item("API keys", "key", "core.apikey"),
        item("Periodic tasks", "event_repeat", "django_celery_beat.periodictask"),
        item("Interval schedules", "timelapse", "django_celery_beat.intervalschedule"),
        item("Crontab schedules", "calendar_month", "django_celery_beat.crontabschedule"),
        item("Users", "person", "auth.user"),
        item("Groups", "group", "auth.group"),
        collapsible=True,
    ),
]
