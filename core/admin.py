from django import forms
from django.contrib import admin, messages

from core.admin_tools import ServiceAdminMixin
from core.attribution import normalize_attribution_id
from core.errors import ApplicationError
from core.models import APIKey
from core.services import api_key_create, api_key_delete, api_key_revoke


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
class APIKeyAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ["name", "attribution_id", "prefix", "created_at", "last_used_at", "revoked_at"]
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
            return ["name", "attribution_id", *self.readonly_fields]
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
