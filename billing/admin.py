from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from djstripe.models import Invoice, Subscription

from billing.models import (
    AutoRecharge,
    CreditPurchase,
    DisputeBlock,
    Membership,
    Recharge,
    Team,
    UsageReport,
    WebhookOutcome,
)
from billing.pages import Money, from_minor_units
from billing.pages import Money as PageMoney
from billing.selectors import (
    billable_credits,
    customer_for_attribution,
    team_attribution_ids_matching,
    teams_by_attribution_id,
)
from billing.services import team_register
from billing.services.disputes import dispute_resolve
from billing.services.recharges import auto_recharge_set
from billing.services.reporting import usage_report_send
from billing.services.stripe_ops import subscription_cancel
from core.admin_tools import (
    AttributionDirectory,
    Payer,
    ReadOnlyAdminMixin,
    ServiceAdminMixin,
    TabularInline,
    TallyModelAdmin,
    money,
    register_attribution_directory,
    restyle_registered,
)
from core.errors import ApplicationError
from core.models import APIKey
from core.services import api_key_create
from usage.admin import CostCenterAdmin
from usage.models import CostCenter
from usage.selectors import unregistered_usage


def _team_payers(attribution_ids: set[str]) -> dict[str, Payer]:
    return {
        attribution_id: Payer(team.name, reverse("admin:billing_team_change", args=[team.pk]))
        for attribution_id, team in teams_by_attribution_id(attribution_ids).items()
    }


# Every admin of ours names `team:` payers by their team, linked, and finds them by name or slug.
register_attribution_directory(
    AttributionDirectory(kind="team", resolve=_team_payers, search=team_attribution_ids_matching)
)
restyle_registered("djstripe")  # dj-stripe's pages on unfold's base, like ours


