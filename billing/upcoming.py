"""The invoice preview: what the open cycle would bill if it closed now (reads only).

One function, `upcoming_invoice`, feeds both `GET /api/v1/billing/<attribution>/upcoming` and
the "If the cycle closed now" card, so the page and the API show the same figures:

- usage credits of the cycle by kind (workspace, meter, traffic; meter usage not yet rated
  counts, as in the page's "Used"), and what is carried on the usage ledger from before it;
- credits applied by grant kind (prepaid, promotional, allowance, top-up): what grants in
  credits paid in the cycle's coverage window, read from the ledger's grant usage; the total is
  the coverage billable credits subtract (`credits.selectors.coverage`);
- billable credits (`billing.selectors.billable_credits`: usage balance minus coverage);
- what the close would bill: a `stripe` cost center reports ceil(billable) to its meter, so
  Stripe bills that whole number; an `other` one is invoiced min(billable, effective limit)
  (a limit of 0 caps nothing; the team's budget when lower than finance's limit);
- the amount at the team's price (dj-stripe's copy of the metered price of the customer's
  currency), in minor units rounded half up as Stripe rounds a line; no customer, currency
  or price: no amount, with the reason. With STRIPE_AUTOMATIC_TAX a `stripe` preview is
  `estimated`: Stripe adds tax on the invoice.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from billing.pages import GRANT_KINDS, CreditPrice, Money, credit_price, grant_kind
from billing.selectors import ZERO_DECIMAL_CURRENCIES, billable_summary, customer_for_attribution
from core.money import ZERO, quantize_credits
from credits.models import Grant
from credits.selectors.coverage import start_of_hour
from credits.selectors.history import EntryType, ledger_history
from usage.models import CostCenter, UsageEntry
from usage.selectors import (
    USAGE_KINDS,
    cost_center_get_or_default,
    effective_spending_limit,
    pending_meter_credits,
)

HISTORY_PAGE = 1000
TAX_NOTE = "Estimated: Stripe computes tax on the invoice; the amount here is before tax."


@dataclass(frozen=True)
class UpcomingInvoice:
    attribution_id: str
    as_of: datetime
    cycle_start: datetime
    cycle_end: datetime
    time_zone: str
    billing_strategy: str
    usage_by_kind: dict[str, Decimal]  # workspace, meter, traffic
    usage: Decimal
    carried: Decimal
    applied_by_kind: dict[str, Decimal]  # prepaid, promotional, allowance, top-up
    applied: Decimal
    billable: Decimal
    spending_limit: Decimal
    team_budget: Decimal | None
    effective_limit: Decimal
    capped: bool  # the limit cuts what an `other` close would invoice
    billed_credits: Decimal  # what the close would bill: ceil for stripe, capped for other
    currency: str | None
    amount_minor: int | None
    money_unavailable: str | None  # why there is no amount
    estimated: bool
    tax_note: str | None
    price: CreditPrice | None = field(default=None, compare=False)

    @property
    def money(self) -> Money | None:
        """The amount for people, in the currency's major unit."""
        if self.amount_minor is None or not self.currency:
            return None
        divisor = Decimal(1) if self.currency in ZERO_DECIMAL_CURRENCIES else Decimal(100)
        return Money(amount=Decimal(self.amount_minor) / divisor, currency=self.currency)

    @property
    def uncapped_billed(self) -> Decimal:
        return max(self.billable, ZERO)


def _usage_by_kind(attribution_id: str, start: datetime, end: datetime) -> dict[str, Decimal]:
    rows = (
        UsageEntry.objects.filter(
            attribution_id=attribution_id,
            kind__in=USAGE_KINDS,
            effective_time__gte=start,
            effective_time__lt=end,
        )
        .values("kind")
        .annotate(total=Sum("credits"))
    )
    by_kind = {str(kind): ZERO for kind in USAGE_KINDS}
    for row in rows:
        by_kind[row["kind"]] = quantize_credits(row["total"])
    by_kind[UsageEntry.Kind.METER.value] += pending_meter_credits(
        attribution_id=attribution_id, start=start, end=end
    )
    return by_kind


