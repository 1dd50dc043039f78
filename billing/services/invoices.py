"""FinalizeInvoice: a finalized Stripe invoice becomes one `invoice` entry, once per invoice."""

from datetime import UTC, datetime
from decimal import Decimal

import stripe
from django.utils import timezone

from billing.services.cycles import cycle_close_in_callers_transaction
from billing.services.stripe_ops import attribution_for_customer
from billing.stripe_gateway import client_kwargs, stripe_call
from core.services_tx import runs_in_callers_transaction, writes_nothing
from usage.models import UsageEntry
from usage.services import ledger_entry_write_once_in_callers_transaction


@writes_nothing
def invoice_entry_key(invoice_id: str) -> str:
    return f"invoice:{invoice_id}"


def _line_quantities(invoice) -> list[int]:
    lines = invoice.get("lines") or {}
    data = list(lines.get("data", []))
    if lines.get("has_more"):
        with stripe_call("invoice.list_lines"):
            data = list(
                stripe.Invoice.list_lines(invoice["id"], limit=100, **client_kwargs()).auto_paging_iter()
            )
    return [int(line.get("quantity") or 0) for line in data]


@runs_in_callers_transaction
def invoice_finalize_in_callers_transaction(*, invoice_id: str) -> tuple[str, str]:
    """Re-read the invoice from Stripe and write minus the sum of line quantities, effective at its
    finalization time, keyed `invoice:<id>`; then close the cost center's cycle if it is due.

    Returns (outcome, detail) with outcome `succeeded` or `ignored`. Runs in the caller's
    transaction: the `invoice.finalized` webhook handler's, which dj-stripe opens.
    """
    with stripe_call("invoice.retrieve"):
        invoice = stripe.Invoice.retrieve(invoice_id, **client_kwargs())
    attribution_id = attribution_for_customer(invoice.get("customer"))
    if attribution_id is None:
        return "ignored", f"customer {invoice.get('customer')} is not a Tally customer"
    finalized = (invoice.get("status_transitions") or {}).get("finalized_at") or invoice.get("created")
    if not finalized:
        return "ignored", "invoice has no finalization time"
    finalized_at = datetime.fromtimestamp(int(finalized), tz=UTC)
    quantity = sum(_line_quantities(invoice))
    entry, created = ledger_entry_write_once_in_callers_transaction(
        attribution_id=attribution_id,
        object_id=invoice_entry_key(invoice_id),
        kind=UsageEntry.Kind.INVOICE,
        credits=-Decimal(quantity),
        effective_time=finalized_at,
        description=f"Stripe invoice {invoice.get('number') or invoice_id}",
        metadata={"stripe_invoice_id": invoice_id, "quantity": quantity},
    )
    # The invoice closes Stripe's period: close ours too if it is due (and the job has not
    # yet); cycle close is idempotent, so the job and the webhook can race safely.
    cycle_close_in_callers_transaction(attribution_id=attribution_id, now=max(finalized_at, timezone.now()))
    detail = f"{'wrote' if created else 'already had'} invoice entry {entry.credits} for {attribution_id}"
    return "succeeded", detail