class MembershipInline(TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class RegisterPayerForm(forms.Form):
    attribution_id = forms.CharField(max_length=64, widget=forms.HiddenInput)
    name = forms.CharField(max_length=200, help_text="The team's name, as finance staff will see it.")


@admin.register(Team)
class TeamAdmin(TallyModelAdmin):
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
            mark_safe("<br>"),
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

    def get_urls(self):
        return [
            path(
                "unregistered-payers/",
                self.admin_site.admin_view(self.unregistered_payers_view),
                name="billing_team_unregistered_payers",
            ),
            *super().get_urls(),
        ]

    def unregistered_payers_view(self, request):
        """Usage from unregistered payers, and the one step that registers a `team:` payer:
        the team with that uuid and the name typed here (`team_register`); it bills from then on."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RegisterPayerForm()
        if request.method == "POST":
            form = RegisterPayerForm(request.POST)
            if form.is_valid():
                try:
                    team, _ = team_register(
                        attribution_id=form.cleaned_data["attribution_id"], name=form.cleaned_data["name"]
                    )
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    cost_center = CostCenter.objects.get(attribution_id=team.attribution_id)
                    self.message_user(
                        request,
                        f"Registered {team.attribution_id} as the team {team.name}: it bills from now"
                        f" on, its cycle started {cost_center.billing_cycle_start:%Y-%m-%d %H:%M} UTC.",
                    )
                    return redirect(reverse("admin:billing_team_change", args=[team.pk]))
        return render(
            request,
            "admin/billing/unregistered_payers.html",
            {
                **self.admin_site.each_context(request),
                "title": "Usage from unregistered payers",
                "opts": self.model._meta,
                "rows": unregistered_usage(),
                "form": form,
            },
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
class MembershipAdmin(TallyModelAdmin):
    list_display = ["team", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["team__name", "user__username", "user__email"]
    autocomplete_fields = ["team", "user"]


# --- Stripe, per cost center ---------------------------------------------------------------------


def _rows(rows, empty="none"):
    rows = list(rows)
    if not rows:
        return empty
    return format_html_join(mark_safe("<br>"), "{}", ((r,) for r in rows))


class BillingCostCenterAdmin(CostCenterAdmin):
    """The usage cost center page, plus what Stripe knows of it and the finance actions."""

    readonly_fields = [
        *CostCenterAdmin.readonly_fields,
        "billable",
        "blocked_at",
        "blocked_reason",
        "stripe_customer",
        "stripe_subscriptions",
        "stripe_invoices",
        "disputes",
        "usage_reports",
        "webhook_outcomes",
    ]
    actions = [*CostCenterAdmin.actions, "rerun_reconciliation", "cancel_subscription"]

    @admin.display(description="billable credits (this cycle)")
    def billable(self, obj):
        return money(billable_credits(attribution_id=obj.attribution_id))

    @admin.display(description="Stripe customer")
    def stripe_customer(self, obj):
        customer = customer_for_attribution(obj.attribution_id)
        if customer is None:
            return "none"
        return format_html(
            "{} ({}, {})", customer.id, customer.email, (customer.metadata or {}).get("preferredCurrency")
        )

    @admin.display(description="subscriptions")
    def stripe_subscriptions(self, obj):
        customer = customer_for_attribution(obj.attribution_id)
        subs = Subscription.objects.filter(customer=customer).order_by("-created") if customer else []
        return _rows(f"{s.id}: {s.status}" for s in subs)

    @admin.display(description="invoices")
    def stripe_invoices(self, obj):
        customer = customer_for_attribution(obj.attribution_id)
        invoices = Invoice.objects.filter(customer=customer).order_by("-created")[:20] if customer else []
        return _rows(f"{i.id}: {i.status} {i.total} {i.currency}" for i in invoices)

    @admin.display(description="disputes")
    def disputes(self, obj):
        return _rows(
            f"{d.dispute_id}: {d.get_status_display()}"
            for d in DisputeBlock.objects.filter(attribution_id=obj.attribution_id)
        )

    @admin.display(description="usage reported to Stripe")
    def usage_reports(self, obj):
        reports = UsageReport.objects.filter(attribution_id=obj.attribution_id)[:10]
        return _rows(f"{r.created_at:%Y-%m-%d %H:%M} quantity {r.quantity}" for r in reports)

    @admin.display(description="webhook deliveries")
    def webhook_outcomes(self, obj):
        outcomes = WebhookOutcome.objects.filter(attribution_id=obj.attribution_id)[:20]
        return _rows(f"{o.created_at:%Y-%m-%d %H:%M} {o.event_type} {o.status}: {o.detail}" for o in outcomes)

    @admin.action(description="Re-run Stripe usage reporting for the selected cost centers")
    def rerun_reconciliation(self, request, queryset):
        for cost_center in queryset:
            try:
                outcome, quantity = usage_report_send(attribution_id=cost_center.attribution_id)
            except ApplicationError as exc:
                self.message_user(request, f"{cost_center}: {exc.message}", level=messages.ERROR)
                continue
            self.message_user(request, f"{cost_center}: {outcome} ({quantity})")

    @admin.action(description="Cancel the Stripe subscription of the selected cost centers")
    def cancel_subscription(self, request, queryset):
        if "confirm" not in request.POST:
            return render(
                request,
                "admin/billing/confirm_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Cancel Stripe subscriptions?",
                    "objects": queryset,
                    "action": "cancel_subscription",
                    "warning": "Their cost centers go back to `other` with their previous limit.",
                    "opts": self.model._meta,
                },
            )
        for cost_center in queryset:
            try:
                cancelled = subscription_cancel(
                    attribution_id=cost_center.attribution_id,
                    changed_by=f"admin:{request.user.get_username()}",
                )
            except ApplicationError as exc:
                self.message_user(request, f"{cost_center}: {exc.message}", level=messages.ERROR)
                continue
            self.message_user(request, f"{cost_center}: cancelled {', '.join(cancelled)}")
        return None


admin.site.unregister(CostCenter)
admin.site.register(CostCenter, BillingCostCenterAdmin)


@admin.register(DisputeBlock)
class DisputeBlockAdmin(TallyModelAdmin):
    attribution_field = "attribution_id"
    list_display = [
        "dispute_id",
        "payer",
        "status",
        "reason",
        "amount_minor",
        "currency",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["dispute_id", "attribution_id", "customer_id"]
    date_hierarchy = "created_at"
    readonly_fields = ["payer", *(f.name for f in DisputeBlock._meta.fields), "blocked_users"]
    actions = ["resolve"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Resolve the selected disputes (lift their blocks)")
    def resolve(self, request, queryset):
        if "confirm" not in request.POST:
            return render(
                request,
                "admin/billing/confirm_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Resolve disputes?",
                    "objects": queryset,
                    "action": "resolve",
                    "warning": "Usage and owners are unblocked unless another dispute still blocks them.",
                    "opts": self.model._meta,
                },
            )
        for block in queryset:
            try:
                dispute_resolve(
                    dispute_id=block.dispute_id, resolved_by=f"admin:{request.user.get_username()}"
                )
            except ApplicationError as exc:
                self.message_user(request, f"{block.dispute_id}: {exc.message}", level=messages.ERROR)
                continue
            self.message_user(request, f"{block.dispute_id}: resolved")
        return None


@admin.register(WebhookOutcome)
class WebhookOutcomeAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "attribution_id"
    readonly_fields = ["payer"]
    list_display = ["created_at", "event_type", "status", "payer", "handler", "event_id", "detail"]
    list_filter = ["status", "event_type"]
    search_fields = ["event_id", "attribution_id", "detail"]
    date_hierarchy = "created_at"

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


@admin.register(UsageReport)
class UsageReportAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "attribution_id"
    readonly_fields = ["payer"]
    list_display = ["created_at", "payer", "quantity", "cycle_start", "customer_id", "identifier"]
    search_fields = ["attribution_id", "customer_id", "identifier"]
    date_hierarchy = "created_at"

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


# --- Credit purchases (docs/billing.md, "Buying credits") -----------------------------------
@admin.register(CreditPurchase)
class CreditPurchaseAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    """What owners bought through Stripe Checkout; written only by the purchase flow."""

    attribution_field = "attribution_id"
    list_display = ["created_at", "payer", "credits_cell", "paid", "status", "paid_at", "refunded_at"]
    list_filter = ["status", "currency"]
    search_fields = ["session_id", "payment_intent_id", "attribution_id"]
    date_hierarchy = "created_at"
    list_select_related = ["grant"]
    readonly_fields = ["payer", "credits_cell", "paid", "refunded"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    @admin.display(description="credits", ordering="credits")
    def credits_cell(self, obj) -> str:
        return money(obj.credits)

    @admin.display(description="amount", ordering="amount_minor")
    def paid(self, obj) -> str:
        amount = PageMoney(amount=from_minor_units(obj.amount_minor, obj.currency), currency=obj.currency)
        return format_html('<span title="{} {}">{}</span>', amount.amount, obj.currency.upper(), amount)

    @admin.display(description="refunded")
    def refunded(self, obj) -> str:
        if not obj.refunded_minor:
            return "-"
        amount = PageMoney(amount=from_minor_units(obj.refunded_minor, obj.currency), currency=obj.currency)
        return format_html(
            "{} ({} credits voided, {} used)",
            amount,
            money(obj.credits_voided or 0),
            money(obj.credits_used_at_refund or 0),
        )


# --- Auto-recharge (billing.services.recharges) ---------------------------------------------
class AutoRechargeForm(forms.ModelForm):
    class Meta:
        model = AutoRecharge
        fields = ["enabled", "threshold", "target"]


@admin.register(AutoRecharge)
class AutoRechargeAdmin(TallyModelAdmin, ServiceAdminMixin):
    """Finance turns a team's auto-recharge on or off and changes its threshold and target;
    the change goes through `auto_recharge_set` (the same checks as the owner's, audited).
    Turning it on again clears the failures and the reason it was turned off."""

    attribution_field = "attribution_id"
    form = AutoRechargeForm
    list_display = [
        "payer",
        "enabled",
        "threshold",
        "target",
        "currency",
        "consecutive_failures",
        "retry_after",
    ]
    list_filter = ["enabled"]
    search_fields = ["attribution_id", "disabled_reason"]
    readonly_fields = [
        "payer",
        "currency",
        "consecutive_failures",
        "retry_after",
        "disabled_reason",
        "last_error",
        "changed_by",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False  # a team owner sets it up (it needs the team's saved card)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            auto_recharge_set(
                attribution_id=obj.attribution_id,
                threshold=form.cleaned_data["threshold"],
                target=form.cleaned_data["target"],
                enabled=form.cleaned_data["enabled"],
                changed_by=f"admin:{request.user.get_username()}",
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            request.tally_refused = True
            return
        obj.refresh_from_db()

    def response_change(self, request, obj):
        if getattr(request, "tally_refused", False):
            return redirect(request.path)
        return super().response_change(request, obj)


@admin.register(Recharge)
class RechargeAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "attribution_id"
    list_display = [
        "created_at",
        "payer",
        "status",
        "credits",
        "amount",
        "payment_intent_id",
        "failure_message",
    ]
    list_filter = ["status"]
    search_fields = ["attribution_id", "payment_intent_id"]
    date_hierarchy = "created_at"
    readonly_fields = ["payer", "amount"]

    @admin.display(description="amount")
    def amount(self, obj):
        return str(Money(amount=from_minor_units(obj.amount_minor, obj.currency), currency=obj.currency))
