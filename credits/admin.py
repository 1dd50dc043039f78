"""Finance staff's credits admin: ledgers with live grant balances, grants, voids, resets, history.

Every change goes through a service (the same rules, locks and snapshots as the API); the rows
themselves are read-only here.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin_tools import ReadOnlyAdminMixin, ReadOnlyInline, ServiceAdminMixin, TallyModelAdmin
from core.errors import ApplicationError
from core.money import format_credits
from core.pagination import pagination_block
from credits.engine import MAX_PRIORITY
from credits.models import (
    EXPIRATION_UNITS,
    ROLLOVER_TYPES,
    AllowanceIssue,
    AllowanceTemplate,
    BalanceSnapshot,
    Feature,
    Grant,
    Ledger,
    Reset,
)
from credits.selectors import feature_unit, ledger_balance, ledger_history
from credits.services import (
    feature_archive,
    feature_create,
    grant_create,
    grant_void,
    ledger_create,
    ledger_reset,
)
from credits.services.allowances import (
    allowance_template_create,
    allowance_template_deactivate,
    allowance_template_update,
)
from credits.services.features import validate_feature_key, validate_meter_slug
from usage.hooks import ensure_registered_payer


def amount_in_unit(value, unit: str, *, label: str | None = None) -> str:
    """A right-aligned figure that says its unit ("7500.000000 calls"), optionally whose."""
    suffix = f"{unit} ({label})" if label else unit
    return format_html(
        '<span style="display:block;text-align:right;font-variant-numeric:tabular-nums">{} {}</span>',
        format_credits(value),
        suffix,
    )


def _actor(request) -> str:
    return f"admin:{request.user.get_username()}"


# --- Features --------------------------------------------------------------------------------


class FeatureForm(forms.ModelForm):
    class Meta:
        model = Feature
        fields = ["key", "name", "meter_slug", "metadata_filters"]

    def _validated(self, name, validator):
        try:
            return validator(self.cleaned_data.get(name))
        except ApplicationError as exc:
            raise ValidationError(exc.message) from None

    def clean_key(self):
        return self._validated("key", validate_feature_key)

    def clean_meter_slug(self):
        return self._validated("meter_slug", validate_meter_slug)


@admin.register(Feature)
class FeatureAdmin(TallyModelAdmin, ServiceAdminMixin):
    form = FeatureForm
    list_display = ["key", "name", "meter_slug", "archived_at", "created_at"]
    list_filter = [("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["key", "name", "meter_slug"]
    actions = ["archive"]

    def get_readonly_fields(self, request, obj=None):
        return ["key", "meter_slug", "archived_at", "created_at"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # archive instead: grants keep their feature

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = feature_create(
            key=form.cleaned_data["key"],
            name=form.cleaned_data["name"],
            meter_slug=form.cleaned_data["meter_slug"],
            metadata_filters=form.cleaned_data["metadata_filters"],
        )
        obj.pk = created.pk

    @admin.action(description="Archive the selected features")
    def archive(self, request, queryset):
        for feature in queryset:
            feature_archive(key=feature.key)
        self.message_user(request, f"Archived {queryset.count()} feature(s).")


# --- Ledgers ---------------------------------------------------------------------------------


class GrantInline(ReadOnlyInline):
    model = Grant
    fk_name = "ledger"
    fields = [
        "grant_link",
        "feature",
        "granted",
        "remaining",
        "priority",
        "effective_at",
        "expires_at",
        "voided_at",
        "rollover_type",
        "parent",
    ]
    readonly_fields = fields
    ordering = ["-effective_at", "-id"]
    verbose_name_plural = "grants (remaining balance as of now)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ledger", "feature", "parent")

    def _balances(self, ledger: Ledger) -> dict:
        # One engine run per page view, shared by every row of the inline.
        cache = self.__dict__.setdefault("_balance_cache", {})
        if ledger.pk not in cache:
            balance = ledger_balance(attribution_id=ledger.attribution_id, at=timezone.now())
            cache[ledger.pk] = {gb.grant.id: gb for gb in balance.grants}
        return cache[ledger.pk]

    def _unit(self, obj) -> str:
        known = self._balances(obj.ledger).get(obj.pk)
        if known is not None:
            return known.unit
        return feature_unit(meter_slug=obj.feature.meter_slug if obj.feature_id else None)

    @admin.display(description="grant")
    def grant_link(self, obj):
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:credits_grant_change", args=[obj.pk]), obj.pk
        )

    @admin.display(description="amount")
    def granted(self, obj):
        return amount_in_unit(obj.amount, self._unit(obj))

    @admin.display(description="remaining")
    def remaining(self, obj):
        remaining = self._balances(obj.ledger).get(obj.pk)
        if remaining is None:
            return "- (not in this period)"
        return amount_in_unit(remaining.balance, remaining.unit)


class ResetInline(ReadOnlyInline):
    model = Reset
    fields = ["effective_at", "created_at", "created_by"]
    readonly_fields = fields
    ordering = ["-effective_at"]


class LedgerForm(forms.ModelForm):
    class Meta:
        model = Ledger
        fields = ["attribution_id"]

    def clean_attribution_id(self):
        return _registered_payer(self.cleaned_data["attribution_id"])


def _registered_payer(attribution_id: str) -> str:
    """A form field's error (never a 500 or a constraint name) for an id that names nobody."""
    try:
        return ensure_registered_payer(attribution_id)
    except ApplicationError as exc:
        raise ValidationError(exc.message) from None


