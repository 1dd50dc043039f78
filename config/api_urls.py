"""Every /api/v1/ route; each app adds its own views here."""

from django.urls import include, path

from audit import api as audit_api
from billing import api as billing_api
from billing import api_stripe
from core import api as core_api
from usage import api as usage_api
from usage import api_events

urlpatterns = [
    path("me", core_api.MeApi.as_view(), name="me"),
    path("teams", billing_api.TeamListCreateApi.as_view(), name="team-list"),
    path("teams/<str:attribution_id>", billing_api.TeamDetailApi.as_view(), name="team-detail"),
    # UsageService
    path(
        "workspace-instances/<str:instance_id>",
        usage_api.WorkspaceInstanceApi.as_view(),
        name="workspace-instance",
    ),
    path("cost-centers/<str:attribution_id>", usage_api.CostCenterApi.as_view(), name="cost-center"),
    path("balance/<str:attribution_id>", usage_api.BalanceApi.as_view(), name="balance"),
    path("usage", usage_api.UsageListApi.as_view(), name="usage-list"),
    path("credit-notes", usage_api.CreditNoteApi.as_view(), name="credit-notes"),
    # Job endpoints: published paths, kept; core.jobs.JOB_ENDPOINTS names the job each runs.
    path("jobs/reconcile-usage", usage_api.UsageRateJobApi.as_view(), name="job-usage-rate"),
    path("jobs/reset-usage", billing_api.CyclesCloseJobApi.as_view(), name="job-close-cycles"),
    path(
        "jobs/reconcile-invoices",
        billing_api.InvoicesReconcileJobApi.as_view(),
        name="job-reconcile-invoices",
    ),
    # BillingService (Stripe)
    path("billing/<str:attribution_id>/customer", api_stripe.CustomerApi.as_view(), name="billing-customer"),
    path(
        "billing/<str:attribution_id>/hold-payment-intent",
        api_stripe.HoldPaymentIntentApi.as_view(),
        name="billing-hold-intent",
    ),
    path(
        "billing/<str:attribution_id>/subscription",
        api_stripe.SubscriptionApi.as_view(),
        name="billing-subscription",
    ),
    path("billing/<str:attribution_id>/billable", api_stripe.BillableApi.as_view(), name="billing-billable"),
    path(
        "billing/<str:attribution_id>/price-information",
        api_stripe.PriceInformationApi.as_view(),
        name="billing-price-information",
    ),
    # Meter events
    path("events", api_events.EventIngestApi.as_view(), name="events"),
    path("meters", api_events.MeterListApi.as_view(), name="meter-list"),
    path("meters/<slug:slug>/usage", api_events.MeterUsageApi.as_view(), name="meter-usage"),
    # Audit trail (staff, internal)
    path("audit-events", audit_api.AuditEventListApi.as_view(), name="audit-event-list"),
    # Credits (OpenMeter-style grants)
    path("", include("credits.api_urls")),
]
