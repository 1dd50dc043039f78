"""Cost centers: creation, strategy switches and their part of cycle close (Gitpod's UsageService).

Lock order: a service that changes a cost center locks its row (select_for_update) first and
writes ledger entries after, so two writers of one attribution serialise on that row.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from audit.services import audit_record
from core.attribution import normalize_attribution_id
from core.errors import ValidationFailed
from core.money import ZERO, format_credits
from core.months import add_months, cycle_advance
from core.params import parse_credits
from core.services_tx import runs_in_callers_transaction, service, service_of
from core.timeutils import format_rfc3339
from usage.hooks import ensure_registered_payer, registered_payers
from usage.models import CostCenter, CostCenterVersion, UsageEntry
from usage.selectors import (
    cost_center_default,
    default_spending_limit,
    effective_spending_limit,
    first_cycle_starts,
    usage_balance,
)

Strategy = CostCenter.BillingStrategy


def _record_version(cost_center: CostCenter, *, reason: str, changed_by: str = "") -> CostCenterVersion:
    return CostCenterVersion.objects.create(
        cost_center=cost_center,
        spending_limit=cost_center.spending_limit,
        team_budget=cost_center.team_budget,
        billing_strategy=cost_center.billing_strategy,
        billing_cycle_start=cost_center.billing_cycle_start,
        next_billing_time=cost_center.next_billing_time,
        reason=reason,
        changed_by=changed_by[:200],
    )


def _audit_state(cost_center: CostCenter) -> dict:
    return {
        "spending_limit": format_credits(cost_center.spending_limit),
        "team_budget": (
            format_credits(cost_center.team_budget) if cost_center.team_budget is not None else None
        ),
        "billing_strategy": cost_center.billing_strategy,
        "billing_cycle_start": cost_center.billing_cycle_start,
        "next_billing_time": cost_center.next_billing_time,
        "blocked_at": cost_center.blocked_at,
        "blocked_reason": cost_center.blocked_reason,
    }


def _audit(action: str, cost_center: CostCenter, before: dict | None, **extra) -> None:
    audit_record(
        action=f"cost_center.{action}",
        object_type="cost_center",
        object_id=cost_center.pk,
        attribution_id=cost_center.attribution_id,
        before=before,
        after={**_audit_state(cost_center), **extra},
    )


@runs_in_callers_transaction
def cost_centers_create_missing(*, attribution_ids: Iterable[str], now: datetime) -> list[CostCenter]:
    """Create the cost centers the registered payers among the attributions lack (strategy
    other, default limit, a month from `first_cycle_starts`), each with its "created" version
    and audit event; returns those this call inserted. The first write that concerns an
    attribution calls this: team creation, rating, a workspace report, a credit note, a grant,
    a traffic account. An attribution that names nobody (`usage.hooks.registered_payers`) gets
    none: its usage is kept and rated, and its cost center is made when the payer is registered.

    Set-based and race-safe: one INSERT … ON CONFLICT DO NOTHING for the whole set, in
    attribution order (two writers creating overlapping sets wait for each other in one
    direction only); a row a concurrent writer inserted first is left to it.
    """
    wanted = {normalize_attribution_id(a) for a in attribution_ids}
    if not wanted:
        return []
    wanted = registered_payers(wanted)
    wanted -= set(
        CostCenter.objects.filter(attribution_id__in=wanted).values_list("attribution_id", flat=True)
    )
    if not wanted:
        return []
    starts = first_cycle_starts(attribution_ids=wanted, now=now)
    rows = [cost_center_default(attribution_id=a, cycle_start=starts[a]) for a in sorted(wanted)]
    created = _insert_ignoring_existing(rows, now=now)
    CostCenterVersion.objects.bulk_create(
        [
            CostCenterVersion(
                cost_center=cost_center,
                spending_limit=cost_center.spending_limit,
                billing_strategy=cost_center.billing_strategy,
                billing_cycle_start=cost_center.billing_cycle_start,
                next_billing_time=cost_center.next_billing_time,
                reason="created",
            )
            for cost_center in created
        ]
    )
    for cost_center in created:
        _audit("created", cost_center, None)
    return created


_INSERTED_FIELDS = (
    "created_at",
    "updated_at",
    "attribution_id",
    "spending_limit",
    "billing_strategy",
    "billing_cycle_start",
    "next_billing_time",
    "blocked_reason",
)


def _insert_ignoring_existing(rows: list[CostCenter], *, now: datetime) -> list[CostCenter]:
    """INSERT … ON CONFLICT (attribution_id) DO NOTHING RETURNING: the ORM's bulk_create cannot
    tell which rows it inserted when it ignores conflicts."""
    fields = [CostCenter._meta.get_field(name) for name in _INSERTED_FIELDS]
    params: list = []
    for row in rows:
        row.created_at = row.updated_at = now
        params.extend(field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    values = ", ".join(["(" + ", ".join(["%s"] * len(fields)) + ")"] * len(rows))
    table = connection.ops.quote_name(CostCenter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {values}"  # noqa: S608 (names from the model)
            " ON CONFLICT (attribution_id) DO NOTHING RETURNING id, attribution_id",
            params,
        )
        ids = {attribution_id: pk for pk, attribution_id in cursor.fetchall()}
    created = []
    for row in rows:
        if row.attribution_id in ids:
            row.pk = ids[row.attribution_id]
            row._state.adding = False
            created.append(row)
    return created


@service
def cost_center_get_or_create(*, attribution_id: str, now: datetime | None = None) -> CostCenter:
    """The attribution's cost center, created lazily (`cost_centers_create_missing`) at `now`;
    UnknownAttribution when the attribution names no registered payer."""
    attribution_id = ensure_registered_payer(attribution_id)
    cost_centers_create_missing(attribution_ids=[attribution_id], now=now or timezone.now())
    return CostCenter.objects.get(attribution_id=attribution_id)


def _lock(attribution_id: str, now: datetime) -> CostCenter:
    """The cost center's row lock, creating it first; UnknownAttribution when it names nobody."""
    cost_centers_create_missing(attribution_ids=[attribution_id], now=now)
    cost_center = CostCenter.objects.select_for_update().filter(attribution_id=attribution_id).first()
    if cost_center is None:
        ensure_registered_payer(attribution_id)  # raises: a registered payer has one by now
        raise CostCenter.DoesNotExist(attribution_id)
    return cost_center


