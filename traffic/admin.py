"""Admin for traffic: exporter sources (token stored encrypted), accounts, facts and checkpoints.

Imported by usage/admin.py, which registers everything of the usage app.
"""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse

from core.admin_tools import (
    AttributionDirectory,
    Payer,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ServiceAdminMixin,
    TallyModelAdmin,
    money,
    register_attribution_directory,
)
from core.attribution import normalize_attribution_id
from core.errors import ApplicationError
from traffic.config import check_base_url
from traffic.models import (
    ExporterSource,
    TrafficAccount,
    TrafficCounterState,
    TrafficMinute,
    TrafficQuotaState,
    TrafficSourceState,
)
from traffic.selectors import accounts_by_attribution_id, user_attribution_ids_matching
from traffic.services import exporter_source_set_token, traffic_account_create, traffic_quota_reset


def _user_payers(attribution_ids: set[str]) -> dict[str, Payer]:
    """A `user:` payer is named by its account's e-mail (its username on the proxy network)."""
    return {
        attribution_id: Payer(
            account.email or f"account {account.account_uuid}",
            reverse("admin:traffic_trafficaccount_change", args=[account.pk]),
        )
        for attribution_id, account in accounts_by_attribution_id(attribution_ids).items()
        if attribution_id.startswith("user:")
    }


register_attribution_directory(
    AttributionDirectory(kind="user", resolve=_user_payers, search=user_attribution_ids_matching)
)


class ExporterSourceForm(forms.ModelForm):
    base_url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="https://… of the exporter; TLS is always verified."
    )
    token = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Bearer token for this exporter, stored encrypted and never shown again. "
        "Leave empty to keep the current one.",
    )
    clear_token = forms.BooleanField(
        required=False, help_text="Forget the stored token and use INTERNAL_SERVICE_TOKEN."
    )

    class Meta:
        model = ExporterSource
        fields = [
            "source_id",
            "base_url",
            "expected_node_id",
            "expected_env",
            "enabled",
            "timeout_seconds",
            "region",
            "line",
        ]

    def clean_base_url(self):
        from django.core.exceptions import ImproperlyConfigured

        try:
            return check_base_url(self.cleaned_data["base_url"], where="base_url")
        except ImproperlyConfigured as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(ExporterSource)
class ExporterSourceAdmin(TallyModelAdmin, ServiceAdminMixin):
    form = ExporterSourceForm
    list_display = [
        "source_id",
        "base_url",
        "enabled",
        "expected_node_id",
        "expected_env",
        "has_token",
        "managed_by_settings",
    ]
    list_filter = ["enabled", "managed_by_settings"]
    search_fields = ["source_id", "base_url", "expected_node_id"]
    readonly_fields = ["managed_by_settings", "created_at", "updated_at"]

    @admin.display(boolean=True, description="own token")
    def has_token(self, obj):
        return bool(obj.token_encrypted)

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("clear_token"):
            exporter_source_set_token(source=obj, token=None)
        elif form.cleaned_data.get("token"):
            exporter_source_set_token(source=obj, token=form.cleaned_data["token"])
        obj.managed_by_settings = False  # an edit here takes the row over from the environment
        super().save_model(request, obj, form, change)


@admin.register(TrafficSourceState)
class TrafficSourceStateAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    list_display = [
        "source_id",
        "last_completed_until",
        "last_attempted_at",
        "last_succeeded_at",
        "last_error",
        "node_id",
        "env",
    ]
    search_fields = ["source_id"]
    actions = ["forget_identity"]

    @admin.action(description="Forget the learned node id and env (accept what the exporter reports next)")
    def forget_identity(self, request, queryset):
        count = queryset.update(node_id="", env="")
        self.message_user(request, f"Learned identity forgotten for {count} source(s).", messages.SUCCESS)


class TrafficQuotaInline(ReadOnlyInline):
    model = TrafficQuotaState
    fields = [
        "remaining_included_bytes",
        "total_bytes",
        "chargeable_bytes",
        "credits",
        "last_rated_minute",
        "period_started_at",
    ]
    readonly_fields = fields
    verbose_name_plural = "quota state"


class TrafficAccountForm(forms.ModelForm):
    class Meta:
        model = TrafficAccount
        fields = [
            "account_uuid",
            "email",
            "attribution_id",
            "package_name",
            "included_quota_bytes",
            "price_per_byte",
            "region_multiplier",
            "line_multiplier",
            "pricing_rule_version",
        ]

    def clean_attribution_id(self):
        try:
            return normalize_attribution_id(self.cleaned_data["attribution_id"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None


@admin.register(TrafficAccount)
class TrafficAccountAdmin(TallyModelAdmin, ServiceAdminMixin):
    attribution_field = "attribution_id"
    form = TrafficAccountForm
    list_display = ["account_uuid", "email", "payer", "package_name", "remaining", "charged"]
    search_fields = ["account_uuid", "email", "attribution_id"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [TrafficQuotaInline]
    actions = ["reset_quota"]

    def get_readonly_fields(self, request, obj=None):
        # The uuid names the exporter's account: fixed once the row exists.
        return [*self.readonly_fields, "account_uuid", "payer"] if obj else self.readonly_fields

    @admin.display(description="included bytes left")
    def remaining(self, obj):
        quota = TrafficQuotaState.objects.filter(account=obj).first()
        return quota.remaining_included_bytes if quota else "-"

    @admin.display(description="charged credits")
    def charged(self, obj):
        quota = TrafficQuotaState.objects.filter(account=obj).first()
        return money(quota.credits) if quota else "-"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # Through the service: the quota state is created and the account-created hook runs.
        created = traffic_account_create(
            account_uuid=obj.account_uuid,
            attribution_id=obj.attribution_id,
            email=obj.email,
            package_name=obj.package_name,
            included_quota_bytes=obj.included_quota_bytes,
            price_per_byte=obj.price_per_byte,
            region_multiplier=obj.region_multiplier,
            line_multiplier=obj.line_multiplier,
            pricing_rule_version=obj.pricing_rule_version,
        )
        obj.pk = created.pk
        obj._state.adding = False

    @admin.action(description="Start a new quota period (included bytes back to the profile's quota)")
    def reset_quota(self, request, queryset):
        for account in queryset:
            traffic_quota_reset(account=account)
        self.message_user(
            request, f"Included quota reset for {queryset.count()} account(s).", messages.SUCCESS
        )

    def has_delete_permission(self, request, obj=None):
        return False  # facts and usage entries point at the account


@admin.register(TrafficMinute)
class TrafficMinuteAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "attribution_id"
    readonly_fields = ["payer"]
    list_display = [
        "minute",
        "account_uuid",
        "node_id",
        "region",
        "line",
        "total_bytes",
        "chargeable_bytes",
        "amount",
        "payer",
    ]
    list_filter = ["region", "line", "source_id"]
    search_fields = ["account_uuid", "attribution_id", "node_id"]
    date_hierarchy = "minute"
    show_full_result_count = False

    @admin.display(description="credits", ordering="credits")
    def amount(self, obj):
        return money(obj.credits)


@admin.register(TrafficCounterState)
class TrafficCounterStateAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    list_display = [
        "node_id",
        "account_uuid",
        "source_id",
        "last_seen_at",
        "last_uplink_total",
        "last_downlink_total",
        "open_minute",
        "sealed_through",
        "reset_count",
    ]
    list_filter = ["source_id"]
    search_fields = ["account_uuid", "node_id"]
    show_full_result_count = False
