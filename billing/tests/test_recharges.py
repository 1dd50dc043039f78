"""Auto-recharge end to end: localstripe charges the saved card off-session, signed webhooks
through dj-stripe's endpoint create the grant, a real SMTP server receives the owners' email.

Worked example used throughout: a team bought 500 prepaid credits and used 497, so 3 are left;
its auto-recharge is "below 100, back up to 1000", so one charge buys the whole 997 (at 0.36 EUR
a credit, 358.92 EUR), never one charge per 100.
"""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from billing.models import AutoRecharge, Membership, Recharge, WebhookOutcome
from billing.selectors_recharge import prepaid_credits_left
from billing.services.recharges import auto_recharge_set, recharge_if_needed, recharges_check
from billing.services.stripe_ops import customer_create
from billing.tests.factories import MembershipFactory, UserFactory
from core.errors import ValidationFailed
from credits.models import Grant
from credits.services.grants import grant_create
from credits.tests.factories import rated_usage
from tests.stripe_fake import event_payload
from usage.tests.factories import NOON

pytestmark = pytest.mark.django_db

GOOD_CARD = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000000341"  # attaches, then every charge is declined (localstripe)
FAILING_IBAN = "DE62370400440532013001"  # a SEPA debit that localstripe fails after processing
EUR_PER_CREDIT_MINOR = 36  # settings.TALLY_CREDIT_PURCHASE["eur"]["unit_amount_minor"]
BOUGHT = Decimal("500")
USED = Decimal("497")
LEFT = BOUGHT - USED  # 3
THRESHOLD, TARGET = Decimal("100"), Decimal("1000")


def key() -> dict:
    return {"api_key": settings.STRIPE_TEST_SECRET_KEY}


def save_card(customer_id: str, number: str = GOOD_CARD) -> str:
    """What the subscribe flow leaves behind: a card attached to the customer as its default."""
    method = stripe.PaymentMethod.create(
        type="card", card={"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}, **key()
    )
    stripe.PaymentMethod.attach(method["id"], customer=customer_id, **key())
    stripe.Customer.modify(customer_id, invoice_settings={"default_payment_method": method["id"]}, **key())
    return method["id"]


def bought_and_used(attribution_id: str, *, bought=BOUGHT, used=USED) -> None:
    grant_create(
        attribution_id=attribution_id,
        amount=bought,
        priority=5,
        effective_at=NOON,
        metadata={"kind": "prepaid", "name": "Bought in advance"},
    )
    if used:
        rated_usage(attribution_id, used, NOON + timedelta(hours=1))


def intent_requests(stripe_fake) -> list[dict]:
    return [p for m, path, p in stripe_fake.requests if m == "POST" and path == "/v1/payment_intents"]


def intent_event(event_type: str, intent_id: str) -> dict:
    intent = stripe.PaymentIntent.retrieve(intent_id, **key())
    return event_payload(event_type, intent.to_dict())


@pytest.fixture
def customer(stripe_fake, team, owner):
    owner.email = "alice@acme.test"
    owner.save()
    return customer_create(
        attribution_id=team.attribution_id, currency="eur", email="billing@acme.test", name="Acme"
    )


@pytest.fixture
def card(customer):
    return save_card(customer.id)


@pytest.fixture
def auto_recharge(team, card):
    return auto_recharge_set(attribution_id=team.attribution_id, threshold=THRESHOLD, target=TARGET)


# --- what counts as "left" --------------------------------------------------------------------


def test_prepaid_credits_left_counts_what_was_paid_for_not_free_credits(team):
    """Given 500 prepaid (priority 5), a 200 top-up (priority 10) and 300 promotional credits
    that burn first (priority 0), 400 used: the promotion paid 300, the prepaid grant 100; left
    of what was paid for is 400 + 200 = 600 (the promotion's 0 and a 50-credit allowance are
    not counted)."""
    attribution = team.attribution_id
    bought_and_used(attribution, used=Decimal("400"))
    grant_create(
        attribution_id=attribution, amount="200", priority=10, effective_at=NOON, metadata={"kind": "top-up"}
    )
    grant_create(
        attribution_id=attribution,
        amount="300",
        priority=0,
        effective_at=NOON,
        expiration_count=30,
        expiration_unit="DAY",
    )  # no kind, expires: read as promotional
    grant_create(
        attribution_id=attribution,
        amount="50",
        priority=20,
        effective_at=NOON,
        metadata={"kind": "allowance"},
    )

    assert prepaid_credits_left(attribution, timezone.now()) == Decimal("600")


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "target", "code"),
    [
        ("-1", "1000", "invalid_threshold"),
        ("100", "100", "invalid_target"),
        ("100", "150", "invalid_recharge_range"),  # buys 50, the minimum purchase is 100
        ("0", "100001", "invalid_recharge_range"),  # above the maximum of 100,000
        ("1.0000001", "1000", "invalid_credits"),
    ],
)
def test_settings_that_cannot_work_are_refused_and_store_nothing(card, team, threshold, target, code):
    with pytest.raises(ValidationFailed) as refused:
        auto_recharge_set(attribution_id=team.attribution_id, threshold=threshold, target=target)
    assert refused.value.code == code
    assert not AutoRecharge.objects.exists()