def _invoice_entry(
    *, attribution_id: str, amount: Decimal, now: datetime, key: str, description: str
) -> UsageEntry:
    return UsageEntry.objects.create(
        attribution_id=attribution_id,
        description=description,
        credits=-amount,
        effective_time=now,
        kind=UsageEntry.Kind.INVOICE,
        object_id=key,
        draft=False,
    )


def _last_other_limit(cost_center: CostCenter) -> Decimal:
    version = (
        cost_center.versions.filter(billing_strategy=Strategy.OTHER).order_by("-created_at", "-id").first()
    )
    return version.spending_limit if version is not None else default_spending_limit()


@runs_in_callers_transaction
def cost_center_set_in_callers_transaction(
    *,
    attribution_id: str,
    spending_limit: Decimal | int | str | None = None,
    billing_strategy: str | None = None,
    changed_by: str = "",
    now: datetime | None = None,
) -> CostCenter:
    """SetCostCenter. Switching to `other` restores the last `other` limit (or the default)
    and starts a new cycle; switching to `stripe` balances out open usage with an `invoice`
    entry, then starts a new cycle. Takes the cost center's row lock. UnknownAttribution
    (400) when the attribution names no registered payer."""
    attribution_id = ensure_registered_payer(attribution_id)
    limit = None
    if spending_limit is not None:
        limit = parse_credits(spending_limit, field="spending_limit")
        if limit < 0:
            raise ValidationFailed("spending_limit must not be negative.", code="negative_spending_limit")
    if billing_strategy is not None and billing_strategy not in Strategy.values:
        raise ValidationFailed(
            f"billing_strategy must be one of {', '.join(Strategy.values)} (got {billing_strategy!r}).",
            code="invalid_billing_strategy",
        )
    now = now or timezone.now()
    cost_center = _lock(attribution_id, now)
    before = _audit_state(cost_center)
    old_strategy = cost_center.billing_strategy
    new_strategy = billing_strategy or old_strategy
    extra = {}

    if new_strategy == old_strategy:
        if limit is None or limit == cost_center.spending_limit:
            return cost_center
        cost_center.spending_limit = limit
        reason = f"spending limit set to {format_credits(limit)}"
    elif new_strategy == Strategy.OTHER:
        cost_center.billing_strategy = Strategy.OTHER
        cost_center.spending_limit = _last_other_limit(cost_center)
        cost_center.billing_cycle_start = now
        cost_center.next_billing_time = add_months(now, 1)
        reason = "switched to other: last other limit restored, new cycle"
    else:
        balance = usage_balance(attribution_id=attribution_id)
        if balance > 0:
            _invoice_entry(
                attribution_id=attribution_id,
                amount=balance,
                now=now,
                key=f"balance-out:{attribution_id}:{format_rfc3339(now)}",
                description="Usage balanced out on switching to Stripe billing",
            )
        extra["balanced_out"] = format_credits(max(balance, ZERO))
        cost_center.billing_strategy = Strategy.STRIPE
        if limit is not None:
            cost_center.spending_limit = limit
        cost_center.billing_cycle_start = now
        cost_center.next_billing_time = add_months(now, 1)
        reason = "switched to stripe: open usage balanced out, new cycle"
    cost_center.full_clean()
    cost_center.save()
    _record_version(cost_center, reason=reason, changed_by=changed_by)
    _audit("updated", cost_center, before, **extra)
    return cost_center


