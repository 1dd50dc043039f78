"""What a team's billing page shows, gathered in a handful of aggregate queries (reads only).

The page leads with what the team has left, then what it used and what it will pay. Every
figure carries its unit: credits, or the units of the feature a grant pays for; nothing here
adds two units. Money appears only where a price is known (the customer's currency and the
metered price in dj-stripe's local records).
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from djstripe.models import Invoice, Price

from billing.grant_kinds import GRANT_KINDS, grant_kind
from billing.models import DisputeBlock, Team
from billing.selectors import (
    ZERO_DECIMAL_CURRENCIES,
    billable_summary,
    credit_purchase_list,
    credit_purchase_terms,
    customer_for_attribution,
    preferred_currency,
    teams_by_attribution_id,
)
from core.money import ZERO, quantize_credits
from credits.models import GENERIC_FEATURE_KEY, Grant
from credits.selectors import ledger_balance
from usage.models import UsageEntry
from usage.selectors import USAGE_KINDS, cost_center_get_or_default, credits_used, effective_spending_limit

CREDITS_UNIT = "credits"
CHART_KINDS = [k.value for k in USAGE_KINDS]
CHART_COLOURS = {"workspace": "#2f6fed", "meter": "#0b7a6b", "traffic": "#a35f00"}
KIND_LABELS = {"workspace": "Workspaces", "meter": "Meters", "traffic": "Traffic"}

CURRENCY_SYMBOLS = {"eur": "€", "usd": "$", "gbp": "£", "jpy": "¥", "chf": "CHF "}
CENT = Decimal("0.01")
EN_DASH = "\u2013"


# -- grants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantLine:
    id: int
    name: str
    kind: str
    kind_inferred: bool
    feature_key: str
    unit: str
    amount: Decimal
    remaining: Decimal
    priority: int
    effective_at: datetime
    expires_at: datetime | None
    voided_at: datetime | None

    @property
    def active(self) -> bool:
        return self.voided_at is None


@dataclass(frozen=True)
class Left:
    """What remains of one kind of grant in one unit."""

    kind: str
    unit: str
    remaining: Decimal
    grants: int


def _grant_lines(balance) -> list[GrantLine]:
    ids = [g.grant.id for g in balance.grants]
    metadata = dict(Grant.objects.filter(id__in=ids).values_list("id", "metadata")) if ids else {}
    lines = []
    for gb in balance.grants:
        row = gb.grant
        feature_key = row.feature_key or GENERIC_FEATURE_KEY
        unit = CREDITS_UNIT if feature_key == GENERIC_FEATURE_KEY else feature_key
        meta = metadata.get(row.id) or {}
        kind, inferred = grant_kind(meta, row.expires_at)
        name = (
            str(meta.get("name") or meta.get("label") or "").strip() or f"{kind.capitalize()} grant #{row.id}"
        )
        lines.append(
            GrantLine(
                id=row.id,
                name=name,
                kind=kind,
                kind_inferred=inferred,
                feature_key=feature_key,
                unit=unit,
                amount=row.amount,
                remaining=gb.balance,
                priority=row.priority,
                effective_at=row.effective_at,
                expires_at=row.expires_at,
                voided_at=row.voided_at,
            )
        )
    return lines


def _left(lines: list[GrantLine]) -> list[Left]:
    """Remaining per (kind, unit), credits first, in the order of GRANT_KINDS."""
    totals: dict[tuple[str, str], list] = {}
    for line in lines:
        if not line.active:
            continue
        entry = totals.setdefault((line.kind, line.unit), [ZERO, 0])
        entry[0] += line.remaining
        entry[1] += 1
    order = {k: n for n, k in enumerate(GRANT_KINDS)}
    keys = sorted(totals, key=lambda k: (k[1] != CREDITS_UNIT, k[1], order[k[0]]))
    return [Left(kind=k, unit=u, remaining=totals[(k, u)][0], grants=totals[(k, u)][1]) for k, u in keys]


# -- money ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Money:
    amount: Decimal  # in the currency's major unit, exact
    currency: str  # lower case ISO code

    @property
    def symbol(self) -> str:
        return CURRENCY_SYMBOLS.get(self.currency, f"{self.currency.upper()} ")

    @property
    def rounded(self) -> Decimal:
        places = Decimal(1) if self.currency in ZERO_DECIMAL_CURRENCIES else CENT
        return self.amount.quantize(places, rounding=ROUND_HALF_UP)

    def __str__(self) -> str:
        places = 0 if self.currency in ZERO_DECIMAL_CURRENCIES else 2
        return f"{self.symbol}{self.rounded:,.{places}f}"


def from_minor_units(minor: int | str | Decimal, currency: str) -> Decimal:
    amount = Decimal(str(minor))
    return amount if currency.lower() in ZERO_DECIMAL_CURRENCIES else amount / 100


@dataclass(frozen=True)
class CreditPrice:
    currency: str
    per_credit: Decimal  # major units per credit

    def of(self, credits: Decimal) -> Money:
        return Money(amount=credits * self.per_credit, currency=self.currency)


def credit_price(customer) -> CreditPrice | None:
    """One credit's price in the customer's currency, from dj-stripe's copy of the metered price.

    Known only when the team has a Stripe customer with a preferred currency, a price id is
    configured for it and dj-stripe holds that price: the page never calls Stripe.
    """
    if customer is None:
        return None
    currency = preferred_currency(customer)
    price_id = settings.STRIPE_PRICE_IDS.get(currency)
    if not currency or not price_id:
        return None
    price = Price.objects.filter(id=price_id).first()
    if price is None:
        return None
    minor = price.unit_amount_decimal or price.unit_amount
    if minor in (None, ""):
        return None
    return CreditPrice(currency=currency, per_credit=from_minor_units(minor, currency))


# -- invoices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceLine:
    id: str
    number: str
    status: str
    total: Money
    created: datetime | None
    hosted_url: str
    pdf_url: str


def invoice_lines(customer, *, limit: int = 12) -> list[InvoiceLine]:
    """The customer's newest invoices from dj-stripe's records; amounts from Stripe's minor units."""
    if customer is None:
        return []
    lines = []
    for invoice in Invoice.objects.filter(customer=customer).order_by("-created")[:limit]:
        data = invoice.stripe_data or {}
        currency = str(data.get("currency") or "").lower()
        total = data.get("total", data.get("amount_due", 0)) or 0
        lines.append(
            InvoiceLine(
                id=invoice.id,
                number=str(data.get("number") or invoice.id),
                status=str(data.get("status") or "—"),
                total=Money(amount=from_minor_units(total, currency), currency=currency),
                created=invoice.created,
                hosted_url=str(data.get("hosted_invoice_url") or ""),
                pdf_url=str(data.get("invoice_pdf") or ""),
            )
        )
    return lines


