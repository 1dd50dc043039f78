"""Payment disputes: a dispute blocks the cost center and the team's owners until won or resolved."""

import stripe
from django.utils import timezone

from audit.services import audit_record
from billing.models import DisputeBlock, Membership
from billing.services.stripe_ops import attribution_for_customer
from billing.stripe_gateway import client_kwargs, stripe_call
from core.attribution import parse_attribution_id
from core.errors import Conflict
from core.services_tx import runs_in_callers_transaction, service
from usage.services import (
    cost_center_block_in_callers_transaction,
    cost_center_unblock_in_callers_transaction,
)

CLOSED_UNBLOCKING = {"won", "warning_closed"}


def _retrieve_dispute(dispute_id: str):
    with stripe_call("dispute.retrieve"):
        dispute = stripe.Dispute.retrieve(dispute_id, **client_kwargs())
    with stripe_call("charge.retrieve"):
        charge = stripe.Charge.retrieve(dispute["charge"], **client_kwargs())
    return dispute, charge.get("customer")


def _team_owners(attribution_id: str):
    parsed = parse_attribution_id(attribution_id)
    if parsed.kind != "team":
        return []
    return [
        m.user
        for m in Membership.objects.filter(team__uuid=parsed.uuid, role=Membership.Role.OWNER).select_related(
            "user"
        )
    ]


def _audit_state(block: DisputeBlock) -> dict:
    return {
        "status": block.status,
        "reason": block.reason,
        "amount_minor": block.amount_minor,
        "currency": block.currency,
        "customer_id": block.customer_id,
        "closed_at": block.closed_at,
        "resolved_by": block.resolved_by,
    }


def _audit(action: str, block: DisputeBlock, before: dict | None) -> None:
    audit_record(
        action=action,
        object_type="dispute",
        object_id=block.dispute_id,
        attribution_id=block.attribution_id,
        before=before,
        after=_audit_state(block),
    )


def _refresh_block_state(attribution_id: str, *, reason: str, changed_by: str = "") -> None:
    if DisputeBlock.objects.filter(
        attribution_id=attribution_id, status__in=[DisputeBlock.Status.OPEN, DisputeBlock.Status.LOST]
    ).exists():
        cost_center_block_in_callers_transaction(attribution_id=attribution_id, reason=reason)
    else:
        cost_center_unblock_in_callers_transaction(
            attribution_id=attribution_id, reason=reason, changed_by=changed_by
        )


@runs_in_callers_transaction
def dispute_sync_in_callers_transaction(*, dispute_id: str) -> tuple[str, str]:
    """OnChargeDispute, for created and closed alike: re-read the dispute and apply its
    current state, so events arriving twice or out of order end in the same place. Runs in the
    caller's transaction: the dispute webhook handler's, which dj-stripe opens."""
    dispute, customer_id = _retrieve_dispute(dispute_id)
    attribution_id = attribution_for_customer(customer_id)
    if attribution_id is None:
        return "ignored", f"customer {customer_id} is not a Tally customer"
    stripe_status = dispute.get("status")
    block, created = DisputeBlock.objects.select_for_update().get_or_create(
        dispute_id=dispute_id,
        defaults={
            "attribution_id": attribution_id,
            "customer_id": customer_id,
            "reason": dispute.get("reason") or "",
            "amount_minor": int(dispute.get("amount") or 0),
            "currency": dispute.get("currency") or "",
        },
    )
    before = None if created else _audit_state(block)
    if block.status != DisputeBlock.Status.RESOLVED:
        if stripe_status in CLOSED_UNBLOCKING:
            block.status, block.closed_at = DisputeBlock.Status.WON, block.closed_at or timezone.now()
        elif stripe_status == "lost":
            block.status, block.closed_at = DisputeBlock.Status.LOST, block.closed_at or timezone.now()
        else:
            block.status = DisputeBlock.Status.OPEN
        block.save()
    if created:
        block.blocked_users.set(_team_owners(attribution_id))
    if created or before != _audit_state(block):
        _audit("dispute.blocked" if block.blocks else "dispute.unblocked", block, before)
    _refresh_block_state(attribution_id, reason=f"Stripe dispute {dispute_id} ({block.status})")
    return "succeeded", f"dispute {dispute_id} is {block.status} for {attribution_id}"


@service
def dispute_resolve(*, dispute_id: str, resolved_by: str) -> DisputeBlock:
    """Finance staff lift a dispute's block (e.g. a lost dispute settled another way)."""
    block = DisputeBlock.objects.select_for_update().get(dispute_id=dispute_id)
    if block.status == DisputeBlock.Status.RESOLVED:
        raise Conflict("This dispute is already resolved.", code="already_resolved")
    before = _audit_state(block)
    block.status = DisputeBlock.Status.RESOLVED
    block.resolved_by = resolved_by[:200]
    block.closed_at = block.closed_at or timezone.now()
    block.save()
    _audit("dispute.resolved", block, before)
    _refresh_block_state(
        block.attribution_id, reason=f"dispute {dispute_id} resolved", changed_by=resolved_by
    )
    return block
