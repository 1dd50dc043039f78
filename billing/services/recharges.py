"""Auto-recharge: below a threshold of paid-for credits, one off-session charge back up to a target.

The flow (docs/billing.md, "Auto-recharge"):
1. `recharge_if_needed` (after each rating run for the attributions it rated, and every minute
   as a sweep): when auto-recharge is on, not backing off and the prepaid credits left are
   below the threshold, one `Recharge(pending)` row for the whole shortfall is inserted — the
   partial unique constraint `recharge_one_in_flight` keeps it to one per team — and, outside
   the transaction, one PaymentIntent is created and confirmed off-session with the saved
   card (idempotency key `recharge-<id>`).
2. `payment_intent.succeeded` (signed webhook) creates the grant, exactly once.
3. A declined card (at once, or later through `payment_intent.payment_failed`) fails the
   recharge and backs off; after TALLY_RECHARGE_MAX_FAILURES in a row auto-recharge turns
   itself off and the owners are emailed.

Lock order, everywhere: the AutoRecharge row, then the Recharge row, then (creating the
grant) the credits ledger. Two checks or a check and a webhook therefore queue on the first.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from billing.models import AutoRecharge, Recharge
from billing.selectors import customer_for_attribution, preferred_currency
from billing.selectors_recharge import (
    enabled_auto_recharge_attribution_ids,
    prepaid_credits_left,
    purchase_terms,
    recharge_in_flight,
)
from billing.services.notifications import notify_team_owners
from billing.services.purchases import topup_grant_terms
from billing.stripe_gateway import client_kwargs, stripe_call
from core.attribution import normalize_attribution_id
from core.errors import NotFound, UpstreamError, ValidationFailed
from core.money import format_credits
from core.params import parse_credits
from core.services_tx import (
    durable_transaction,
    job,
    runs_in_callers_transaction,
    service,
    service_opening_its_transaction,
    writes_nothing,
)
from credits.services.grants import grant_create_in_callers_transaction

logger = logging.getLogger(__name__)

GRANT_NAME = "Auto-recharge"


# --- settings of a team ------------------------------------------------------------------------


def _state(row: AutoRecharge | None) -> dict | None:
    if row is None:
        return None
    return {
        "enabled": row.enabled,
        "threshold": format_credits(row.threshold),
        "target": format_credits(row.target),
        "currency": row.currency,
        "consecutive_failures": row.consecutive_failures,
        "retry_after": row.retry_after,
        "disabled_reason": row.disabled_reason,
    }


@writes_nothing
def default_payment_method(*, customer_id: str) -> str | None:
    """The customer's saved default card, as Stripe has it now (re-read, never cached)."""
    with stripe_call("customer.retrieve"):
        customer = stripe.Customer.retrieve(customer_id, **client_kwargs())
    method = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(method, dict):
        method = method.get("id")
    return method or None


def _validated_terms(attribution_id: str, threshold: Decimal, target: Decimal, *, enabled: bool) -> str:
    """The currency the charges will be in, once the settings are checked (400s otherwise)."""
    if threshold < 0:
        raise ValidationFailed("threshold must not be negative.", code="invalid_threshold")
    if target <= threshold:
        raise ValidationFailed("target must be above the threshold.", code="invalid_target")
    customer = customer_for_attribution(attribution_id)
    if customer is None:
        raise ValidationFailed(
            "Auto-recharge charges the team's saved card: create the Stripe customer and save a card"
            " (subscribe) first.",
            code="no_payment_method",
        )
    currency = preferred_currency(customer)
    terms = purchase_terms(currency)
    if terms is None:
        raise ValidationFailed(
            f"Credits cannot be bought in {currency.upper() or 'this currency'}.", code="unsupported_currency"
        )
    step = target - threshold
    if step < terms.minimum or step > terms.maximum:
        raise ValidationFailed(
            f"target - threshold is what one recharge buys at least; it must be from {terms.minimum}"
            f" to {terms.maximum} credits (it is {format_credits(step)}).",
            code="invalid_recharge_range",
        )
    if enabled and default_payment_method(customer_id=customer.id) is None:
        raise ValidationFailed(
            "The team has no saved card to charge: save one (subscribe) first.", code="no_payment_method"
        )
    return currency