def test_a_team_without_a_saved_card_cannot_turn_it_on(customer, team):
    with pytest.raises(ValidationFailed) as refused:
        auto_recharge_set(attribution_id=team.attribution_id, threshold="100", target="1000")
    assert refused.value.code == "no_payment_method"
    assert not AutoRecharge.objects.exists()


def test_the_api_sets_reads_and_turns_off_and_each_change_is_audited(client, card, team, owner, member):
    url = f"/api/v1/billing/{team.attribution_id}/auto-recharge"
    client.force_login(owner)
    put = client.put(
        url, {"threshold": "100", "target": "1000", "enabled": True}, content_type="application/json"
    )
    assert put.status_code == 200, put.content
    assert put.json() | {"prepaid_credits_left": None} == {
        "attribution_id": team.attribution_id,
        "enabled": True,
        "threshold": "100.000000",
        "target": "1000.000000",
        "currency": "eur",
        "prepaid_credits_left": None,
        "consecutive_failures": 0,
        "retry_after": None,
        "disabled_reason": "",
        "last_error": "",
        "in_flight": False,
        "last_recharge": None,
    }
    client.force_login(member)
    assert client.get(url).json()["threshold"] == "100.000000"  # members read
    refused = client.put(url, {"threshold": "1", "target": "500"}, content_type="application/json")
    assert (refused.status_code, refused.json()["error"]) == (403, "owner_required")
    assert client.delete(url).status_code == 403

    client.force_login(owner)
    off = client.delete(url)
    assert (off.status_code, off.json()["enabled"]) == (200, False)
    assert list(
        AuditEvent.objects.filter(attribution_id=team.attribution_id, action__startswith="auto_recharge")
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["auto_recharge.created", "auto_recharge.disabled"]


def test_another_team_gets_404_and_a_team_key_403(client, card, team, other_team, team_key_client):
    url = f"/api/v1/billing/{team.attribution_id}/auto-recharge"
    stranger = UserFactory(username="mallory")
    MembershipFactory(team=other_team, user=stranger, role=Membership.Role.OWNER)
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    assert (
        client.put(url, {"threshold": "1", "target": "500"}, content_type="application/json").status_code
        == 404
    )
    put = team_key_client.put(url, {"threshold": "1", "target": "500"}, format="json")
    assert (put.status_code, put.json()["error"]) == (403, "owner_required")
    assert team_key_client.get(url).status_code == 200


# --- one charge for the whole shortfall, one grant per success -----------------------------------


@pytest.mark.parametrize(
    ("used", "credits_bought"),
    [
        (Decimal("497"), Decimal("997")),  # left 3 → 997, one charge
        (Decimal("400.5"), Decimal("901")),  # left 99.5 → 900.5, rounded up to whole credits
        (Decimal("500"), Decimal("1000")),  # nothing left → the whole target
    ],
)
def test_a_shortfall_of_any_size_is_closed_by_one_charge_and_one_grant(
    stripe_fake, deliver_webhook, auto_recharge, team, used, credits_bought
):
    bought_and_used(team.attribution_id, used=used)

    result = recharge_if_needed(attribution_id=team.attribution_id)
    again = recharge_if_needed(attribution_id=team.attribution_id)  # the next check, before Stripe's event

    assert (result.outcome, again.outcome) == ("charged", "in_flight")
    [sent] = intent_requests(stripe_fake)
    recharge = Recharge.objects.get()
    assert sent["amount"] == str(int(credits_bought) * EUR_PER_CREDIT_MINOR)
    assert (sent["currency"], sent["off_session"], sent["confirm"]) == ("eur", "true", "true")
    assert sent["metadata"] == {"attributionId": team.attribution_id, "recharge": str(recharge.pk)}
    assert (recharge.status, recharge.credits) == ("processing", credits_bought)
    assert recharge.remaining_before == BOUGHT - used

    response = deliver_webhook(intent_event("payment_intent.succeeded", recharge.payment_intent_id))

    assert response.status_code == 200, response.content
    recharge.refresh_from_db()
    grant = Grant.objects.get(pk=recharge.grant_id)
    assert (recharge.status, grant.amount, grant.priority) == ("succeeded", credits_bought, 10)
    assert grant.metadata == {
        "kind": "top-up",
        "source": "auto-recharge",
        "payment_intent": recharge.payment_intent_id,
        "name": "Auto-recharge",
        "recharge": recharge.pk,
    }
    assert (grant.expiration_count, grant.expiration_unit) == (12, "MONTH")  # TALLY_TOPUP_EXPIRATION
    # back to the target, or a fraction above it where the shortfall was rounded up to whole credits
    assert prepaid_credits_left(team.attribution_id, timezone.now()) == BOUGHT - used + credits_bought
    assert recharge_if_needed(attribution_id=team.attribution_id).outcome == "enough"


def test_duplicate_and_reordered_events_make_one_grant(stripe_fake, deliver_webhook, auto_recharge, team):
    bought_and_used(team.attribution_id)
    recharge = recharge_if_needed(attribution_id=team.attribution_id).recharge
    succeeded = intent_event("payment_intent.succeeded", recharge.payment_intent_id)
    late_failure = intent_event("payment_intent.payment_failed", recharge.payment_intent_id)

    answers = [deliver_webhook(e).status_code for e in (succeeded, succeeded, late_failure)]
    answers.append(
        deliver_webhook(intent_event("payment_intent.succeeded", recharge.payment_intent_id)).status_code
    )

    assert answers == [200, 200, 200, 200]
    recharge.refresh_from_db()
    assert recharge.status == "succeeded"
    assert Grant.objects.filter(metadata__source="auto-recharge").count() == 1
    assert AutoRecharge.objects.get().consecutive_failures == 0
    assert prepaid_credits_left(team.attribution_id, timezone.now()) == TARGET


def test_a_succeeded_event_before_the_charge_call_returned_still_grants_once(
    stripe_fake, deliver_webhook, auto_recharge, team
):
    """Stripe can deliver `payment_intent.succeeded` before PaymentIntent.create has answered
    (the recharge is still pending, without its intent id): it is found by its metadata."""
    bought_and_used(team.attribution_id)
    recharge = recharge_if_needed(attribution_id=team.attribution_id).recharge
    Recharge.objects.filter(pk=recharge.pk).update(status="pending", payment_intent_id=None)

    deliver_webhook(intent_event("payment_intent.succeeded", recharge.payment_intent_id))

    recharge.refresh_from_db()
    assert (recharge.status, recharge.payment_intent_id) == ("succeeded", recharge.payment_intent_id)
    assert recharge.grant.amount == Decimal("997")


def test_forged_stale_and_unsigned_events_grant_nothing(stripe_fake, deliver_webhook, auto_recharge, team):
    bought_and_used(team.attribution_id)
    recharge = recharge_if_needed(attribution_id=team.attribution_id).recharge
    event = intent_event("payment_intent.succeeded", recharge.payment_intent_id)
    an_hour_ago = int(timezone.now().timestamp()) - 3600

    answers = [
        deliver_webhook(event, secret="whsec_forged").status_code,
        deliver_webhook(event, timestamp=an_hour_ago).status_code,
        deliver_webhook(event, signed=False).status_code,
    ]

    assert answers == [400, 400, 400]
    recharge.refresh_from_db()
    assert (recharge.status, recharge.grant_id) == ("processing", None)
    assert not WebhookOutcome.objects.filter(handler="recharge_succeeded").exists()


def test_intents_that_are_not_recharges_are_ignored(stripe_fake, deliver_webhook, customer, card):
    hold = stripe.PaymentIntent.create(
        amount=100,
        currency="eur",
        customer=customer.id,
        payment_method=card,
        capture_method="manual",
        **key(),
    )
    event = event_payload("payment_intent.succeeded", hold.to_dict())

    assert deliver_webhook(event).status_code == 200

    outcome = WebhookOutcome.objects.get(event_id=event["id"], handler="recharge_succeeded")
    assert outcome.status == "ignored"
    assert not Grant.objects.exists()


def test_two_checks_at_once_make_one_recharge_and_one_charge(
    transactional_db, stripe_fake, auto_recharge, team
):
    bought_and_used(team.attribution_id)
    start = threading.Barrier(2)
    outcomes = []

    def check():
        try:
            start.wait(timeout=10)
            outcomes.append(recharge_if_needed(attribution_id=team.attribution_id).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=check) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["charged", "in_flight"]
    assert Recharge.objects.count() == 1
    assert len(intent_requests(stripe_fake)) == 1


def test_the_database_refuses_a_second_recharge_in_flight(auto_recharge, team):
    from django.db import IntegrityError, transaction

    values = {"attribution_id": team.attribution_id, "credits": 997, "amount_minor": 35892, "currency": "eur"}
    Recharge.objects.create(remaining_before=LEFT, **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Recharge.objects.create(remaining_before=LEFT, status="processing", **values)


def test_the_database_refuses_a_target_not_above_the_threshold(team):
    from django.db import IntegrityError, transaction

    from billing.tests.factories import AutoRechargeFactory

    with pytest.raises(IntegrityError), transaction.atomic():
        AutoRechargeFactory(attribution_id=team.attribution_id, threshold=THRESHOLD, target=THRESHOLD)
    with pytest.raises(IntegrityError), transaction.atomic():
        AutoRechargeFactory(attribution_id=team.attribution_id, threshold=Decimal(-1), target=THRESHOLD)
    AutoRechargeFactory(attribution_id=team.attribution_id)  # 100 → 1000 is fine
    assert AutoRecharge.objects.count() == 1


# --- declines, back-off, turning itself off -------------------------------------------------------


def test_declines_back_off_then_turn_it_off_and_email_the_owners(
    stripe_fake, customer, team, owner, smtp_server, django_capture_on_commit_callbacks
):
    """A card that is declined on every charge, back-off 15 minutes, off after 3 failures:
    failures at t, t+15 min and t+45 min; checks in between charge nothing."""
    save_card(customer.id, DECLINED_ON_CHARGE)
    auto_recharge_set(attribution_id=team.attribution_id, threshold=THRESHOLD, target=TARGET)
    bought_and_used(team.attribution_id)
    t = timezone.now()
    backoff = timedelta(minutes=settings.TALLY_RECHARGE_BACKOFF_MINUTES)

    with django_capture_on_commit_callbacks(execute=True):
        first = recharge_if_needed(attribution_id=team.attribution_id, now=t)
        too_soon = recharge_if_needed(
            attribution_id=team.attribution_id, now=t + backoff - timedelta(seconds=1)
        )
        second = recharge_if_needed(attribution_id=team.attribution_id, now=t + backoff)
        too_soon_again = recharge_if_needed(
            attribution_id=team.attribution_id, now=t + 3 * backoff - timedelta(seconds=1)
        )
        third = recharge_if_needed(attribution_id=team.attribution_id, now=t + 3 * backoff)
        assert smtp_server == []  # sent on commit, not before
    after_off = recharge_if_needed(attribution_id=team.attribution_id, now=t + 10 * backoff)

    assert [r.outcome for r in (first, too_soon, second, too_soon_again, third, after_off)] == [
        "failed",
        "backing_off",
        "failed",
        "backing_off",
        "failed",
        "off",
    ]
    assert len(intent_requests(stripe_fake)) == 3
    assert list(Recharge.objects.values_list("status", flat=True)) == ["failed"] * 3
    state = AutoRecharge.objects.get()
    assert (state.enabled, state.consecutive_failures) == (False, 3)
    assert state.retry_after == t + 3 * backoff + 4 * backoff  # 15 min * 2^(3-1) after the third
    when = (t + 3 * backoff).strftime("%Y-%m-%d %H:%M UTC")
    assert state.disabled_reason.startswith(f"Turned off after 3 failed charges on {when}: Stripe: ")
    assert "declined" in state.disabled_reason
    [mail] = smtp_server
    assert mail.envelope_to == ["alice@acme.test"]
    assert mail["Subject"] == "Auto-recharge is off: your card was declined"
    assert state.disabled_reason in mail.get_content()
    assert not Grant.objects.filter(metadata__source="auto-recharge").exists()

    # The owner saves a working card and turns it back on: it starts afresh.
    save_card(customer.id, GOOD_CARD)
    auto_recharge_set(attribution_id=team.attribution_id, threshold=THRESHOLD, target=TARGET)
    state.refresh_from_db()
    assert (state.enabled, state.consecutive_failures, state.retry_after, state.disabled_reason) == (
        True,
        0,
        None,
        "",
    )
    assert recharge_if_needed(attribution_id=team.attribution_id).outcome == "charged"


def test_a_payment_failed_event_fails_the_recharge_in_flight_and_backs_off(
    stripe_fake, deliver_webhook, customer, team
):
    """A debit Stripe accepted (processing) and the bank refused later: localstripe fails this
    SEPA IBAN half a second after the charge, as a bank does days later."""
    method = stripe.PaymentMethod.create(type="sepa_debit", sepa_debit={"iban": FAILING_IBAN}, **key())
    stripe.PaymentMethod.attach(method["id"], customer=customer.id, **key())
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": method["id"]}, **key())
    auto_recharge_set(attribution_id=team.attribution_id, threshold=THRESHOLD, target=TARGET)
    bought_and_used(team.attribution_id)
    recharge = recharge_if_needed(attribution_id=team.attribution_id).recharge
    assert recharge.status == "processing"
    deadline = time.monotonic() + 10
    while stripe.PaymentIntent.retrieve(recharge.payment_intent_id, **key())["status"] == "processing":
        assert time.monotonic() < deadline, "localstripe never failed the debit"
        time.sleep(0.1)
    received = timezone.now()

    assert (
        deliver_webhook(intent_event("payment_intent.payment_failed", recharge.payment_intent_id)).status_code
        == 200
    )

    recharge.refresh_from_db()
    state = AutoRecharge.objects.get()
    assert recharge.status == "failed"
    assert recharge.failure_message
    assert (state.consecutive_failures, state.enabled) == (1, True)
    backoff = timedelta(minutes=settings.TALLY_RECHARGE_BACKOFF_MINUTES)
    assert received + backoff <= state.retry_after <= timezone.now() + backoff
    assert not Grant.objects.filter(metadata__source="auto-recharge").exists()
    assert recharge_if_needed(attribution_id=team.attribution_id).outcome == "backing_off"


# --- the check runs after the rating job -----------------------------------------------------------


def test_the_rating_job_triggers_the_check_for_the_teams_it_rated(
    stripe_fake, auto_recharge, team, django_capture_on_commit_callbacks
):
    """Usage arrives as meter events, the `usage.rate` job rates it; right after, its hook
    enqueues `billing.recharge_check` for the rated teams on commit (Celery runs eagerly in
    tests; bench/recharge_latency.py measures the real thing)."""
    from core.models import JobRun
    from usage.models import Meter, MeterRate
    from usage.services import usage_rate
    from usage.tests.factories import meter_usage

    bought_and_used(team.attribution_id, used=Decimal("0"))
    meter = Meter.objects.get(slug="container-seconds")
    rate = MeterRate.objects.filter(meter=meter).order_by("-effective_from").first().credits_per_unit
    units = int(Decimal("450") / rate)  # 450 credits: 500 → 50 left, below the threshold of 100
    now = timezone.now()
    meter_usage(team.attribution_id, meter, units, now - timedelta(minutes=1))
    assert not intent_requests(stripe_fake)

    with django_capture_on_commit_callbacks(execute=True):
        usage_rate(now=now)

    [sent] = intent_requests(stripe_fake)
    left = BOUGHT - Decimal(units) * rate
    assert (
        Decimal(sent["amount"])
        == (TARGET - left).to_integral_value(rounding="ROUND_CEILING") * EUR_PER_CREDIT_MINOR
    )
    run = JobRun.objects.filter(job="billing.recharge_check").latest("started_at")
    assert (run.triggered_by, run.result["charged"]) == ("usage.rate", 1)


def test_the_sweep_checks_every_enabled_team(stripe_fake, auto_recharge, team):
    bought_and_used(team.attribution_id)

    result = recharges_check()

    assert (result["checked"], result["charged"]) == (1, 1)
    assert len(intent_requests(stripe_fake)) == 1


# --- the team page ---------------------------------------------------------------------------------


def test_the_owner_turns_it_on_from_the_page_and_reads_its_state_in_words(client, card, team, owner, member):
    page_url = f"/teams/{team.slug}/billing/"
    bought_and_used(team.attribution_id)
    client.force_login(owner)
    before = client.get(page_url).content.decode()
    assert "<strong>Off.</strong> Turn it on" in before
    assert 'title="3.000000">3.00</span> credits (prepaid and top-up grants' in before

    response = client.post(
        f"/teams/{team.slug}/billing/auto-recharge", {"threshold": "100", "target": "1000"}, follow=True
    )

    page = response.content.decode()
    assert "Auto-recharge is on." in page
    assert (
        'When your prepaid credits fall below <span class="exact" title="100.000000">100.00</span> credits,'
        " your saved card is charged once to bring them back to"
        ' <span class="exact" title="1000.000000">1,000.00</span> credits.'
    ) in page
    assert "at €0.36 a credit" in page
    api = client.get(f"/api/v1/billing/{team.attribution_id}/auto-recharge").json()
    assert (api["threshold"], api["target"], api["prepaid_credits_left"]) == (
        "100.000000",
        "1000.000000",
        "3.000000",
    )

    client.force_login(member)
    assert 'id="auto-recharge"' not in client.get(page_url).content.decode()
    refused = client.post(f"/teams/{team.slug}/billing/auto-recharge/off")
    assert refused.status_code == 404
    assert AutoRecharge.objects.get().enabled


def test_the_page_says_why_it_turned_off_and_offers_to_turn_it_back_on(
    client, stripe_fake, customer, team, owner, django_capture_on_commit_callbacks, smtp_server
):
    save_card(customer.id, DECLINED_ON_CHARGE)
    auto_recharge_set(attribution_id=team.attribution_id, threshold=THRESHOLD, target=TARGET)
    bought_and_used(team.attribution_id)
    t = timezone.now()
    backoff = timedelta(minutes=settings.TALLY_RECHARGE_BACKOFF_MINUTES)
    with django_capture_on_commit_callbacks(execute=True):
        for minutes in (0, 1, 3):
            recharge_if_needed(attribution_id=team.attribution_id, now=t + minutes * backoff)
    client.force_login(owner)

    page = client.get(f"/teams/{team.slug}/billing/").content.decode()

    state = AutoRecharge.objects.get()
    assert state.disabled_reason.startswith("Turned off after 3 failed charges on ")
    assert (
        f'<div class="banner" role="alert" id="auto-recharge-disabled">{state.disabled_reason}'
        in page.replace("&#x27;", "'")
    )
    assert "Failed charges in a row: 3 of 3 before it turns itself off" in page
    assert "Last recharge: <span" in page and 'for <span title="358.92 EUR">€358.92</span>' in page
    assert ">Turn back on</button>" in page


# --- the admin -------------------------------------------------------------------------------------


def test_finance_turns_a_teams_auto_recharge_off_in_the_admin_and_reads_its_recharges(
    client, stripe_fake, auto_recharge, team
):
    from billing.tests.factories import FinanceUserFactory

    bought_and_used(team.attribution_id)
    recharge_if_needed(attribution_id=team.attribution_id)
    client.force_login(FinanceUserFactory())
    url = f"/admin/billing/autorecharge/{auto_recharge.pk}/change/"
    form = client.get(url)
    assert form.status_code == 200
    assert "Acme" in form.content.decode()  # the team by name, not its id

    saved = client.post(url, {"threshold": "200", "target": "2000"})  # "enabled" unticked

    assert saved.status_code == 302, saved.content.decode()[:2000]
    state = AutoRecharge.objects.get()
    assert (state.enabled, state.threshold, state.target) == (False, Decimal("200"), Decimal("2000"))
    assert state.changed_by == "admin:finance"
    assert AuditEvent.objects.filter(
        action="auto_recharge.updated", attribution_id=team.attribution_id
    ).exists()
    listing = client.get("/admin/billing/recharge/").content.decode()
    assert "Acme" in listing and "€358.92" in listing
    assert client.post(f"/admin/billing/recharge/{Recharge.objects.get().pk}/change/", {}).status_code == 403


def test_the_sweep_waits_out_the_back_off_on_the_clock(stripe_fake, customer, team):
    """The job reads the clock itself: a decline now, then the sweep a second before the back-off
    ends charges nothing, and a second after it charges again."""
    import time_machine

    save_card(customer.id, DECLINED_ON_CHARGE)
    auto_recharge_set(attribution_id=team.attribution_id, threshold=THRESHOLD, target=TARGET)
    bought_and_used(team.attribution_id)
    backoff = timedelta(minutes=settings.TALLY_RECHARGE_BACKOFF_MINUTES)
    declined_at = timezone.now()
    assert recharges_check(now=declined_at)["failed"] == 1

    with time_machine.travel(declined_at + backoff - timedelta(seconds=1), tick=False):
        waiting = recharges_check()
    with time_machine.travel(declined_at + backoff + timedelta(seconds=1), tick=False):
        retried = recharges_check()

    assert (waiting["checked"], waiting["charged"], waiting["failed"]) == (1, 0, 0)
    assert (retried["checked"], retried["failed"]) == (1, 1)
    assert len(intent_requests(stripe_fake)) == 2
    assert AutoRecharge.objects.get().consecutive_failures == 2
