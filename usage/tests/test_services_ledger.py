"""Balances, credit notes and the immutability of final entries."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core.errors import Conflict, ValidationFailed
from usage.models import UsageEntry
from usage.selectors import usage_balance
from usage.services import credit_note_add
from usage.tests.factories import UsageEntryFactory, new_attribution_id

pytestmark = pytest.mark.django_db


def test_balance_of_1_and_9_is_10():
    who = new_attribution_id()
    UsageEntryFactory(attribution_id=who, credits=Decimal("1.00"))
    UsageEntryFactory(attribution_id=who, credits=Decimal("9.00"))
    UsageEntryFactory(credits=Decimal("100"))  # someone else's
    assert usage_balance(attribution_id=who) == Decimal("10.000000")


def test_balance_of_4_50_and_an_invoice_of_minus_5_is_minus_0_50():
    who = new_attribution_id()
    UsageEntryFactory(attribution_id=who, credits=Decimal("4.50"))
    UsageEntryFactory(attribution_id=who, credits=Decimal("-5.00"), kind=UsageEntry.Kind.INVOICE)
    assert usage_balance(attribution_id=who) == Decimal("-0.500000")


def test_balance_includes_drafts():
    who = new_attribution_id()
    UsageEntryFactory(attribution_id=who, credits=Decimal("2"), draft=True)
    UsageEntryFactory(attribution_id=who, credits=Decimal("3"))
    assert usage_balance(attribution_id=who) == Decimal("5")


def test_balance_of_nobody_is_zero():
    assert usage_balance(attribution_id=new_attribution_id()) == Decimal("0")


def test_credit_note_of_3_makes_balance_minus_3():
    who = new_attribution_id()
    entry = credit_note_add(attribution_id=who, credits="3", description="Outage credit")
    assert entry.credits == Decimal("-3")
    assert entry.kind == UsageEntry.Kind.CREDIT_NOTE
    assert usage_balance(attribution_id=who) == Decimal("-3")


def test_credit_note_of_minus_3_makes_balance_plus_3():
    who = new_attribution_id()
    credit_note_add(attribution_id=who, credits=Decimal("-3"), description="Correction")
    assert usage_balance(attribution_id=who) == Decimal("3")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"description": "   "}, "blank_description"),
        ({"description": ""}, "blank_description"),
        ({"user_id": "not-a-uuid"}, "invalid_user_id"),
        ({"credits": "0"}, "invalid_credits"),
        ({"credits": "1.0000001"}, "invalid_credits"),
        ({"attribution_id": "org:1"}, "invalid_attribution_id"),
    ],
)
def test_bad_credit_notes_are_refused_and_store_nothing(kwargs, code):
    args = {"attribution_id": new_attribution_id(), "credits": "3", "description": "ok", **kwargs}
    with pytest.raises(ValidationFailed) as info:
        credit_note_add(**args)
    assert info.value.code == code
    assert UsageEntry.objects.count() == 0


def test_the_database_refuses_to_change_a_final_entry():
    entry = UsageEntryFactory(credits=Decimal("5"), draft=False)
    with pytest.raises(IntegrityError, match="final"), transaction.atomic():
        UsageEntry.objects.filter(pk=entry.pk).update(credits=Decimal("1"))
    entry.refresh_from_db()
    assert entry.credits == Decimal("5")


def test_the_database_refuses_to_delete_a_final_entry():
    entry = UsageEntryFactory(draft=False)
    with pytest.raises(IntegrityError, match="final"), transaction.atomic():
        UsageEntry.objects.filter(pk=entry.pk).delete()
    assert UsageEntry.objects.filter(pk=entry.pk).exists()


def test_the_model_refuses_too():
    entry = UsageEntryFactory(draft=False)
    entry.credits = Decimal("7")
    with pytest.raises(Conflict):
        entry.save()
    with pytest.raises(Conflict):
        entry.delete()


def test_a_draft_may_be_rewritten_and_finalized_once():
    entry = UsageEntryFactory(credits=Decimal("1"), draft=True)
    UsageEntry.objects.filter(pk=entry.pk).update(credits=Decimal("2"))
    UsageEntry.objects.filter(pk=entry.pk).update(credits=Decimal("3"), draft=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageEntry.objects.filter(pk=entry.pk).update(credits=Decimal("4"))
    entry.refresh_from_db()
    assert (entry.credits, entry.draft) == (Decimal("3"), False)


def test_object_ids_are_unique():
    UsageEntryFactory(object_id="inst-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageEntryFactory(object_id="inst-1")
    # Many entries without an object id are fine.
    UsageEntryFactory(object_id=None)
    UsageEntryFactory(object_id=None)


def test_invoices_cannot_be_drafts():
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageEntryFactory(kind=UsageEntry.Kind.INVOICE, credits=Decimal("-1"), draft=True)