# -- usage entries --------------------------------------------------------------------------

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _local(moment: datetime) -> datetime:
    return timezone.localtime(moment)


def _zone(moment: datetime) -> str:
    return _local(moment).tzname() or "UTC"


def readable_time(moment: datetime) -> str:
    local = _local(moment)
    return f"{local.day} {local:%b %Y}, {local:%H:%M} {_zone(moment)}"


def _readable_iso(match: re.Match) -> str:
    moment = _parse_time(match.group(0))
    return readable_time(moment) if moment else match.group(0)


def _meter_name(slug: str) -> str:
    return slug.replace("-", " ").replace("_", " ").capitalize()


def entry_description(entry: UsageEntry) -> str:
    """A person's reading of an entry, from its kind and metadata; the stored text stays as it is.

    A meter hour: "Samples — 60,000 units, 16:00-17:00 UTC" (an en dash between the hours).
    Traffic: "Traffic — 1,024 bytes on node-1, 16:05 UTC". Anything else: its description with
    ISO times made readable.
    """
    meta = entry.metadata or {}
    if entry.kind == UsageEntry.Kind.METER and meta.get("meter") and meta.get("units") is not None:
        hour = _parse_time(str(meta.get("hour") or "")) or entry.effective_time
        start, end = _local(hour), _local(hour + timedelta(hours=1))
        units = Decimal(str(meta["units"]))
        hours = f"{start:%H:%M}{EN_DASH}{end:%H:%M} {_zone(hour)}"
        return f"{_meter_name(str(meta['meter']))} — {units:,} units, {hours}"
    if entry.kind == UsageEntry.Kind.TRAFFIC and meta.get("minute"):
        minute = _parse_time(str(meta["minute"])) or entry.effective_time
        total = int(meta.get("uplink_bytes") or 0) + int(meta.get("downlink_bytes") or 0)
        node = meta.get("node_id")
        where = f" on {node}" if node else ""
        return f"Traffic — {total:,} bytes{where}, {_local(minute):%H:%M} {_zone(minute)}"
    return _RFC3339.sub(_readable_iso, entry.description or "") or entry.get_kind_display()