@dataclass(frozen=True)
class CostCenterCycleClose:
    attribution_id: str
    months_advanced: int
    invoiced: Decimal


def _advance_cycle(cost_center: CostCenter, now: datetime) -> int:
    """Move the cycle on (core.months.cycle_advance, anchored on the old start) until next
    billing time is in the future; returns the number of months moved."""
    advance = cycle_advance(cost_center.billing_cycle_start, now)
    cost_center.billing_cycle_start = advance.start
    cost_center.next_billing_time = advance.next_billing_time
    return advance.months


@runs_in_callers_transaction
def cost_center_close_cycle_in_callers_transaction(
    *, attribution_id: str, now: datetime | None = None, covered_in_new_cycle: Decimal = ZERO
) -> CostCenterCycleClose | None:
    """The cost center's part of cycle close (Gitpod's ResetUsage) for one `other` cost center
    whose next billing time has passed; billing.services.cycles.cycle_close calls it in its
    transaction, under the row lock it took.

    Advances the cycle, then writes an `invoice` entry of -min(balance - covered_in_new_cycle,
    limit) when that is positive, the limit being the effective one (finance's spending limit or
    the team's lower budget: `effective_spending_limit`; a limit of 0 caps nothing).
    `covered_in_new_cycle` is what grants already paid of usage that belongs to the new cycle
    (cycle close passes the new cycle's first, partial hour: billing's coverage rule), so it is
    not invoiced here and covered there. Returns None when nothing was due, so a second run, or
    a run after a crash, changes nothing twice.
    """
    now = now or timezone.now()
    cost_center = CostCenter.objects.select_for_update().filter(attribution_id=attribution_id).first()
    if (
        cost_center is None
        or cost_center.billing_strategy != Strategy.OTHER
        or cost_center.next_billing_time > now
    ):
        return None
    closed_cycle_end = cost_center.next_billing_time
    before = _audit_state(cost_center)
    months = _advance_cycle(cost_center, now)
    balance = usage_balance(attribution_id=attribution_id) - covered_in_new_cycle
    invoiced = ZERO
    if balance > 0:
        limit = effective_spending_limit(cost_center)
        invoiced = balance if limit == 0 else min(balance, limit)
        _invoice_entry(
            attribution_id=attribution_id,
            amount=invoiced,
            now=now,
            key=f"reset:{attribution_id}:{format_rfc3339(closed_cycle_end)}",
            description=f"Usage reset for the cycle ending {format_rfc3339(closed_cycle_end)}",
        )
    cost_center.save()
    _record_version(
        cost_center, reason=f"cycle reset: advanced {months} month(s), invoiced {format_credits(invoiced)}"
    )
    _audit("usage_reset", cost_center, before, invoiced=format_credits(invoiced))
    return CostCenterCycleClose(attribution_id=attribution_id, months_advanced=months, invoiced=invoiced)


