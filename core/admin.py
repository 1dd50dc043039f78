import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.utils import timezone
from django.utils.html import format_html
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from core.admin_tools import ReadOnlyAdminMixin, ServiceAdminMixin, TallyModelAdmin, restyle_registered
from core.attribution import normalize_attribution_id
from core.errors import ApplicationError
from core.models import APIKey, JobRun
from core.services import api_key_create, api_key_delete, api_key_revoke

# --- Users, groups and schedules on unfold's base (System in the navigation) ---------------------

User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, TallyModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, TallyModelAdmin):
    pass


restyle_registered("django_celery_beat")


class APIKeyAddForm(forms.ModelForm):
    class Meta:
        model = APIKey
        fields = ["name", "attribution_id"]
        help_texts = {"attribution_id": "team:<uuid> or user:<uuid>"}

    def clean_attribution_id(self):
        try:
            return normalize_attribution_id(self.cleaned_data["attribution_id"])
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc


@admin.register(APIKey)
class APIKeyAdmin(TallyModelAdmin, ServiceAdminMixin):
    attribution_field = "attribution_id"
    list_display = ["name", "payer", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "attribution_id", "prefix"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = APIKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ["name", "attribution_id", "payer", *self.readonly_fields]
        return []

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        created, raw_key = api_key_create(
            name=form.cleaned_data["name"],
            attribution_id=form.cleaned_data["attribution_id"],
            created_by=request.user,
        )
        obj.pk = created.pk
        obj.refresh_from_db()
        messages.warning(request, f"New API key (shown once, copy it now): {raw_key}")

    def delete_model(self, request, obj):
        api_key_delete(api_key=obj)

    def delete_queryset(self, request, queryset):
        for api_key in queryset:
            api_key_delete(api_key=api_key)

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        # One by one through the service, so each revocation is locked and audited.
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            try:
                api_key_revoke(api_key=api_key)
            except ApplicationError as exc:  # revoked meanwhile
                self.message_user(request, f"{api_key}: {exc.message}", level=messages.WARNING)
                continue
            count += 1
        self.message_user(request, f"Revoked {count} API key(s).")


OUTCOME_COLORS = {
    JobRun.Outcome.OK: "success",
    JobRun.Outcome.PARTIAL: "warning",
    JobRun.Outcome.ERROR: "danger",
    JobRun.Outcome.SKIPPED: "info",
    JobRun.Outcome.RUNNING: "primary",
}


def _at(value) -> str:
    """A time with its zone, in the admin's zone (UTC unless TIME_ZONE says otherwise)."""
    if value is None:
        return "-"
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S %Z}"


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    """Every run of every periodic job: what ran, who asked, how it ended and what it did."""

    list_display = ["job", "outcome_badge", "started", "finished", "duration", "triggered_by", "summary"]
    list_filter = ["job", "outcome"]
    search_fields = ["job", "triggered_by", "error"]
    date_hierarchy = "started_at"
    ordering = ["-started_at", "-id"]
    fields = [
        "job",
        "outcome_badge",
        "started",
        "finished",
        "duration",
        "triggered_by",
        "result_text",
        "error",
    ]
    readonly_fields = fields
    show_full_result_count = False

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    @display(description="outcome", ordering="outcome", label=OUTCOME_COLORS)
    def outcome_badge(self, obj):
        return obj.outcome, obj.get_outcome_display()

    @admin.display(description="started", ordering="started_at")
    def started(self, obj):
        return _at(obj.started_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, obj):
        return _at(obj.finished_at) if obj.finished_at else "still running"

    @admin.display(description="duration")
    def duration(self, obj):
        if obj.finished_at is None:
            return "-"
        seconds = (obj.finished_at - obj.started_at).total_seconds()
        if seconds < 1:
            return f"{seconds * 1000:.0f} ms"
        if seconds < 120:
            return f"{seconds:.1f} s"
        return f"{seconds / 60:.1f} min"

    @admin.display(description="result or error")
    def summary(self, obj):
        if obj.error:
            return obj.error if len(obj.error) <= 120 else obj.error[:119] + "…"
        return _result_line(obj.result) or "-"

    @admin.display(description="result")
    def result_text(self, obj):
        if not obj.result:
            return "-"
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(obj.result, indent=2, sort_keys=True)
        )


def _result_line(result) -> str:
    """A job's result dict in one readable line: "closed 3, failed 0"."""
    if not isinstance(result, dict):
        return str(result)
    parts = []
    for key, value in result.items():
        if isinstance(value, list):
            value = len(value)
        elif isinstance(value, dict):
            value = f"{len(value)} item(s)"
        parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts)
