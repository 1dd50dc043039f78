"""Recurring allowances: templates ("200 credits every cycle") and their issue, once per cycle.

A template belongs to a registered payer. Cycle close (billing.services.cycles) calls
`allowances_issue_in_callers_transaction` for the cycle it opens, in its own transaction, just
before the credits reset at the new cycle start: each active template becomes one grant
effective at the cycle start (expiring at the cycle end when the template says so), and one
AllowanceIssue row whose
unique (template, cycle_start) constraint is the guarantee that a second run, a concurrent run
or a run after a crash never issues it twice. A template created mid-cycle is issued at once
for the current cycle, from now until the cycle's end, so the owner sees it straight away.

Lock order: the cost center's row (select_for_update), then the credits ledger (NOWAIT, inside
grant creation) — the order cycle close takes them in.
"""

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from audit.services import audit_record
from core.errors import NotFound, ValidationFailed
from core.money import format_credits
from core.params import parse_credits
from core.services_tx import runs_in_callers_transaction, service
from credits.engine import truncate_to_minute
from credits.models import GENERIC_FEATURE_KEY, AllowanceIssue, AllowanceTemplate, Feature, Ledger
from credits.services.grants import grant_create_in_callers_transaction, grant_priority
from usage.hooks import ensure_registered_payer
from usage.models import CostCenter
from usage.services import cost_centers_create_missing

ALLOWANCE_KIND = "allowance"
MAX_NAME_LENGTH = 200


def _amount(value: object) -> Decimal:
    amount = parse_credits(value, field="amount")
    if amount <= 0:
        raise ValidationFailed("amount must be greater than zero.", code="invalid_amount")
    return amount


def _name(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value.strip()) > MAX_NAME_LENGTH:
        raise ValidationFailed(
            f"name must be text of at most {MAX_NAME_LENGTH} characters.", code="invalid_name"
        )
    return value.strip()


def _feature(feature_key: str | None) -> Feature | None:
    if feature_key in (None, "", GENERIC_FEATURE_KEY):
        return None
    feature = Feature.objects.filter(key=feature_key).first()
    if feature is None:
        raise ValidationFailed(f"There is no feature {feature_key!r}.", code="unknown_feature")
    if feature.archived_at is not None:
        raise ValidationFailed(f"Feature {feature_key!r} is archived.", code="feature_archived")
    return feature


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be true or false.", code=f"invalid_{field}")
    return value


def _audit_state(template: AllowanceTemplate) -> dict:
    return {
        "attribution_id": template.attribution_id,
        "name": template.name,
        "amount": format_credits(template.amount),
        "feature": template.feature.key if template.feature_id else None,
        "priority": template.priority,
        "expires_at_cycle_end": template.expires_at_cycle_end,
        "active": template.active,
    }


def _audit(action: str, template: AllowanceTemplate, before: dict | None) -> None:
    audit_record(
        action=f"allowance.{action}",
        object_type="allowance_template",
        object_id=template.pk,
        attribution_id=template.attribution_id,
        before=before,
        after=_audit_state(template),
    )


def _locked_cost_center(attribution_id: str, now: datetime) -> CostCenter:
    cost_centers_create_missing(attribution_ids=[attribution_id], now=now)
    return CostCenter.objects.select_for_update().get(attribution_id=attribution_id)


@runs_in_callers_transaction
def allowances_issue_in_callers_transaction(
    *,
    attribution_id: str,
    cycle_start: datetime,
    cycle_end: datetime,
    now: datetime,
    template_ids: list[int] | None = None,
    effective_at: datetime | None = None,
) -> list[AllowanceIssue]:
    """Issue every active template of the attribution (or those of `template_ids`) not yet
    issued for the cycle starting at `cycle_start`: a grant effective at `effective_at`
    (default the cycle start; never before the ledger's last reset), expiring at `cycle_end`
    when the template says so, with metadata kind "allowance", and its AllowanceIssue row.
    Returns the issues this call created; a template already issued for the cycle is skipped.

    The caller holds the cost center's row lock (cycle close, template creation), so two
    issuers of one attribution take turns; the unique constraint is the last word.
    """
    templates = AllowanceTemplate.objects.filter(attribution_id=attribution_id, active=True).select_related(
        "feature"
    )
    if template_ids is not None:
        templates = templates.filter(pk__in=template_ids)
    templates = list(templates.exclude(issues__cycle_start=cycle_start).order_by("id"))
    if not templates:
        return []
    start = truncate_to_minute(effective_at or cycle_start)
    ledger = Ledger.objects.filter(attribution_id=attribution_id)
    last_reset = ledger.values_list("last_reset_at", flat=True).first()
    if last_reset is not None and start < last_reset:
        start = last_reset
    end = truncate_to_minute(cycle_end)
    issued = []
    for template in templates:
        expires_at = end if template.expires_at_cycle_end else None
        if expires_at is not None and expires_at <= start:
            continue  # the cycle ends within the minute: nothing left to issue into
        grant = grant_create_in_callers_transaction(
            attribution_id=attribution_id,
            amount=template.amount,
            feature_key=template.feature.key if template.feature_id else None,
            priority=template.priority,
            effective_at=start,
            expires_at=expires_at,
            metadata={
                "kind": ALLOWANCE_KIND,
                "allowance_template": template.pk,
                "name": template.name or "Allowance",
            },
            now=now,
        )
        issue = AllowanceIssue(template=template, cycle_start=cycle_start, grant=grant)
        issue.save()
        audit_record(
            action="allowance.issued",
            object_type="allowance_template",
            object_id=template.pk,
            attribution_id=attribution_id,
            after={"grant": grant.pk, "cycle_start": cycle_start, "amount": format_credits(template.amount)},
        )
        issued.append(issue)
    return issued