@service_opening_its_transaction
def auto_recharge_set(
    *,
    attribution_id: str,
    threshold: Decimal | int | str,
    target: Decimal | int | str,
    enabled: bool = True,
    changed_by: str = "",
) -> AutoRecharge:
    """PUT …/auto-recharge: the team's threshold and target (credits). Turning it on starts
    afresh (failures, back-off and the reason it was turned off are cleared). Stripe is read
    first (the saved card); then one transaction under the AutoRecharge row lock, audited."""
    attribution_id = normalize_attribution_id(attribution_id)
    threshold = parse_credits(threshold, field="threshold")
    target = parse_credits(target, field="target")
    if not isinstance(enabled, bool):
        raise ValidationFailed("enabled must be true or false.", code="invalid_enabled")
    currency = _validated_terms(attribution_id, threshold, target, enabled=enabled)
    with durable_transaction():
        row = AutoRecharge.objects.select_for_update().filter(attribution_id=attribution_id).first()
        before = _state(row)
        if row is None:
            row = AutoRecharge(attribution_id=attribution_id)
        if enabled and not (row.pk and row.enabled):
            row.consecutive_failures, row.retry_after, row.disabled_reason = 0, None, ""
        row.threshold, row.target, row.enabled, row.currency = threshold, target, enabled, currency
        row.changed_by = changed_by[:200]
        row.full_clean()
        row.save()
        audit_record(
            action="auto_recharge.updated" if before else "auto_recharge.created",
            object_type="auto_recharge",
            object_id=row.pk,
            attribution_id=attribution_id,
            before=before,
            after=_state(row),
        )
    return row


@service
def auto_recharge_disable(*, attribution_id: str, changed_by: str = "") -> AutoRecharge:
    """DELETE …/auto-recharge: off (settings kept, so turning it on again is one click).
    A recharge already in flight still completes. NotFound when the team never set one."""
    attribution_id = normalize_attribution_id(attribution_id)
    row = AutoRecharge.objects.select_for_update().filter(attribution_id=attribution_id).first()
    if row is None:
        raise NotFound("This team has no auto-recharge.", code="no_auto_recharge")
    if row.enabled:
        before = _state(row)
        row.enabled, row.changed_by = False, changed_by[:200]
        row.save(update_fields=["enabled", "changed_by", "updated_at"])
        audit_record(
            action="auto_recharge.disabled",
            object_type="auto_recharge",
            object_id=row.pk,
            attribution_id=attribution_id,
            before=before,
            after=_state(row),
        )
    return row


# --- the check -----------------------------------------------------------------------------


@writes_nothing
def shortfall_credits(*, left: Decimal, target: Decimal) -> Decimal:
    """The whole way back to the target in one charge, in whole credits (rounded up): left 3,
    target 1000 → 997; left 0.5, target 1000 → 1000."""
    return max(target - left, Decimal(0)).to_integral_value(rounding=ROUND_CEILING)


def _due(row: AutoRecharge | None, now: datetime) -> bool:
    return row is not None and row.enabled and (row.retry_after is None or row.retry_after <= now)


@dataclass(frozen=True)
class CheckResult:
    outcome: str  # off | backing_off | enough | in_flight | charged | failed
    recharge: Recharge | None = None
    left: Decimal | None = None


