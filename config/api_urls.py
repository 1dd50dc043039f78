"""Every /api/v1/ route; each app adds its own views here."""

from django.urls import include, path

from audit import api as audit_api
from billing.api import auto_recharge as billing_auto_recharge
from billing.api import purchases as billing_purchases
from billing.api import self_service as billing_self_service
from billing.api import stripe_billing
from billing.api import teams as billing_teams
from core import api as core_api
from usage.api import ledger as usage_ledger
from usage.api import meters as usage_meters

urlpatterns = [
    path("me", core_api.MeApi.as_view(), name="me"),
    path("teams", billing_teams.TeamListCreateApi.as_view(), name="team-list"),
    path("teams/<str:attribution_id>", billing_teams.TeamDetailApi.as_view(), name="team-detail"),
    # UsageService
    path(
        "workspace-instances/<str:instance_id>",
        usage_ledger.WorkspaceInstanceApi.as_view(),
        name="workspace-instance",
    ),
    path("cost-centers/<str:attribution_id>", usage_ledger.CostCenterApi.as_view(), name="cost-center"),
    path("balance/<str:attribution_id>", usage_ledger.BalanceApi.as_view(), name="balance"),
    path("usage", usage_ledger.UsageListApi.as_view(), name="usage-list"),
    path("credit-notes", usage_ledger.CreditNoteApi.as_view(), name="credit-notes"),
    # Job endpoints: published paths, kept; core.jobs.JOB_ENDPOINTS names the job each runs.
    path("jobs/reconcile-usage", usage_ledger.UsageRateJobApi.as_view(), name="job-usage-rate"),
    path("jobs/reset-usage", billing_teams.CyclesCloseJobApi.as_view(), name="job-close-cycles"),
    path(
        "jobs/reconcile-invoices",
        billing_teams.InvoicesReconcileJobApi.as_view(),
        name="job-reconcile-invoices",
    ),
    # BillingService (Stripe)
    path(
        "billing/<str:attribution_id>/customer", stripe_billing.CustomerApi.as_view(), name="billing-customer"
    ),
    path(
        "billing/<str:attribution_id>/hold-payment-intent",
        stripe_billing.HoldPaymentIntentApi.as_view(),
        name="billing-hold-intent",
    ),
    path(
        "billing/<str:attribution_id>/subscription",
        stripe_billing.SubscriptionApi.as_view(),
        name="billing-subscription",
    ),
    path(
        "billing/<str:attribution_id>/billable", stripe_billing.BillableApi.as_view(), name="billing-billable"
    ),
    path(
        "billing/<str:attribution_id>/price-information",
        stripe_billing.PriceInformationApi.as_view(),
        name="billing-price-information",
    ),
    path(
        "billing/<str:attribution_id>/credit-purchases",
        billing_purchases.CreditPurchaseListCreateApi.as_view(),
        name="billing-credit-purchases",
    ),
    path(
        "billing/<str:attribution_id>/auto-recharge",
        billing_auto_recharge.AutoRechargeApi.as_view(),
        name="billing-auto-recharge",
    ),
    # Self-service: invoice preview and the team's budget
    path(
        "billing/<str:attribution_id>/upcoming",
        billing_self_service.UpcomingInvoiceApi.as_view(),
        name="billing-upcoming",
    ),
    path(
        "billing/<str:attribution_id>/budget",
        billing_self_service.TeamBudgetApi.as_view(),
        name="billing-budget",
    ),
    # Meter events
    path("events", usage_meters.EventIngestApi.as_view(), name="events"),
    path("meters", usage_meters.MeterListApi.as_view(), name="meter-list"),
    path("meters/<slug:slug>/usage", usage_meters.MeterUsageApi.as_view(), name="meter-usage"),
    # Audit trail (staff, internal)
    path("audit-events", audit_api.AuditEventListApi.as_view(), name="audit-event-list"),
    # Credits (OpenMeter-style grants)
    path("", include("credits.api_urls")),
]
