from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect, render

from core.admin_tools import (
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ServiceAdminMixin,
    TabularInline,
    TallyModelAdmin,
    money,
    rate,
    search_attribution_ids,
    stream_csv,
)
from core.errors import ApplicationError
from core.money import format_credits
from core.timeutils import format_rfc3339
from usage.models import (
    CostCenter,
    CostCenterVersion,
    Meter,
    MeterEvent,
    MeterRate,
    MeterRollup,
    UsageEntry,
    WorkspaceClass,
    WorkspaceInstance,
)
from usage.selectors import usage_balance
from usage.services import cost_center_set, credit_note_add


class CostCenterVersionInline(ReadOnlyInline):
    model = CostCenterVersion
    fields = [
        "created_at",
        "reason",
        "changed_by",
        "billing_strategy",
        "spending_limit",
        "team_budget",
        "billing_cycle_start",
        "next_billing_time",
    ]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    verbose_name_plural = "history"


class CostCenterForm(forms.ModelForm):
    class Meta:
        model = CostCenter
        fields = ["spending_limit", "billing_strategy"]


class CreditNoteForm(forms.Form):
    credits = forms.DecimalField(
        max_digits=24, decimal_places=6, help_text="Positive credits lower the balance."
    )
    description = forms.CharField(max_length=500)


@admin.register(CostCenter)
class CostCenterAdmin(TallyModelAdmin, ServiceAdminMixin):
    attribution_field = "attribution_id"
    form = CostCenterForm
    list_display = [
        "payer",
        "billing_strategy",
        "limit",
        "budget",
        "balance",
        "billing_cycle_start",
        "next_billing_time",
    ]
    list_filter = ["billing_strategy"]
    search_fields = ["attribution_id"]
    date_hierarchy = "next_billing_time"
    readonly_fields = [
        "attribution_id",
        "payer",
        "budget",
        "balance",
        "billing_cycle_start",
        "next_billing_time",
        "created_at",
        "updated_at",
    ]
    inlines = [CostCenterVersionInline]
    actions = ["add_credit_note"]

    def has_add_permission(self, request):
        return False  # created lazily by the service on first use

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="spending limit")
    def limit(self, obj):
        return money(obj.spending_limit)

    @admin.display(description="team's budget (set by its owner; the lower limit applies)")
    def budget(self, obj):
        return money(obj.team_budget) if obj.team_budget is not None else "-"

    @admin.display(description="current balance")
    def balance(self, obj):
        return money(usage_balance(attribution_id=obj.attribution_id))

    def save_model(self, request, obj, form, change):
        # Through the service: strategy switches follow the rules and the history is written.
        try:
            updated = cost_center_set(
                attribution_id=obj.attribution_id,
                spending_limit=form.cleaned_data["spending_limit"],
                billing_strategy=form.cleaned_data["billing_strategy"],
                changed_by=f"admin:{request.user.get_username()}",
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            request.tally_refused = True  # no "changed successfully" after a refusal
            return
        obj.refresh_from_db()
        obj.spending_limit = updated.spending_limit

    def response_change(self, request, obj):
        if getattr(request, "tally_refused", False):
            return redirect(request.path)  # the refusal, once, on the unchanged page
        return super().response_change(request, obj)

    @admin.action(description="Add a credit note to the selected cost centers")
    def add_credit_note(self, request, queryset):
        if "apply" in request.POST:
            form = CreditNoteForm(request.POST)
            if form.is_valid():
                for cost_center in queryset:
                    try:
                        credit_note_add(
                            attribution_id=cost_center.attribution_id,
                            credits=form.cleaned_data["credits"],
                            description=form.cleaned_data["description"],
                        )
                    except ApplicationError as exc:
                        self.message_user(request, exc.message, level=messages.ERROR)
                        return None
                self.message_user(
                    request,
                    f"Credit note of {format_credits(form.cleaned_data['credits'])} added to "
                    f"{queryset.count()} cost center(s).",
                )
                return None
        else:
            form = CreditNoteForm()
        return render(
            request,
            "admin/usage/credit_note_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Add a credit note",
                "form": form,
                "queryset": queryset,
                "opts": self.model._meta,
            },
        )