@service_opening_its_transaction
def recharge_if_needed(*, attribution_id: str, now: datetime | None = None) -> CheckResult:
    """Charge the saved card once for the whole shortfall when the prepaid credits left are
    below the threshold, and nothing else is in flight.

    Reads first without a lock (most checks end there); then, under the AutoRecharge row lock,
    reads again and inserts the pending Recharge (an IntegrityError on `recharge_one_in_flight`
    means another one is in flight: nothing to do). Stripe is called after that commit, and the
    outcome is stored in a second transaction (same lock order).
    """
    attribution_id = normalize_attribution_id(attribution_id)
    now = now or timezone.now()
    row = AutoRecharge.objects.filter(attribution_id=attribution_id).first()
    if not _due(row, now):
        return CheckResult("off" if row is None or not row.enabled else "backing_off")
    left = prepaid_credits_left(attribution_id, now)
    if left >= row.threshold:
        return CheckResult("enough", left=left)
    if recharge_in_flight(attribution_id=attribution_id) is not None:
        return CheckResult("in_flight", left=left)
    with durable_transaction():
        row = AutoRecharge.objects.select_for_update().get(pk=row.pk)
        if not _due(row, now):
            return CheckResult("backing_off" if row.enabled else "off")
        left = prepaid_credits_left(attribution_id, now)  # again, under the lock
        if left >= row.threshold:
            return CheckResult("enough", left=left)
        credits = shortfall_credits(left=left, target=row.target)
        terms = purchase_terms(row.currency)
        if terms is None:
            raise ValidationFailed(f"No purchase terms for {row.currency!r}.", code="unsupported_currency")
        try:
            with transaction.atomic():  # a savepoint: losing the race is an answer, not an error
                recharge = Recharge.objects.create(
                    attribution_id=attribution_id,
                    credits=credits,
                    amount_minor=int(credits) * terms.unit_amount_minor,
                    currency=terms.currency,
                    remaining_before=left,
                )
        except IntegrityError:
            return CheckResult("in_flight", left=left)
        audit_record(
            action="recharge.started",
            object_type="recharge",
            object_id=recharge.pk,
            attribution_id=attribution_id,
            after={"credits": credits, "amount_minor": recharge.amount_minor, "remaining_before": left},
        )
    return _charge(recharge, now=now)


def _charge(recharge: Recharge, *, now: datetime) -> CheckResult:
    customer = customer_for_attribution(recharge.attribution_id)
    try:
        method = default_payment_method(customer_id=customer.id) if customer else None
        if method is None:
            raise _NoCard()
        with stripe_call("payment_intent.create"):
            intent = stripe.PaymentIntent.create(
                amount=recharge.amount_minor,
                currency=recharge.currency,
                customer=customer.id,
                payment_method=method,
                off_session=True,
                confirm=True,
                metadata={"attributionId": recharge.attribution_id, "recharge": str(recharge.pk)},
                idempotency_key=f"recharge-{recharge.pk}",
                **client_kwargs(),
            )
    except (UpstreamError, _NoCard) as exc:
        # A declined card answers at once (402); a lost answer is failed too, and a charge that
        # went through after all is still granted by its `payment_intent.succeeded`.
        message = str(exc) if isinstance(exc, UpstreamError) else _NoCard.message
        with durable_transaction():
            recharge = recharge_fail_in_callers_transaction(
                recharge_id=recharge.pk, message=message, payment_intent_id=_intent_of(exc), now=now
            )
        return CheckResult("failed", recharge=recharge)
    with durable_transaction():
        AutoRecharge.objects.select_for_update().filter(attribution_id=recharge.attribution_id).first()
        recharge = Recharge.objects.select_for_update().get(pk=recharge.pk)
        if recharge.status == Recharge.Status.PENDING:  # the webhook may have been faster
            recharge.status = Recharge.Status.PROCESSING
        if not recharge.payment_intent_id:
            recharge.payment_intent_id = intent["id"]
        recharge.save(update_fields=["status", "payment_intent_id", "updated_at"])
    return CheckResult("charged", recharge=recharge)


class _NoCard(Exception):
    message = "The team has no saved card to charge."


def _intent_of(exc: BaseException) -> str | None:
    error = getattr(getattr(exc, "__cause__", None), "error", None)
    intent = getattr(error, "payment_intent", None) if error is not None else None
    if isinstance(intent, dict):
        return intent.get("id")
    return getattr(intent, "id", None)


@job
def recharges_check(*, attribution_ids: list[str] | None = None, now: datetime | None = None) -> dict:
    """The `billing.recharge_check` job: `recharge_if_needed` for every team whose auto-recharge
    is on (only those among `attribution_ids` when given: the ones a rating run just rated),
    each in its own transactions, so one team's failure does not stop the others."""
    now = now or timezone.now()
    among = {normalize_attribution_id(a) for a in attribution_ids} if attribution_ids is not None else None
    counts = {"checked": 0, "charged": 0, "failed": 0, "in_flight": 0, "errors": 0}
    for attribution_id in enabled_auto_recharge_attribution_ids(among=among):
        counts["checked"] += 1
        try:
            result = recharge_if_needed(attribution_id=attribution_id, now=now)
        except Exception:
            counts["errors"] += 1
            logger.exception("Auto-recharge check of %s failed", attribution_id)
            continue
        if result.outcome in counts:
            counts[result.outcome] += 1
    return {"status": "partial" if counts["errors"] else "ok", **counts}