@dataclass(frozen=True)
class EntryLine:
    when: datetime
    kind: str
    kind_label: str
    draft: bool
    description: str
    credits: Decimal


def entry_lines(entries) -> list[EntryLine]:
    return [
        EntryLine(
            when=e.effective_time,
            kind=e.kind,
            kind_label=e.get_kind_display(),
            draft=e.draft,
            description=entry_description(e),
            credits=e.credits,
        )
        for e in entries
    ]


def team_entries(*, attribution_id: str):
    return UsageEntry.objects.filter(attribution_id=attribution_id).order_by("-effective_time", "-id")


# -- the chart ------------------------------------------------------------------------------

CHART_WIDTH = 720
CHART_HEIGHT = 220
PLOT_LEFT = 64
PLOT_RIGHT = 8
PLOT_TOP = 24
PLOT_BOTTOM = 30
TICKS = 4


def _coord(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}"


def nice_step(maximum: Decimal, ticks: int = TICKS) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times a power of ten whose `ticks` steps reach `maximum`."""
    if maximum <= 0:
        return Decimal(1)
    raw = maximum / ticks
    power = Decimal(1).scaleb(raw.adjusted())
    for factor in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if factor * power >= raw:
            return (factor * power).normalize()
    return (10 * power).normalize()


@dataclass
class ChartBar:
    day: date
    x: str
    width: str
    segments: list[dict] = field(default_factory=list)
    by_kind: dict[str, Decimal] = field(default_factory=dict)
    total: Decimal = ZERO
    label: str = ""
    label_x: str = ""


@dataclass
class UsageChart:
    bars: list[ChartBar]
    kinds: list[dict]  # only the kinds present: key, label, colour, total
    ticks: list[dict]  # value, y
    total: Decimal
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    plot_left: int = PLOT_LEFT
    plot_right: int = CHART_WIDTH - PLOT_RIGHT
    plot_bottom: int = CHART_HEIGHT - PLOT_BOTTOM
    label_y: int = CHART_HEIGHT - 8

    @property
    def days(self) -> int:
        return len(self.bars)


def usage_chart(*, attribution_id: str, start: datetime, end: datetime) -> UsageChart:
    """Daily usage credits by kind over [start, end): one SQL GROUP BY, drawn as stacked bars
    on a value axis, with the kinds that occur and the cycle's total."""
    rows = (
        UsageEntry.objects.filter(
            attribution_id=attribution_id,
            kind__in=CHART_KINDS,
            effective_time__gte=start,
            effective_time__lt=end,
        )
        .annotate(day=TruncDate("effective_time"))
        .values("day", "kind")
        .annotate(total=Sum("credits"))
    )
    per_day: dict[date, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        day = row["day"]
        if isinstance(day, datetime):
            day = day.date()
        per_day[day][row["kind"]] = quantize_credits(row["total"])
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range(max((last - first).days + 1, 1))]
    present = [k for k in CHART_KINDS if any(per_day[d].get(k, ZERO) > 0 for d in days)]
    totals = [sum((v for v in per_day[d].values() if v > 0), ZERO) for d in days]
    step = nice_step(max(totals, default=ZERO))
    top = step * TICKS
    plot_h = Decimal(CHART_HEIGHT - PLOT_TOP - PLOT_BOTTOM)
    plot_w = Decimal(CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT)
    slot = plot_w / len(days)
    bar_w = slot * Decimal("0.7")
    base = Decimal(CHART_HEIGHT - PLOT_BOTTOM)
    label_every = max(1, (len(days) + 9) // 10)
    bars = []
    for index, day in enumerate(days):
        x = Decimal(PLOT_LEFT) + slot * index + (slot - bar_w) / 2
        bar = ChartBar(day=day, x=_coord(x), width=_coord(bar_w))
        y = base
        for kind in present:
            value = per_day[day].get(kind, ZERO)
            bar.by_kind[kind] = value
            if value <= 0:
                continue
            h = value / top * plot_h
            y -= h
            bar.segments.append(
                {
                    "kind": kind,
                    "label": KIND_LABELS[kind],
                    "value": value,
                    "y": _coord(y),
                    "h": _coord(max(h, Decimal("0.5"))),
                    "colour": CHART_COLOURS[kind],
                }
            )
            bar.total += value
        bar.label = f"{day.day}" if index % label_every == 0 else ""
        bar.label_x = _coord(x + bar_w / 2)
        bars.append(bar)
    ticks = [{"value": step * n, "y": _coord(base - plot_h * n / TICKS)} for n in range(TICKS + 1)]
    kinds = [
        {
            "key": k,
            "label": KIND_LABELS[k],
            "colour": CHART_COLOURS[k],
            "total": sum((b.by_kind.get(k, ZERO) for b in bars), ZERO),
        }
        for k in present
    ]
    return UsageChart(bars=bars, kinds=kinds, ticks=ticks, total=sum((b.total for b in bars), ZERO))


# -- the page -------------------------------------------------------------------------------


@dataclass
class BillingOverview:
    team: Team
    left: list[Left]
    used: Decimal  # usage credits this cycle
    carried: Decimal  # on the usage ledger from before the cycle, not yet billed (or credited)
    billable: Decimal  # this cycle, after what grants paid
    covered: Decimal  # what grants paid this cycle
    billable_money: Money | None
    price: CreditPrice | None
    spending_limit: Decimal
    used_percent: int
    level: str  # ok | warn | over
    cycle_start: datetime
    next_billing_time: datetime
    strategy: str
    blocked: bool
    disputes: list
    grants: list[GrantLine]
    chart: UsageChart
    invoices: list[InvoiceLine]
    customer: object = None

    @property
    def carried_abs(self) -> Decimal:
        return abs(self.carried)

    @property
    def kind_inferred(self) -> bool:
        return any(g.kind_inferred for g in self.grants)

    @property
    def bar_percent(self) -> int:
        return max(0, min(100, self.used_percent))


def team_billing_overview(*, team: Team, now: datetime | None = None) -> BillingOverview:
    now = now or timezone.now()
    attribution_id = team.attribution_id
    cost_center = cost_center_get_or_default(attribution_id=attribution_id, now=now)
    summary = billable_summary(attribution_id=attribution_id, now=now)
    billable = summary["billable_credits"]
    limit = effective_spending_limit(cost_center)  # the team's budget when lower (billing/budget.py)
    used_percent = int((billable / limit) * 100) if limit > 0 else 0
    level = (
        "over" if limit > 0 and used_percent >= 100 else "warn" if limit > 0 and used_percent >= 80 else "ok"
    )
    balance = ledger_balance(attribution_id=attribution_id, at=now)
    grants = _grant_lines(balance)
    customer = customer_for_attribution(attribution_id)
    price = credit_price(customer)
    used = credits_used(attribution_id=attribution_id, start=cost_center.billing_cycle_start, end=now)
    return BillingOverview(
        team=team,
        left=_left(grants),
        used=used,
        carried=summary["balance"] - used,
        billable=billable,
        covered=summary["covered_by_grants"],
        billable_money=price.of(billable) if price and billable > 0 else None,
        price=price,
        spending_limit=limit,
        used_percent=max(0, used_percent),
        level=level,
        cycle_start=cost_center.billing_cycle_start,
        next_billing_time=cost_center.next_billing_time,
        strategy=cost_center.billing_strategy,
        blocked=cost_center.blocked_at is not None,
        disputes=list(
            DisputeBlock.objects.filter(attribution_id=attribution_id, status__in=["open", "lost"]).order_by(
                "-created_at"
            )
        ),
        grants=grants,
        chart=usage_chart(attribution_id=attribution_id, start=cost_center.billing_cycle_start, end=now),
        invoices=invoice_lines(customer),
        customer=customer,
    )


# -- buying credits (billing/_buy_credits.html; docs/billing.md, "Buying credits") ----------


@dataclass(frozen=True)
class PurchaseLine:
    id: int
    created_at: datetime
    credits: Decimal
    amount: Money
    status: str
    status_label: str
    grant_id: int | None
    remaining: Decimal | None  # what the grant has left now (None: no grant)


@dataclass(frozen=True)
class BuyCredits:
    terms: object  # billing.selectors.CreditPurchaseTerms, or None when credits cannot be bought
    per_credit: Money | None
    packages: list[tuple[int, Money]]
    minimum: Money | None
    maximum: Money | None
    unavailable: str  # why there is no buy form ("" when there is one)
    purchases: list[PurchaseLine]


def buy_credits_card(*, team: Team, customer, grants: list[GrantLine], limit: int = 20) -> BuyCredits:
    """The "Buy credits" card and the purchase receipts; each receipt's remaining is its grant's
    line on the same page (`grants`), so both always agree."""
    remaining = {g.id: (g.remaining if g.active else ZERO) for g in grants}
    purchases = [
        PurchaseLine(
            id=p.pk,
            created_at=p.created_at,
            credits=p.credits,
            amount=Money(amount=from_minor_units(p.amount_minor, p.currency), currency=p.currency),
            status=p.status,
            status_label=p.get_status_display(),
            grant_id=p.grant_id,
            remaining=remaining.get(p.grant_id, ZERO) if p.grant_id else None,
        )
        for p in credit_purchase_list(attribution_id=team.attribution_id)[:limit]
    ]
    currency = preferred_currency(customer) if customer is not None else ""
    terms = credit_purchase_terms(currency) if customer is not None else None
    if customer is None:
        unavailable = "Set up billing first (Payment, below): credits are bought in your billing currency."
    elif terms is None:
        unavailable = f"Credits cannot be bought in {currency.upper() or 'your currency'} on this Tally."
    else:
        unavailable = ""
    if terms is None:
        return BuyCredits(None, None, [], None, None, unavailable, purchases)
    per_credit = Money(amount=from_minor_units(terms.unit_amount_minor, currency), currency=currency)

    def price(credits: int) -> Money:
        return Money(amount=per_credit.amount * credits, currency=currency)

    return BuyCredits(
        terms=terms,
        per_credit=per_credit,
        packages=[(n, price(n)) for n in terms.packages],
        minimum=price(terms.minimum),
        maximum=price(terms.maximum),
        unavailable="",
        purchases=purchases,
    )


def purchase_return_url(request, attribution_id: str, outcome: str) -> str:
    """Where Stripe Checkout sends the owner back: the team page, saying how it went
    (`?purchase=paid|cancelled`), under TALLY_PUBLIC_URL when set."""
    team = teams_by_attribution_id([attribution_id]).get(attribution_id)
    path = reverse("billing:team-billing", args=[team.slug]) if team else "/teams/"
    path = f"{path}?purchase={outcome}"
    base = (settings.TALLY_PUBLIC_URL or "").rstrip("/")
    return f"{base}{path}" if base else request.build_absolute_uri(path)
