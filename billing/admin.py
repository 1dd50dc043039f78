from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from billing.models import Membership, Team
from core.models import APIKey
from core.services import api_key_create


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "attribution_id", "created_at"]
    search_fields = ["name", "slug", "uuid"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["uuid", "attribution_id", "api_keys", "created_at", "updated_at"]
    inlines = [MembershipInline]
    actions = ["create_api_key"]

    @admin.display(description="API keys")
    def api_keys(self, obj: Team) -> str:
        keys = APIKey.objects.filter(attribution_id=obj.attribution_id)
        if not keys:
            return "none"
        return format_html_join(
            format_html("<br>"),
            '<a href="{}">{}</a>{}',
            (
                (
                    reverse("admin:core_apikey_change", args=[k.pk]),
                    str(k),
                    " (revoked)" if k.revoked_at else "",
                )
                for k in keys
            ),
        )

    @admin.action(description="Create an API key for each selected team (shown once)")
    def create_api_key(self, request, queryset):
        for team in queryset:
            _, raw_key = api_key_create(
                name=f"{team.slug} key", attribution_id=team.attribution_id, created_by=request.user
            )
            messages.warning(
                request,
                format_html("API key for {} (shown once, copy it now): <code>{}</code>", team.name, raw_key),
            )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["team", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["team__name", "user__username", "user__email"]
    autocomplete_fields = ["team", "user"]