# --- outcomes (the webhooks and the synchronous decline) ------------------------------------


def _locked(recharge_id: int) -> tuple[AutoRecharge | None, Recharge]:
    attribution_id = Recharge.objects.values_list("attribution_id", flat=True).get(pk=recharge_id)
    row = AutoRecharge.objects.select_for_update().filter(attribution_id=attribution_id).first()
    return row, Recharge.objects.select_for_update().get(pk=recharge_id)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@runs_in_callers_transaction
def recharge_fail_in_callers_transaction(
    *, recharge_id: int, message: str, payment_intent_id: str | None = None, now: datetime | None = None
) -> Recharge:
    """A charge that failed: the recharge is failed, the team backs off for
    BACKOFF_MINUTES * 2^(failures - 1), and at MAX_FAILURES in a row auto-recharge turns off
    and the owners are emailed. A recharge that already finished is left as it is (a failed
    event after a success, or a duplicate, changes nothing)."""
    now = now or timezone.now()
    row, recharge = _locked(recharge_id)
    if recharge.status not in Recharge.IN_FLIGHT:
        return recharge
    message = (message or "The charge failed.")[:500]
    recharge.status, recharge.failure_message, recharge.finished_at = Recharge.Status.FAILED, message, now
    if payment_intent_id and not recharge.payment_intent_id:
        recharge.payment_intent_id = payment_intent_id
    recharge.save(
        update_fields=["status", "failure_message", "finished_at", "payment_intent_id", "updated_at"]
    )
    after = {"status": recharge.status, "failure_message": message}
    if row is not None:
        row.consecutive_failures += 1
        row.last_error = message
        row.retry_after = now + timedelta(
            minutes=settings.TALLY_RECHARGE_BACKOFF_MINUTES * 2 ** (row.consecutive_failures - 1)
        )
        turned_off = row.enabled and row.consecutive_failures >= settings.TALLY_RECHARGE_MAX_FAILURES
        if turned_off:
            row.enabled = False
            row.disabled_reason = (
                f"Turned off after {row.consecutive_failures} failed charges on {_when(now)}: {message}"
            )[:500]
        row.save()
        after.update(consecutive_failures=row.consecutive_failures, retry_after=row.retry_after)
        if turned_off:
            after["turned_off"] = row.disabled_reason
            notify_team_owners(
                attribution_id=recharge.attribution_id,
                subject="Auto-recharge is off: your card was declined",
                body=(
                    f"{row.disabled_reason}\n\n"
                    f"Your team has {format_credits(recharge.remaining_before)} prepaid credits left"
                    " (when the last recharge started). Update the saved card and turn auto-recharge"
                    " back on from the team's billing page.\n"
                ),
            )
    audit_record(
        action="recharge.failed",
        object_type="recharge",
        object_id=recharge.pk,
        attribution_id=recharge.attribution_id,
        after=after,
    )
    return recharge


def _recharge_for_intent(intent) -> Recharge | None:
    found = Recharge.objects.filter(payment_intent_id=intent["id"]).first()
    if found is not None:
        return found
    metadata = intent.get("metadata") or {}
    try:
        pk = int(metadata.get("recharge"))
    except (TypeError, ValueError):
        return None
    return Recharge.objects.filter(pk=pk, attribution_id=metadata.get("attributionId", "")).first()


def _retrieve_intent(payment_intent_id: str):
    with stripe_call("payment_intent.retrieve"):
        return stripe.PaymentIntent.retrieve(payment_intent_id, **client_kwargs())


