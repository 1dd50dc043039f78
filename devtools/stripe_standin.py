"""Tally's local Stripe stand-in for `make demo`: test mode only, never Stripe itself.

Runs the loopback Stripe double the tests use (tests.stripe_fake.StripeFake: what localstripe
lacks, served in Stripe's shapes, the rest forwarded to a real localstripe process) as its own
process, with the demo's prices and the hosted test-mode checkout page delivering signed events
to Tally's dj-stripe endpoint.

    python -m devtools.stripe_standin --port 8430 --localstripe http://127.0.0.1:8420 \
        --webhook-url http://127.0.0.1:8000/stripe/webhook/<uuid>/ --webhook-secret whsec_...
"""

import argparse
import signal
import sys
import threading
import uuid

DEMO_WEBHOOK_UUID = uuid.UUID("7a11e7de-0000-4000-8000-00000000d3a0")
DEMO_WEBHOOK_SECRET = "whsec_tally_demo_test_mode"
DEMO_PRICES = {"eur": ("price_credits_eur", 36), "usd": ("price_credits_usd", 40)}


def webhook_path() -> str:
    """dj-stripe's endpoint for the demo's webhook endpoint row (devtools.demo_stripe makes it)."""
    return f"/stripe/webhook/{DEMO_WEBHOOK_UUID}/"


def price_ids_setting() -> str:
    """STRIPE_PRICE_IDS for the demo's prices (`eur=price_…,usd=price_…`)."""
    return ",".join(f"{currency}={price_id}" for currency, (price_id, _) in DEMO_PRICES.items())


def main(argv: list[str] | None = None) -> int:
    from tests.stripe_fake import StripeFake

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--localstripe", required=True)
    parser.add_argument("--webhook-url", required=True)
    parser.add_argument("--webhook-secret", required=True)
    args = parser.parse_args(argv)
    fake = StripeFake(args.localstripe, port=args.port)
    fake.webhook_url = args.webhook_url
    fake.webhook_secret = args.webhook_secret
    for currency, (price_id, unit_amount) in DEMO_PRICES.items():
        fake.add_price(currency=currency, unit_amount=unit_amount, price_id=price_id)
    print(f"Stripe stand-in (TEST MODE) on {fake.url}, delivering to {fake.webhook_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