class ResetForm(forms.Form):
    effective_at = forms.DateTimeField(
        required=False, help_text="UTC, e.g. 2026-12-01 00:00. Empty: now. Not in the future."
    )


@admin.register(Ledger)
class LedgerAdmin(TallyModelAdmin, ServiceAdminMixin):
    attribution_field = "attribution_id"
    form = LedgerForm
    list_display = ["payer", "current_balance", "created_at"]
    search_fields = ["attribution_id"]
    inlines = [GrantInline, ResetInline]
    actions = ["reset"]
    list_per_page = 50

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["attribution_id", "payer", "created_at", "current_state", "links"]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_urls(self):
        return [
            path(
                "<path:object_id>/entries/",
                self.admin_site.admin_view(self.entries_view),
                name="credits_ledger_entries",
            ),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.pk = ledger_create(attribution_id=form.cleaned_data["attribution_id"]).pk

    @admin.display(description="balance now (credits, and each meter feature in its unit)")
    def current_balance(self, obj):
        state = ledger_balance(attribution_id=obj.attribution_id, at=timezone.now())
        lines = [amount_in_unit(state.balance, state.unit)]
        meters = [(key, f) for key, f in state.features.items() if not f.in_credits]
        lines += [amount_in_unit(f.balance, f.unit, label=key) for key, f in meters]
        return format_html_join("", "{}", ((line,) for line in lines))

    @admin.display(description="now")
    def current_state(self, obj):
        # Credits first (the totals), then each feature on a meter in its own unit: never added.
        state = ledger_balance(attribution_id=obj.attribution_id, at=timezone.now())
        rows = [("credits", "credits", state.balance, state.usage, state.overage)]
        meters = [(key, f) for key, f in state.features.items() if not f.in_credits]
        rows += [(key, f.unit, f.balance, f.usage, f.overage) for key, f in meters]
        return format_html_join(
            "",
            "<div>{} ({}): balance <b>{}</b> · usage this period {} · overage {}</div>",
            (
                (key, unit, format_credits(balance), format_credits(usage), format_credits(overage))
                for key, unit, balance, usage, overage in rows
            ),
        )

    @admin.display(description="")
    def links(self, obj):
        return format_html(
            '<a class="button" href="{}">History</a> '
            '<a class="button" href="{}?attribution_id={}">Add a grant</a>',
            reverse("admin:credits_ledger_entries", args=[obj.pk]),
            reverse("admin:credits_grant_add"),
            obj.attribution_id,
        )

    @admin.action(description="Reset the selected ledgers")
    def reset(self, request, queryset):
        form = ResetForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            effective_at = form.cleaned_data["effective_at"]
            for ledger in queryset:
                try:
                    outcome = ledger_reset(
                        attribution_id=ledger.attribution_id,
                        effective_at=effective_at,
                        created_by=_actor(request),
                    )
                except ApplicationError as exc:
                    self.message_user(
                        request, f"{ledger.attribution_id}: {exc.message}", level=messages.ERROR
                    )
                    continue
                self.message_user(
                    request,
                    f"{ledger.attribution_id} reset at {outcome.reset.effective_at:%Y-%m-%d %H:%M} UTC; "
                    f"{len(outcome.rollover_grants)} grant(s) rolled over.",
                )
            return None
        return render(
            request,
            "admin/credits/ledger_reset_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reset credits ledgers",
                "form": form,
                "queryset": queryset,
                "opts": self.model._meta,
            },
        )

    def entries_view(self, request, object_id):
        """The ledger's history (GRANT, VOID, RESET, GRANT_USAGE), paged like the API."""
        ledger = get_object_or_404(Ledger, pk=object_id)
        try:
            page = max(1, int(request.GET.get("page", 1)))
        except ValueError:
            page = 1
        per_page = 100
        history = ledger_history(
            attribution_id=ledger.attribution_id, start=None, end=None, now=timezone.now()
        )
        entries, total = history.page(offset=(page - 1) * per_page, limit=per_page)
        pagination = pagination_block(page=page, per_page=per_page, total=total)
        return render(
            request,
            "admin/credits/ledger_history.html",
            {
                **self.admin_site.each_context(request),
                "title": f"History of {ledger.attribution_id}",
                "ledger": ledger,
                "entries": [
                    {"entry": e, "amount": format_credits(e.amount) if e.amount is not None else ""}
                    for e in entries
                ],
                "pagination": pagination,
                "previous_page": page - 1 if page > 1 else None,
                "next_page": page + 1 if page < pagination["total_pages"] else None,
                "opts": self.model._meta,
            },
        )