@runs_in_callers_transaction
def recharge_payment_succeeded_in_callers_transaction(
    *, payment_intent_id: str, event_metadata: dict | None = None, now: datetime | None = None
) -> tuple[str, str, str]:
    """`payment_intent.succeeded`: the intent is re-read from Stripe; one of ours (metadata
    `recharge`) that succeeded gets its grant exactly once (TALLY_TOPUP_PRIORITY and
    _EXPIRATION, metadata kind top-up, source auto-recharge), and the failures start again
    from 0. Returns (outcome status, detail, attribution id) for the WebhookOutcome."""
    now = now or timezone.now()
    if event_metadata is not None and not event_metadata.get("recharge"):
        # The card hold, a Checkout purchase, anyone else's intent: not worth a Stripe call.
        return "ignored", f"payment intent {payment_intent_id} is not an auto-recharge", ""
    intent = _retrieve_intent(payment_intent_id)
    if not (intent.get("metadata") or {}).get("recharge"):
        return "ignored", f"payment intent {payment_intent_id} is not an auto-recharge", ""
    found = _recharge_for_intent(intent)
    if found is None:
        return "ignored", f"no recharge for payment intent {payment_intent_id}", ""
    if intent.get("status") != "succeeded":
        status = intent.get("status")
        return "ignored", f"payment intent {payment_intent_id} is {status}", found.attribution_id
    if int(intent.get("amount") or 0) != found.amount_minor or intent.get("currency") != found.currency:
        return (
            "ignored",
            f"payment intent {payment_intent_id} is for {intent.get('amount')} {intent.get('currency')},"
            f" the recharge for {found.amount_minor} {found.currency}",
            found.attribution_id,
        )
    row, recharge = _locked(found.pk)
    if recharge.grant_id is not None:
        return (
            "succeeded",
            f"recharge {recharge.pk} was granted before (grant {recharge.grant_id})",
            (recharge.attribution_id),
        )
    grant = grant_create_in_callers_transaction(
        attribution_id=recharge.attribution_id,
        amount=recharge.credits,
        metadata={
            "kind": "top-up",
            "source": "auto-recharge",
            "payment_intent": intent["id"],
            "name": GRANT_NAME,
            "recharge": recharge.pk,
        },
        now=now,
        **topup_grant_terms().as_grant_kwargs(),
    )
    was = recharge.status
    recharge.status, recharge.grant, recharge.finished_at = Recharge.Status.SUCCEEDED, grant, now
    recharge.payment_intent_id = recharge.payment_intent_id or intent["id"]
    recharge.failure_message = ""
    recharge.save()
    if row is not None:
        row.consecutive_failures, row.retry_after, row.last_error = 0, None, ""
        row.save(update_fields=["consecutive_failures", "retry_after", "last_error", "updated_at"])
    audit_record(
        action="recharge.succeeded",
        object_type="recharge",
        object_id=recharge.pk,
        attribution_id=recharge.attribution_id,
        before={"status": was},
        after={"status": recharge.status, "grant": grant.pk, "credits": recharge.credits},
    )
    return (
        "succeeded",
        f"recharge {recharge.pk}: {format_credits(recharge.credits)} credits granted (grant {grant.pk})",
        recharge.attribution_id,
    )


@runs_in_callers_transaction
def recharge_payment_failed_in_callers_transaction(
    *, payment_intent_id: str, event_metadata: dict | None = None, now: datetime | None = None
) -> tuple[str, str, str]:
    """`payment_intent.payment_failed`: the intent re-read; an in-flight recharge of ours
    fails and backs off (`recharge_fail_in_callers_transaction`); one that finished already,
    or an intent that succeeded since, changes nothing."""
    if event_metadata is not None and not event_metadata.get("recharge"):
        # The card hold, a Checkout purchase, anyone else's intent: not worth a Stripe call.
        return "ignored", f"payment intent {payment_intent_id} is not an auto-recharge", ""
    intent = _retrieve_intent(payment_intent_id)
    if not (intent.get("metadata") or {}).get("recharge"):
        return "ignored", f"payment intent {payment_intent_id} is not an auto-recharge", ""
    found = _recharge_for_intent(intent)
    if found is None:
        return "ignored", f"no recharge for payment intent {payment_intent_id}", ""
    if intent.get("status") == "succeeded":
        return "ignored", f"payment intent {payment_intent_id} has succeeded since", found.attribution_id
    if found.status not in Recharge.IN_FLIGHT:
        return "succeeded", f"recharge {found.pk} had already {found.status}", found.attribution_id
    error = intent.get("last_payment_error") or {}
    message = error.get("message") or "The card was declined."
    recharge = recharge_fail_in_callers_transaction(
        recharge_id=found.pk, message=message, payment_intent_id=intent["id"], now=now
    )
    return "succeeded", f"recharge {recharge.pk} failed: {message}", recharge.attribution_id
