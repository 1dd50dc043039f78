from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from billing.models import Membership, Team
from billing.pages import (
    Money,
    buy_credits_card,
    entry_lines,
    from_minor_units,
    purchase_return_url,
    team_billing_overview,
    team_entries,
)
from billing.selectors import customer_for_attribution, preferred_currency, team_list_for_user
from billing.selectors_recharge import auto_recharge_summary, purchase_terms
from billing.self_service_pages import self_service_context
from billing.services.purchases import credit_purchase_start
from billing.services.recharges import auto_recharge_disable, auto_recharge_set
from billing.services.stripe_ops import (
    customer_create,
    hold_payment_intent_create,
    subscription_cancel,
    subscription_create,
)
from core.admin_tools import stream_csv
from core.errors import ApplicationError
from core.money import format_credits, format_credits_for_people
from core.timeutils import format_rfc3339
from usage.models import UsageEntry
from usage.selectors import cost_center_get_or_default
from usage.services import cost_center_set_team_budget


def home(request):
    if request.user.is_authenticated:
        return redirect("billing:team-list")
    return redirect("login")


@login_required
def team_list(request):
    return render(request, "billing/team_list.html", {"teams": team_list_for_user(user=request.user)})


def not_found(request, message: str = "") -> HttpResponse:
    """Our own 404 page, also with DEBUG on (the demo): a stranger never sees Django's debug page."""
    return render(request, "404.html", {"message": message}, status=404)


def team_page(view):
    """A team page's 404 (another team's, or none) through our template."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return not_found(request, "There is no such team, or you are not a member of it.")

    return wrapper


def _membership(request, slug: str) -> tuple[Team, Membership]:
    """The team and the caller's membership; anyone else gets a 404, never a 403."""
    membership = (
        Membership.objects.select_related("team").filter(team__slug=slug, user=request.user).first()
        if request.user.is_authenticated
        else None
    )
    if membership is None:
        raise Http404("No such team.")
    return membership.team, membership


@login_required
@team_page
def team_billing(request, slug: str):
    team, membership = _membership(request, slug)
    overview = team_billing_overview(team=team)
    is_owner = membership.role == Membership.Role.OWNER
    page = Paginator(team_entries(attribution_id=team.attribution_id), 20).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/team_billing.html",
        {
            "team": team,
            "o": overview,
            "page": page,
            "entries": entry_lines(page),
            "is_owner": is_owner,
            "customer": overview.customer,
            "stripe_configured": bool(settings.STRIPE_PRICE_IDS),
            "currencies": sorted(settings.STRIPE_PRICE_IDS),
            "hold": request.session.pop(f"hold:{team.pk}", None),
            "stripe_public_key": settings.STRIPE_TEST_PUBLIC_KEY,
            "buy": buy_credits_card(team=team, customer=overview.customer, grants=overview.grants),
            "auto_recharge": auto_recharge_context(team)
            if membership.role == Membership.Role.OWNER
            else None,
            **self_service_context(team=team),
        },
    )


@login_required
@team_page
def team_usage_csv(request, slug: str):
    """The current cycle's usage entries as CSV, streamed."""
    team, _ = _membership(request, slug)
    now = timezone.now()
    cost_center = cost_center_get_or_default(attribution_id=team.attribution_id, now=now)
    overview_start = cost_center.billing_cycle_start
    entries = UsageEntry.objects.filter(
        attribution_id=team.attribution_id,
        effective_time__gte=overview_start,
        effective_time__lt=now,
    ).order_by("effective_time", "id")
    rows = (
        [
            format_rfc3339(e.effective_time),
            e.kind,
            format_credits(e.credits),
            e.draft,
            e.description,
            e.object_id or "",
        ]
        for e in entries.iterator(chunk_size=2000)
    )
    return stream_csv(
        f"{team.slug}-usage-{overview_start:%Y-%m-%d}.csv",
        ["effective_time", "kind", "credits", "draft", "description", "object_id"],
        rows,
    )


@team_page
def _owner_action(request, slug: str, action) -> object:
    team, membership = _membership(request, slug)
    if membership.role != Membership.Role.OWNER:
        raise Http404("No such team.")
    try:
        message = action(team)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, message)
    return redirect("billing:team-billing", slug=team.slug)


