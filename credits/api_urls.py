"""The credits API routes (features, ledgers, grants, balance, history, reset, entitlements)."""

from django.urls import path

from credits.api import allowances, balances, entitlements, features, ledgers

urlpatterns = [
    path("features", features.FeatureListCreateApi.as_view(), name="credits-features"),
    path("features/<str:key>", features.FeatureDetailApi.as_view(), name="credits-feature"),
    path("ledgers", ledgers.LedgerCreateApi.as_view(), name="credits-ledgers"),
    path("ledgers/<str:attribution_id>/grants", ledgers.GrantListCreateApi.as_view(), name="credits-grants"),
    path(
        "ledgers/<str:attribution_id>/grants/<str:grant_id>/void",
        ledgers.GrantVoidApi.as_view(),
        name="credits-grant-void",
    ),
    path("ledgers/<str:attribution_id>/balance", balances.LedgerBalanceApi.as_view(), name="credits-balance"),
    path("ledgers/<str:attribution_id>/history", balances.LedgerHistoryApi.as_view(), name="credits-history"),
    path("ledgers/<str:attribution_id>/reset", ledgers.LedgerResetApi.as_view(), name="credits-reset"),
    path(
        "entitlements/<str:attribution_id>/<str:feature_key>",
        entitlements.EntitlementApi.as_view(),
        name="credits-entitlement",
    ),
    # Recurring allowances
    path(
        "credits/<str:attribution_id>/allowances",
        allowances.AllowanceListCreateApi.as_view(),
        name="credits-allowances",
    ),
    path(
        "credits/<str:attribution_id>/allowances/<str:allowance_id>",
        allowances.AllowanceDetailApi.as_view(),
        name="credits-allowance",
    ),
]
