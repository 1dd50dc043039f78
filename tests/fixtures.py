"""Fixtures shared by every app's tests: real PostgreSQL, Redis and Stripe-shaped rows."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from billing.models import Membership
from billing.tests.factories import MembershipFactory, StaffUserFactory, TeamFactory, UserFactory
from core.locks import redis_client
from core.tests.factories import APIKeyFactory

STRIPE_FIXTURES = Path(__file__).resolve().parent / "stripe_fixtures"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def internal_client() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {settings.INTERNAL_SERVICE_TOKEN}")
    return client


@pytest.fixture
def team(db):
    return TeamFactory(name="Acme", slug="acme")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Globex", slug="globex")


@pytest.fixture
def owner(team):
    user = UserFactory(username="alice")
    MembershipFactory(team=team, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def member(team):
    user = UserFactory(username="bob")
    MembershipFactory(team=team, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def staff_user(db):
    return StaffUserFactory(username="finance")


@pytest.fixture
def team_key(team):
    return APIKeyFactory(attribution_id=team.attribution_id, name="acme key")


@pytest.fixture
def team_key_client(team_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {team_key.raw_key}")
    return client


@pytest.fixture
def redis(settings):
    """The real Redis of the run; keys under this run's prefix are removed afterwards."""
    client = redis_client(settings.REDIS_URL)
    client.ping()
    yield client
    for key in client.scan_iter(match=settings.TALLY_LOCK_PREFIX + "*"):
        client.delete(key)


@pytest.fixture
def stripe_account(db):
    """The dj-stripe Account and APIKey rows dj-stripe needs before it processes events."""
    from djstripe.models import Account
    from djstripe.models import APIKey as StripeAPIKey

    data = json.loads((STRIPE_FIXTURES / "account.json").read_text())
    account = Account.objects.create(id=data["id"], livemode=False, stripe_data=data)
    StripeAPIKey.objects.create(
        secret=settings.STRIPE_TEST_SECRET_KEY,
        type="secret",
        livemode=False,
        djstripe_owner_account=account,
    )
    return account


@pytest.fixture
def stripe_webhook_endpoint(stripe_account):
    """A dj-stripe WebhookEndpoint row: its uuid is the route, its secret signs deliveries."""
    import uuid

    from djstripe.models import WebhookEndpoint

    endpoint_uuid = uuid.uuid4()
    data = {
        "id": "we_tallytest0001",
        "object": "webhook_endpoint",
        "livemode": False,
        "api_version": "",
        "application": "",
        "description": "Tally tests",
        "enabled_events": ["*"],
        "metadata": {"djstripe_uuid": str(endpoint_uuid)},
        "status": "enabled",
        "url": f"https://tally.test/stripe/webhook/{endpoint_uuid}/",
    }
    return WebhookEndpoint.objects.create(
        id=data["id"],
        livemode=False,
        stripe_data=data,
        url=data["url"],
        api_version="",
        application="",
        enabled_events=["*"],
        status="enabled",
        secret="whsec_tally_test_secret",
        djstripe_uuid=endpoint_uuid,
        djstripe_owner_account=stripe_account,
    )


@pytest.fixture
def deliver_webhook(client, stripe_webhook_endpoint):
    """Deliver a Stripe event to dj-stripe's real endpoint, signed as Stripe signs it.

    `secret` signs with another secret (a forgery), `timestamp` dates the signature (a stale
    one), `signed=False` sends no signature at all.
    """
    import json

    from tests.stripe_fake import sign_webhook

    def send(event: dict, *, secret: str | None = None, timestamp: int | None = None, signed: bool = True):
        body = json.dumps(event)
        headers = {}
        if signed:
            headers["HTTP_STRIPE_SIGNATURE"] = sign_webhook(
                body, secret or stripe_webhook_endpoint.secret, timestamp=timestamp
            )
        client.raise_request_exception = False
        return client.post(
            f"/stripe/webhook/{stripe_webhook_endpoint.djstripe_uuid}/",
            data=body,
            content_type="application/json",
            **headers,
        )

    return send


SEED_MIGRATIONS = ("usage.migrations.0003_seed_workspace_classes", "usage.migrations.0007_seed_meters")


def seed_reference_data() -> None:
    """Re-run the idempotent data migrations that seed meters, rates and workspace classes."""
    import importlib

    from django.apps import apps

    for module in SEED_MIGRATIONS:
        importlib.import_module(module).seed(apps, None)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # A transactional test's flush empties every table, seeded rows included, and --reuse-db
    # keeps that state for the next run: seed again once per session.
    with django_db_blocker.unblock():
        seed_reference_data()


@pytest.fixture
def reference_data(transactional_db):
    """For transactional tests that need the seeded rows (earlier flushes removed them)."""
    seed_reference_data()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe_url():
    """A real localstripe process on loopback for the whole session."""
    import shutil
    import subprocess
    import sys
    import tempfile
    import time as _time
    import urllib.request

    binary = shutil.which("localstripe") or str(Path(sys.executable).with_name("localstripe"))
    log = tempfile.TemporaryFile()  # noqa: SIM115 - open for the whole session, closed after it

    def start():
        port = _free_port()
        # --from-scratch: localstripe keeps one store file for every process on the machine
        # (/tmp/localstripe.pickle); loading it raced with parallel suites writing it.
        return subprocess.Popen(
            [binary, "--port", str(port), "--from-scratch"], stdout=log, stderr=log
        ), f"http://127.0.0.1:{port}"

    # A free port can be taken between choosing it and localstripe binding it (other suites share
    # this machine): a process that exits at once is started again on another port.
    process, url = start()
    attempts = 1
    deadline = _time.monotonic() + 60
    while True:
        try:
            request = urllib.request.Request(
                f"{url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"}
            )
            urllib.request.urlopen(request, timeout=1).read()
            break
        except OSError:
            if process.poll() is not None and attempts < 3:
                process, url = start()
                attempts += 1
                continue
            if _time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                log.seek(0)
                tail = log.read()[-2000:].decode(errors="replace")
                raise RuntimeError(
                    f"localstripe did not start ({attempts} tries); it said:\n{tail}"
                ) from None
            _time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture
def stripe_fake(localstripe_url, settings, stripe_account):
    """stripe-python pointed at the loopback fake (which forwards to localstripe)."""
    import stripe

    from tests.stripe_fake import StripeFake

    fake = StripeFake(localstripe_url)
    fake.add_price(currency="eur", unit_amount=36, price_id="price_credits_eur")
    fake.add_price(currency="usd", unit_amount=40, price_id="price_credits_usd")
    settings.STRIPE_PRICE_IDS = {"eur": "price_credits_eur", "usd": "price_credits_usd"}
    previous = stripe.api_base
    stripe.api_base = fake.url
    settings.STRIPE_API_BASE = fake.url
    yield fake
    stripe.api_base = previous
    fake.close()


# --- Email: a real SMTP server (aiosmtpd) on loopback ---------------------------------------
@pytest.fixture
def smtp_server(settings):
    """An aiosmtpd SMTP server on 127.0.0.1, with Django's SMTP backend pointed at it.

    Yields the inbox: a list of `email.message.EmailMessage` as the server received them (with
    `envelope_to`, the RCPT TO addresses, on each). Mail is sent on commit: a test inside the
    `db` transaction runs the callbacks with `django_capture_on_commit_callbacks(execute=True)`.
    """
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    class Inbox(list):
        async def handle_DATA(self, server, session, envelope):
            message = message_from_bytes(envelope.content, policy=policy.default)
            message.envelope_to = list(envelope.rcpt_tos)
            self.append(message)
            return "250 Message accepted"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()
