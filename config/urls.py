from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from billing import views as billing_views
from billing.admin_dashboard import finance_dashboard
from core.views import metrics_view

urlpatterns = [
    path("", billing_views.home, name="home"),
    path("admin/dashboard/", admin.site.admin_view(finance_dashboard), name="finance-dashboard"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(("config.api_urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("metrics", metrics_view, name="metrics"),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("", include("traffic.urls")),
    path("", include("billing.urls")),
]

admin.site.index_template = "admin/tally_index.html"
admin.site.site_header = "Tally finance"
admin.site.site_title = "Tally"
