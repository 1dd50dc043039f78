from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("teams/", views.team_list, name="team-list"),
    path("teams/<slug:slug>/billing/", views.team_billing, name="team-billing"),
    path("teams/<slug:slug>/billing/usage.csv", views.team_usage_csv, name="team-usage-csv"),
    path("teams/<slug:slug>/billing/customer", views.billing_customer, name="team-billing-customer"),
    path("teams/<slug:slug>/billing/hold", views.billing_hold, name="team-billing-hold"),
    path("teams/<slug:slug>/billing/subscribe", views.billing_subscribe, name="team-billing-subscribe"),
    path("teams/<slug:slug>/billing/cancel", views.billing_cancel, name="team-billing-cancel"),
    path("teams/<slug:slug>/billing/buy-credits", views.billing_buy_credits, name="team-billing-buy-credits"),
    path(
        "teams/<slug:slug>/billing/auto-recharge",
        views.billing_auto_recharge,
        name="team-billing-auto-recharge",
    ),
    path(
        "teams/<slug:slug>/billing/auto-recharge/off",
        views.billing_auto_recharge_off,
        name="team-billing-auto-recharge-off",
    ),
    path("teams/<slug:slug>/billing/budget", views.billing_budget, name="team-billing-budget"),
]