def _issue_for_current_cycle(template: AllowanceTemplate, cost_center: CostCenter, now: datetime) -> None:
    """A template made (or switched back on) mid-cycle: issued at once, from now to the cycle's
    end. An overdue cycle is left to cycle close, which issues it for the cycle it opens."""
    if cost_center.next_billing_time <= now:
        return
    allowances_issue_in_callers_transaction(
        attribution_id=template.attribution_id,
        cycle_start=cost_center.billing_cycle_start,
        cycle_end=cost_center.next_billing_time,
        now=now,
        template_ids=[template.pk],
        effective_at=max(now, cost_center.billing_cycle_start),
    )


@service
def allowance_template_create(
    *,
    attribution_id: str,
    amount: Decimal | int | str,
    name: str | None = "",
    feature_key: str | None = None,
    priority: int = 5,
    expires_at_cycle_end: bool = True,
    created_by: str = "",
    now: datetime | None = None,
) -> AllowanceTemplate:
    """A recurring allowance for a registered payer (400 `unknown_attribution` otherwise; bad
    input is a 400 and stores nothing), audited, and issued at once for the current cycle."""
    attribution_id = ensure_registered_payer(attribution_id)
    now = now or timezone.now()
    template = AllowanceTemplate(
        attribution_id=attribution_id,
        name=_name(name),
        amount=_amount(amount),
        feature=_feature(feature_key),
        priority=grant_priority(priority),
        expires_at_cycle_end=_flag(expires_at_cycle_end, "expires_at_cycle_end"),
        created_by=created_by[:200],
    )
    template.full_clean()
    cost_center = _locked_cost_center(attribution_id, now)
    template.save()
    _audit("created", template, None)
    _issue_for_current_cycle(template, cost_center, now)
    return template


def _template(attribution_id: str, template_id: int | str) -> AllowanceTemplate:
    try:
        pk = int(template_id)
    except (TypeError, ValueError):
        raise NotFound(f"There is no allowance {template_id!r}.", code="allowance_not_found") from None
    template = (
        AllowanceTemplate.objects.select_for_update(of=("self",))
        .select_related("feature")
        .filter(attribution_id=attribution_id, pk=pk)
        .first()
    )
    if template is None:
        raise NotFound(
            f"There is no allowance {template_id} on {attribution_id}.", code="allowance_not_found"
        )
    return template


_UNCHANGED = object()


@service
def allowance_template_update(
    *,
    attribution_id: str,
    template_id: int | str,
    amount: object = _UNCHANGED,
    name: object = _UNCHANGED,
    feature_key: object = _UNCHANGED,
    priority: object = _UNCHANGED,
    expires_at_cycle_end: object = _UNCHANGED,
    active: object = _UNCHANGED,
    now: datetime | None = None,
) -> AllowanceTemplate:
    """Change a template's terms from the next cycle on (grants already issued keep theirs).
    Switching an inactive template back on issues it for the current cycle, like a new one."""
    attribution_id = ensure_registered_payer(attribution_id)
    now = now or timezone.now()
    cost_center = _locked_cost_center(attribution_id, now)
    template = _template(attribution_id, template_id)
    before = _audit_state(template)
    was_active = template.active
    if amount is not _UNCHANGED:
        template.amount = _amount(amount)
    if name is not _UNCHANGED:
        template.name = _name(name)
    if feature_key is not _UNCHANGED:
        template.feature = _feature(feature_key)
    if priority is not _UNCHANGED:
        template.priority = grant_priority(priority)
    if expires_at_cycle_end is not _UNCHANGED:
        template.expires_at_cycle_end = _flag(expires_at_cycle_end, "expires_at_cycle_end")
    if active is not _UNCHANGED:
        template.active = _flag(active, "active")
    if _audit_state(template) == before:
        return template
    template.full_clean()
    template.save()
    _audit("updated", template, before)
    if template.active and not was_active:
        _issue_for_current_cycle(template, cost_center, now)
    return template


@service
def allowance_template_deactivate(*, attribution_id: str, template_id: int | str) -> AllowanceTemplate:
    """Stop issuing a template from the next cycle on; the grant of the current cycle stays.
    Deactivating twice changes nothing (the template is kept: its issues refer to it)."""
    attribution_id = ensure_registered_payer(attribution_id)
    template = _template(attribution_id, template_id)
    if template.active:
        before = _audit_state(template)
        template.active = False
        template.save(update_fields=["active", "updated_at"])
        _audit("deactivated", template, before)
    return template
