"""Every /api/v1/ route; each app adds its own module here."""

from django.urls import path

from billing import api as billing_api
from core import api as core_api

urlpatterns = [
    path("me", core_api.MeApi.as_view(), name="me"),
    path("teams", billing_api.TeamListCreateApi.as_view(), name="team-list"),
    path("teams/<str:attribution_id>", billing_api.TeamDetailApi.as_view(), name="team-detail"),
]