@admin.register(UsageEntry)
class UsageEntryAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "attribution_id"
    readonly_fields = ["payer"]
    list_display = ["effective_time", "payer", "kind", "amount", "draft", "description", "object_id"]
    list_filter = ["kind", "draft"]
    search_fields = ["attribution_id", "object_id"]
    search_help_text = (
        "A team's name or slug, an attribution id (team:<uuid>, exact) or the start of an object id."
    )
    date_hierarchy = "effective_time"
    ordering = ["-effective_time", "-id"]
    actions = ["export_csv"]
    show_full_result_count = False

    @admin.display(description="credits", ordering="credits")
    def amount(self, obj):
        return money(obj.credits)

    def get_search_results(self, request, queryset, search_term):
        # Exact attribution or object-id prefix, both served by indexes: a year of a big
        # ledger stays fast (Django's default would scan with UPPER(...) LIKE '%…%').
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.lower().startswith(("team:", "user:")):
            return queryset.filter(attribution_id=term.lower()), False
        payers = search_attribution_ids(term)  # a team's name or slug, an account's e-mail
        if payers:
            return queryset.filter(attribution_id__in=payers), False
        return queryset.filter(object_id__startswith=term), False

    @admin.action(description="Export selected entries as CSV")
    def export_csv(self, request, queryset):
        rows = (
            [
                str(e.id),
                e.attribution_id,
                e.kind,
                format_credits(e.credits),
                format_rfc3339(e.effective_time),
                e.draft,
                e.description,
                e.object_id or "",
            ]
            for e in queryset.order_by("effective_time", "id").iterator(chunk_size=2000)
        )
        return stream_csv(
            "usage-entries.csv",
            [
                "id",
                "attribution_id",
                "kind",
                "credits",
                "effective_time",
                "draft",
                "description",
                "object_id",
            ],
            rows,
        )

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


@admin.register(WorkspaceClass)
class WorkspaceClassAdmin(TallyModelAdmin):
    list_display = ["slug", "name", "rate_per_minute", "description"]
    search_fields = ["slug", "name"]

    @admin.display(description="credits per minute", ordering="credits_per_minute")
    def rate_per_minute(self, obj):
        return rate(obj.credits_per_minute)


@admin.register(WorkspaceInstance)
class WorkspaceInstanceAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "attribution_id"
    readonly_fields = ["payer"]
    list_display = [
        "instance_id",
        "payer",
        "workspace_class",
        "started_at",
        "stopping_time",
        "stopped_time",
    ]
    list_filter = ["workspace_class"]
    search_fields = ["instance_id", "attribution_id"]
    date_hierarchy = "started_at"

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


class MeterRateInline(TabularInline):
    model = MeterRate
    extra = 1
    fields = ["effective_from", "credits_per_unit"]
    ordering = ["-effective_from"]

    def get_fields(self, request, obj=None):
        # Read-only viewers get the normalized rate (the exact one on hover), not 15 places.
        if not self.has_change_permission(request, obj):
            return ["effective_from", "rate_shown"]
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        return ["rate_shown"] if not self.has_change_permission(request, obj) else []

    @admin.display(description="credits per unit")
    def rate_shown(self, obj):
        return rate(obj.credits_per_unit)


@admin.register(Meter)
class MeterAdmin(TallyModelAdmin):
    list_display = ["slug", "unit", "active", "description"]
    list_filter = ["active"]
    search_fields = ["slug", "description"]
    inlines = [MeterRateInline]

    def has_delete_permission(self, request, obj=None):
        return False  # facts point at meters; deactivate instead


@admin.register(MeterEvent)
class MeterEventAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "attribution_id"
    readonly_fields = ["payer"]
    list_display = ["occurred_at", "payer", "meter", "amount", "key", "instance_id", "received_at"]
    list_filter = ["meter"]
    search_fields = ["attribution_id", "key", "instance_id"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


@admin.register(MeterRollup)
class MeterRollupAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "attribution_id"
    readonly_fields = ["payer"]
    list_display = ["minute", "payer", "meter", "total", "event_count", "rated_total"]
    list_filter = ["meter"]
    search_fields = ["attribution_id"]
    date_hierarchy = "minute"
    show_full_result_count = False

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff
