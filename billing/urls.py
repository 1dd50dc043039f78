from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("teams/", views.team_list, name="team-list"),
]