# --- Grants ----------------------------------------------------------------------------------


class GrantCreateForm(forms.Form):
    attribution_id = forms.CharField(max_length=64, help_text="team:<uuid> or user:<uuid>")
    feature = forms.ModelChoiceField(
        queryset=Feature.objects.filter(archived_at__isnull=True),
        required=False,
        to_field_name="key",
        help_text="Empty: pays for rated usage credits.",
    )
    amount = forms.DecimalField(max_digits=24, decimal_places=6, min_value=0)
    priority = forms.IntegerField(
        min_value=0, max_value=MAX_PRIORITY, initial=1, help_text="Lower burns first."
    )
    effective_at = forms.DateTimeField(
        required=False, help_text="UTC; empty: now. Not before the last reset."
    )
    expiration_count = forms.IntegerField(required=False, min_value=1)
    expiration_unit = forms.ChoiceField(
        choices=[("", "---"), *((u, u) for u in EXPIRATION_UNITS)], required=False
    )
    rollover_type = forms.ChoiceField(
        choices=[("", "---"), *((t, t) for t in ROLLOVER_TYPES)], required=False
    )
    rollover_max_amount = forms.DecimalField(max_digits=24, decimal_places=6, required=False, min_value=0)
    rollover_min_amount = forms.DecimalField(max_digits=24, decimal_places=6, required=False, min_value=0)
    metadata = forms.JSONField(required=False, initial=dict)

    def clean_attribution_id(self):
        return _registered_payer(self.cleaned_data["attribution_id"])


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "ledger__attribution_id"
    readonly_fields = ["payer"]
    list_display = [
        "id",
        "payer",
        "feature",
        "granted",
        "priority",
        "effective_at",
        "expires_at",
        "voided_at",
        "parent",
    ]
    list_filter = ["feature", ("voided_at", admin.EmptyFieldListFilter), "rollover_type"]
    search_fields = ["ledger__attribution_id"]
    list_select_related = ["ledger", "feature"]
    date_hierarchy = "effective_at"
    ordering = ["-effective_at", "-id"]
    actions = ["void"]

    def has_add_permission(self, request, obj=None):
        return request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    @admin.display(description="amount", ordering="amount")
    def granted(self, obj):
        # A grant in meter units is never shown as credits (a credits grant costs no query).
        meter_slug = obj.feature.meter_slug if obj.feature_id else None
        return amount_in_unit(obj.amount, feature_unit(meter_slug=meter_slug))

    def add_view(self, request, form_url="", extra_context=None):
        """Create a grant through `grant_create` (ledger created on first use, locks, snapshots)."""
        if request.method == "POST":
            form = GrantCreateForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    grant = grant_create(
                        attribution_id=data["attribution_id"],
                        feature_key=data["feature"].key if data["feature"] else None,
                        amount=data["amount"],
                        priority=data["priority"],
                        effective_at=data["effective_at"],
                        expiration_count=data["expiration_count"],
                        expiration_unit=data["expiration_unit"] or None,
                        rollover_type=data["rollover_type"] or None,
                        rollover_max_amount=data["rollover_max_amount"],
                        rollover_min_amount=data["rollover_min_amount"],
                        metadata=data["metadata"] or {},
                    )
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.message_user(
                        request, f"Granted {format_credits(grant.amount)} to {grant.ledger.attribution_id}."
                    )
                    return redirect(reverse("admin:credits_ledger_change", args=[grant.ledger_id]))
        else:
            form = GrantCreateForm(initial={"attribution_id": request.GET.get("attribution_id", "")})
        return render(
            request,
            "admin/credits/grant_create.html",
            {
                **self.admin_site.each_context(request),
                "title": "Grant credits",
                "form": form,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Void the selected grants (from now on)")
    def void(self, request, queryset):
        grants = list(queryset.select_related("ledger", "feature"))
        if request.POST.get("confirm") == "yes":
            voided = 0
            for grant in grants:
                try:
                    grant_void(attribution_id=grant.ledger.attribution_id, grant_id=grant.pk)
                    voided += 1
                except ApplicationError as exc:
                    self.message_user(request, f"Grant {grant.pk}: {exc.message}", level=messages.ERROR)
            if voided:
                self.message_user(request, f"Voided {voided} grant(s).")
            return None
        return render(
            request,
            "admin/credits/grant_void_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": "Void grants?",
                "grants": [{"grant": g, "amount": format_credits(g.amount)} for g in grants],
                "opts": self.model._meta,
            },
        )


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "ledger__attribution_id"
    readonly_fields = ["payer"]
    list_display = ["payer", "at", "reason", "period_start", "created_at"]
    list_filter = ["reason"]
    search_fields = ["ledger__attribution_id"]
    date_hierarchy = "at"
    ordering = ["-at"]
    list_select_related = ["ledger"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


# --- Recurring allowances --------------------------------------------------------------------


class AllowanceIssueInline(ReadOnlyInline):
    model = AllowanceIssue
    fields = ["cycle_start", "grant_link", "created_at"]
    readonly_fields = fields
    ordering = ["-cycle_start"]
    verbose_name_plural = "issued (one grant per cycle)"

    @admin.display(description="grant")
    def grant_link(self, obj):
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:credits_grant_change", args=[obj.grant_id]), obj.grant_id
        )


class AllowanceTemplateForm(forms.ModelForm):
    class Meta:
        model = AllowanceTemplate
        fields = ["attribution_id", "name", "amount", "feature", "priority", "expires_at_cycle_end", "active"]

    def clean_attribution_id(self):
        return _registered_payer(self.cleaned_data["attribution_id"])


@admin.register(AllowanceTemplate)
class AllowanceTemplateAdmin(TallyModelAdmin, ServiceAdminMixin):
    """Created and changed through credits.services.allowances (audited; a new or re-activated
    template is issued at once for the current cycle); never deleted: deactivate it instead."""

    attribution_field = "attribution_id"
    form = AllowanceTemplateForm
    list_display = ["payer", "name", "every_cycle", "feature", "priority", "expires_at_cycle_end", "active"]
    list_filter = ["active", "expires_at_cycle_end"]
    search_fields = ["attribution_id", "name"]
    inlines = [AllowanceIssueInline]

    def get_readonly_fields(self, request, obj=None):
        return ["attribution_id", "payer", "created_by", "created_at"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description="every cycle")
    def every_cycle(self, obj):
        return amount_in_unit(obj.amount, obj.feature.key if obj.feature_id else "credits")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        feature_key = data["feature"].key if data.get("feature") else None
        try:
            if change:
                saved = allowance_template_update(
                    attribution_id=obj.attribution_id,
                    template_id=obj.pk,
                    name=data["name"],
                    amount=data["amount"],
                    feature_key=feature_key,
                    priority=data["priority"],
                    expires_at_cycle_end=data["expires_at_cycle_end"],
                    active=data["active"],
                )
            else:
                saved = allowance_template_create(
                    attribution_id=data["attribution_id"],
                    name=data["name"],
                    amount=data["amount"],
                    feature_key=feature_key,
                    priority=data["priority"],
                    expires_at_cycle_end=data["expires_at_cycle_end"],
                    created_by=_actor(request),
                )
                if not data["active"]:
                    saved = allowance_template_deactivate(
                        attribution_id=saved.attribution_id, template_id=saved.pk
                    )
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            request.tally_refused = True
            return
        obj.pk = saved.pk
        obj.refresh_from_db()

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "tally_refused", False):
            return redirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "tally_refused", False):
            return redirect(request.path)
        return super().response_change(request, obj)

    def save_related(self, request, form, formsets, change):
        pass  # the inline is read-only; the service wrote everything


@admin.register(AllowanceIssue)
class AllowanceIssueAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "template__attribution_id"
    list_display = ["payer", "template", "cycle_start", "grant", "created_at"]
    list_select_related = ["template", "grant"]
    search_fields = ["template__attribution_id", "template__name"]
    date_hierarchy = "cycle_start"
