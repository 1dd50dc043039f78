import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from djstripe.models import Customer

from billing.models import CreditPurchase, Membership, Team
from core.attribution import normalize_attribution_id, team_attribution_id
from core.errors import NotFound
from credits.selectors.coverage import billable_credits as credits_billable
from credits.selectors.coverage import cycle_credits_covered
from usage.selectors import cost_center_get_or_default, effective_spending_limit, usage_balance

# Currencies whose amounts Stripe counts in whole units (no minor unit).
ZERO_DECIMAL_CURRENCIES = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}


def team_list_for_user(*, user) -> QuerySet[Team]:
    if not getattr(user, "is_authenticated", False):
        return Team.objects.none()
    # The annotation reuses the filter's join: the role is the caller's own.
    return Team.objects.filter(memberships__user=user).annotate(role=F("memberships__role")).order_by("name")


def attribution_ids_for_member(user) -> list[str]:
    uuids = Membership.objects.filter(user=user).values_list("team__uuid", flat=True)
    return [team_attribution_id(u) for u in uuids]


def attribution_ids_for_owner(user) -> list[str]:
    uuids = Membership.objects.filter(user=user, role=Membership.Role.OWNER).values_list(
        "team__uuid", flat=True
    )
    return [team_attribution_id(u) for u in uuids]


def registered_team_attribution_ids(attribution_ids: set[str]) -> list[str]:
    """The payer resolver billing registers (usage.hooks): a `team:` id is a registered payer
    when a billing.Team carries its uuid."""
    uuids = [a.removeprefix("team:") for a in attribution_ids if a.startswith("team:")]
    if not uuids:
        return []
    return [
        team_attribution_id(u) for u in Team.objects.filter(uuid__in=uuids).values_list("uuid", flat=True)
    ]


def billable_credits(*, attribution_id: str, now=None):
    """Billable credits of a cost center: the usage-ledger balance minus what grants covered
    since the cycle started. The one figure the API, pages, limits and Stripe reporting use
    (defined in credits, where the coverage is known; entitlements use the same function).

    After a cycle close the covered part is a `grantcoverage` entry, so right then the balance
    itself is the unbilled billable amount.
    """

    return credits_billable(attribution_id=attribution_id, now=now or timezone.now())


def billable_summary(*, attribution_id: str, now=None) -> dict:
    """The figures behind billable credits, for the API and the pages."""

    now = now or timezone.now()
    cost_center = cost_center_get_or_default(attribution_id=attribution_id, now=now)
    balance = usage_balance(attribution_id=attribution_id)
    covered = cycle_credits_covered(
        attribution_id=attribution_id, cycle_start=cost_center.billing_cycle_start, now=now
    )
    return {
        "attribution_id": attribution_id,
        "balance": balance,
        "covered_by_grants": covered,
        "billable_credits": balance - covered,
        "spending_limit": cost_center.spending_limit,
        "team_budget": cost_center.team_budget,
        "effective_limit": effective_spending_limit(cost_center),
        "cycle_start": cost_center.billing_cycle_start,
        "blocked": cost_center.blocked_at is not None,
    }


def customer_for_attribution(attribution_id: str) -> Customer | None:
    return (
        Customer.objects.filter(metadata__attributionId=attribution_id, date_purged__isnull=True)
        .order_by("-created")
        .first()
    )


def customer_get(*, attribution_id: str) -> Customer:
    customer = customer_for_attribution(normalize_attribution_id(attribution_id))
    if customer is None:
        raise NotFound("This team has no Stripe customer yet.", code="no_customer")
    return customer


def preferred_currency(customer: Customer) -> str:
    return str((customer.metadata or {}).get("preferredCurrency") or customer.currency or "").lower()


def teams_by_attribution_id(attribution_ids) -> dict[str, Team]:
    """The teams these `team:` ids name, in one query; ids naming no team are left out."""
    uuids = []
    for attribution_id in attribution_ids:
        kind, _, value = attribution_id.partition(":")
        if kind == "team":
            try:
                uuids.append(uuid.UUID(value))
            except ValueError:
                continue
    return {team.attribution_id: team for team in Team.objects.filter(uuid__in=uuids)}


def team_attribution_ids_matching(term: str) -> set[str]:
    """`team:` ids of the teams whose name, slug or id contains `term` (case-insensitive)."""
    term = term.strip()
    if term.lower().startswith("team:"):
        term = term[5:]
    if not term:
        return set()
    teams = Team.objects.filter(Q(name__icontains=term) | Q(slug__icontains=term) | Q(uuid__icontains=term))
    return {team_attribution_id(u) for u in teams.values_list("uuid", flat=True)[:500]}


# -- credit purchases (docs/billing.md, "Buying credits") ------------------------------------


@dataclass(frozen=True)
class CreditPurchaseTerms:
    """What one currency's purchases may be: whole credits from `minimum` to `maximum` at
    `unit_amount_minor` each; `packages` are the amounts offered as buttons."""

    currency: str
    unit_amount_minor: int
    minimum: int
    maximum: int
    packages: tuple[int, ...]


def credit_purchase_terms(currency: str) -> CreditPurchaseTerms | None:
    """The currency's terms from settings.TALLY_CREDIT_PURCHASE; None when it sells no credits."""
    currency = (currency or "").lower()
    terms = (settings.TALLY_CREDIT_PURCHASE or {}).get(currency)
    if not terms:
        return None
    minimum, maximum = int(terms["minimum"]), int(terms["maximum"])
    return CreditPurchaseTerms(
        currency=currency,
        unit_amount_minor=int(terms["unit_amount_minor"]),
        minimum=minimum,
        maximum=maximum,
        packages=tuple(int(p) for p in terms.get("packages", ()) if minimum <= int(p) <= maximum),
    )


def credit_purchase_list(*, attribution_id: str) -> QuerySet[CreditPurchase]:
    """The attribution's purchases, newest first (with their grants)."""
    return (
        CreditPurchase.objects.filter(attribution_id=attribution_id)
        .select_related("grant")
        .order_by("-created_at", "-id")
    )