@runs_in_callers_transaction
def cost_center_start_cycle_in_callers_transaction(
    *, attribution_id: str, start: datetime, reason: str
) -> CostCenter:
    """Start a new cycle at `start` (a Stripe invoice was finalized). Never moves backwards, so
    an old invoice's event arriving late changes nothing."""
    cost_center = _lock(attribution_id, start)
    if start <= cost_center.billing_cycle_start:
        return cost_center
    before = _audit_state(cost_center)
    cost_center.billing_cycle_start = start
    cost_center.next_billing_time = add_months(start, 1)
    cost_center.save()
    _record_version(cost_center, reason=reason)
    _audit("cycle_started", cost_center, before, reason=reason)
    return cost_center


@runs_in_callers_transaction
def cost_center_block_in_callers_transaction(
    *, attribution_id: str, reason: str, now: datetime | None = None
) -> CostCenter:
    """Deny usage (entitlements answer has_access false) until unblocked."""
    now = now or timezone.now()
    cost_center = _lock(attribution_id, now)
    if cost_center.blocked_at is None:
        before = _audit_state(cost_center)
        cost_center.blocked_at = now
        cost_center.blocked_reason = reason[:500]
        cost_center.save()
        _record_version(cost_center, reason=f"blocked: {reason}"[:200])
        _audit("blocked", cost_center, before)
    return cost_center


@runs_in_callers_transaction
def cost_center_unblock_in_callers_transaction(
    *, attribution_id: str, reason: str, changed_by: str = ""
) -> CostCenter:
    cost_center = _lock(attribution_id, timezone.now())
    if cost_center.blocked_at is not None:
        before = _audit_state(cost_center)
        cost_center.blocked_at = None
        cost_center.blocked_reason = ""
        cost_center.save()
        _record_version(cost_center, reason=f"unblocked: {reason}"[:200], changed_by=changed_by)
        _audit("unblocked", cost_center, before, reason=reason)
    return cost_center


@runs_in_callers_transaction
def cost_center_set_team_budget_in_callers_transaction(
    *,
    attribution_id: str,
    team_budget: Decimal | int | str | None,
    changed_by: str = "",
    now: datetime | None = None,
) -> CostCenter:
    """The team's own limit per cycle, at most finance's spending limit (which stays the
    ceiling); None clears it. Takes the cost center's row lock; a change writes a version row
    and an audit event. 400 `invalid_credits`, `negative_team_budget` or `budget_above_limit`
    (naming both figures) store nothing; UnknownAttribution for an unregistered payer."""
    attribution_id = ensure_registered_payer(attribution_id)
    budget = None
    if team_budget is not None:
        budget = parse_credits(team_budget, field="team_budget")
        if budget < 0:
            raise ValidationFailed("team_budget must not be negative.", code="negative_team_budget")
    cost_center = _lock(attribution_id, now or timezone.now())
    if budget is not None and budget > cost_center.spending_limit:
        raise ValidationFailed(
            f"The budget of {format_credits(budget)} credits is above the spending limit finance allows, "
            f"{format_credits(cost_center.spending_limit)} credits: choose at most that.",
            code="budget_above_limit",
        )
    if budget == cost_center.team_budget:
        return cost_center
    before = _audit_state(cost_center)
    cost_center.team_budget = budget
    cost_center.full_clean()
    cost_center.save(update_fields=["team_budget", "updated_at"])
    reason = "team budget cleared" if budget is None else f"team budget set to {format_credits(budget)}"
    _record_version(cost_center, reason=reason, changed_by=changed_by)
    _audit("team_budget_set", cost_center, before)
    return cost_center


# The services: each one durable transaction around its part above.


cost_center_set_team_budget = service_of(
    cost_center_set_team_budget_in_callers_transaction, name="cost_center_set_team_budget"
)


cost_center_set = service_of(cost_center_set_in_callers_transaction, name="cost_center_set")


cost_center_close_cycle = service_of(
    cost_center_close_cycle_in_callers_transaction, name="cost_center_close_cycle"
)


cost_center_start_cycle = service_of(
    cost_center_start_cycle_in_callers_transaction, name="cost_center_start_cycle"
)


cost_center_block = service_of(cost_center_block_in_callers_transaction, name="cost_center_block")


cost_center_unblock = service_of(cost_center_unblock_in_callers_transaction, name="cost_center_unblock")