@login_required
@require_POST
def billing_customer(request, slug: str):
    def create(team):
        customer_create(
            attribution_id=team.attribution_id,
            currency=request.POST.get("currency", ""),
            email=request.POST.get("email", ""),
            name=request.POST.get("name", ""),
            created_by_user_id=str(request.user.pk),
        )
        return "Stripe customer created. Next: add a card."

    return _owner_action(request, slug, create)


@login_required
@require_POST
def billing_hold(request, slug: str):
    def hold(team):
        intent = hold_payment_intent_create(attribution_id=team.attribution_id)
        request.session[f"hold:{team.pk}"] = {"id": intent.id, "client_secret": intent.client_secret}
        return "A 1.00 card hold is ready: confirm your card below, then subscribe."

    return _owner_action(request, slug, hold)


@login_required
@require_POST
def billing_subscribe(request, slug: str):
    def subscribe(team):
        subscription_create(
            attribution_id=team.attribution_id,
            payment_intent_id=request.POST.get("payment_intent_id", ""),
            changed_by=request.user.get_username(),
        )
        return "Subscribed: usage beyond your credits is now billed through Stripe."

    return _owner_action(request, slug, subscribe)


@login_required
@require_POST
def billing_cancel(request, slug: str):
    def cancel(team):
        subscription_cancel(attribution_id=team.attribution_id, changed_by=request.user.get_username())
        return "Subscription cancelled."

    return _owner_action(request, slug, cancel)


# --- Buying credits (billing/services/purchases.py) -----------------------------------------
@login_required
@require_POST
@team_page
def billing_buy_credits(request, slug: str):
    """Start a purchase and send the owner to Stripe Checkout; a refusal comes back as a message."""
    team, membership = _membership(request, slug)
    if membership.role != Membership.Role.OWNER:
        raise Http404("No such team.")
    credits = (request.POST.get("credits") or request.POST.get("custom_credits") or "").strip()
    try:
        purchase = credit_purchase_start(
            attribution_id=team.attribution_id,
            credits=credits.replace(",", ""),
            success_url=purchase_return_url(request, team.attribution_id, "paid"),
            cancel_url=purchase_return_url(request, team.attribution_id, "cancelled"),
            created_by=request.user.get_username(),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("billing:team-billing", slug=team.slug)
    return redirect(purchase.checkout_url)


# --- Auto-recharge (billing.services.recharges) ---------------------------------------------
def _money(minor: int, currency: str) -> Money:
    return Money(amount=from_minor_units(minor, currency), currency=currency)


def auto_recharge_context(team: Team) -> dict:
    """What billing/_auto_recharge.html shows: the API's summary, money in the team's currency."""
    summary = auto_recharge_summary(attribution_id=team.attribution_id)
    customer = customer_for_attribution(team.attribution_id)
    currency = summary["currency"] or (preferred_currency(customer) if customer else "")
    terms = purchase_terms(currency)
    last = summary["last_recharge"]
    return {
        "summary": summary,
        "has_customer": customer is not None,
        "terms": terms,
        "unit_price": _money(terms.unit_amount_minor, currency) if terms else None,
        "last_amount": _money(last.amount_minor, last.currency) if last else None,
        "max_failures": settings.TALLY_RECHARGE_MAX_FAILURES,
    }


@login_required
@require_POST
def billing_auto_recharge(request, slug: str):
    def turn_on(team):
        auto_recharge_set(
            attribution_id=team.attribution_id,
            threshold=request.POST.get("threshold", "").strip(),
            target=request.POST.get("target", "").strip(),
            enabled=True,
            changed_by=request.user.get_username(),
        )
        return "Auto-recharge is on."

    return _owner_action(request, slug, turn_on)


@login_required
@require_POST
def billing_auto_recharge_off(request, slug: str):
    def turn_off(team):
        auto_recharge_disable(attribution_id=team.attribution_id, changed_by=request.user.get_username())
        return "Auto-recharge is off."

    return _owner_action(request, slug, turn_off)


@login_required
@require_POST
def billing_budget(request, slug: str):
    """The owner's "Your budget" form: a figure in credits, or empty to clear it."""

    def set_budget(team):
        raw = request.POST.get("team_budget", "").strip().replace(",", "")
        updated = cost_center_set_team_budget(
            attribution_id=team.attribution_id,
            team_budget=raw or None,
            changed_by=request.user.get_username(),
        )
        if updated.team_budget is None:
            return "Budget cleared: finance's spending limit applies."
        return f"Budget set to {format_credits_for_people(updated.team_budget)} credits per cycle."

    return _owner_action(request, slug, set_budget)
