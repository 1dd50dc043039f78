"""The ops endpoints, all in one place (billing-service shape: ping, health of the whole
service and of the collector, status, jobs) and the traffic account reads."""

from django.urls import path

from traffic import api

urlpatterns: list = [
    path("api/ping", api.PingApi.as_view(), name="traffic-ping"),
    path("healthz", api.HealthzApi.as_view(), name="traffic-healthz"),
    path("healthz/collect", api.HealthzCollectApi.as_view(), name="traffic-healthz-collect"),
    path("v1/status", api.StatusApi.as_view(), name="traffic-status"),
    path("v1/jobs/collect-and-rate", api.CollectAndRateJobApi.as_view(), name="traffic-job-collect"),
    path("v1/jobs/reconcile", api.ReconcileJobApi.as_view(), name="traffic-job-reconcile"),
    path("api/account/usage/summary", api.AccountUsageSummaryApi.as_view(), name="traffic-usage-summary"),
    path("api/account/usage/buckets", api.AccountUsageBucketsApi.as_view(), name="traffic-usage-buckets"),
    path(
        "api/account/billing/summary", api.AccountBillingSummaryApi.as_view(), name="traffic-billing-summary"
    ),
]