def _applied_by_kind(attribution_id: str, start: datetime, now: datetime) -> dict[str, Decimal]:
    """What grants in credits (no feature) paid in [start, now), by the grant's kind."""
    history = ledger_history(attribution_id=attribution_id, start=start, end=now, now=now)
    paid: dict[int, Decimal] = {}
    offset = 0
    while True:
        entries, total = history.page(offset=offset, limit=HISTORY_PAGE)
        for entry in entries:
            if entry.type == EntryType.GRANT_USAGE and entry.grant_id is not None and entry.amount:
                paid[entry.grant_id] = paid.get(entry.grant_id, ZERO) + entry.amount
        offset += len(entries)
        if not entries or offset >= total:
            break
    by_kind = dict.fromkeys(GRANT_KINDS, ZERO)
    grants = Grant.objects.filter(pk__in=paid, feature__isnull=True).values_list(
        "pk", "metadata", "expires_at"
    )
    for pk, metadata, expires_at in grants:
        kind, _ = grant_kind(metadata, expires_at)
        by_kind[kind] += paid[pk]
    return by_kind


def _minor_amount(credits: Decimal, price: CreditPrice) -> int:
    per_credit_minor = price.per_credit * (1 if price.currency in ZERO_DECIMAL_CURRENCIES else 100)
    return int((credits * per_credit_minor).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def upcoming_invoice(*, attribution_id: str, now: datetime | None = None) -> UpcomingInvoice:
    now = now or timezone.now()
    cost_center = cost_center_get_or_default(attribution_id=attribution_id, now=now)
    summary = billable_summary(attribution_id=attribution_id, now=now)
    start = cost_center.billing_cycle_start
    usage_by_kind = _usage_by_kind(attribution_id, start, now)
    usage = sum(usage_by_kind.values(), ZERO)
    applied_by_kind = _applied_by_kind(attribution_id, start_of_hour(start), now)
    billable = summary["billable_credits"]
    limit = effective_spending_limit(cost_center)
    positive = max(billable, ZERO)
    strategy = cost_center.billing_strategy
    if strategy == CostCenter.BillingStrategy.STRIPE:
        billed = positive.to_integral_value(rounding=ROUND_CEILING)
        capped = False
    else:
        capped = limit > 0 and positive > limit
        billed = min(positive, limit) if capped else positive
    customer = customer_for_attribution(attribution_id)
    price = credit_price(customer)
    if price is None:
        reason = (
            "The team has no Stripe customer yet: no currency to price in."
            if customer is None
            else "No price is known for the customer's currency."
        )
        currency, amount_minor = None, None
    else:
        reason, currency, amount_minor = None, price.currency, _minor_amount(billed, price)
    estimated = bool(settings.STRIPE_AUTOMATIC_TAX and strategy == CostCenter.BillingStrategy.STRIPE)
    return UpcomingInvoice(
        attribution_id=attribution_id,
        as_of=now,
        cycle_start=start,
        cycle_end=cost_center.next_billing_time,
        time_zone=timezone.get_current_timezone_name(),
        billing_strategy=strategy,
        usage_by_kind=usage_by_kind,
        usage=usage,
        carried=summary["balance"] - usage,
        applied_by_kind=applied_by_kind,
        applied=summary["covered_by_grants"],
        billable=billable,
        spending_limit=cost_center.spending_limit,
        team_budget=cost_center.team_budget,
        effective_limit=limit,
        capped=capped,
        billed_credits=billed,
        currency=currency,
        amount_minor=amount_minor,
        money_unavailable=reason,
        estimated=estimated,
        tax_note=TAX_NOTE if estimated else None,
        price=price,
    )
