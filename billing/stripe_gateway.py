"""The only module that talks to Stripe: calls are counted, errors become 502s with Stripe's
message and request id (never a 500), and amounts stay integer minor units."""

import logging
from contextlib import contextmanager

import stripe
from django.conf import settings
from prometheus_client import Counter

from core.errors import UpstreamError
from core.metrics import REGISTRY

logger = logging.getLogger(__name__)

STRIPE_CALLS = Counter(
    "tally_stripe_calls_total",
    "Stripe API calls by resource and outcome.",
    ["resource", "status"],
    registry=REGISTRY,
)

STRIPE_WEBHOOKS = Counter(
    "tally_stripe_webhooks_total",
    "Stripe events through Tally's handlers, by event type and outcome (succeeded, ignored, "
    "error: the handler raised and Stripe will retry, duplicate: handled before).",
    ["type", "outcome"],
    registry=REGISTRY,
)
STRIPE_WEBHOOK_DELIVERIES = Counter(
    "tally_stripe_webhook_deliveries_total",
    "Deliveries to dj-stripe's webhook endpoint by event type (`unverified` when the signature "
    "failed) and outcome (processed, invalid: bad signature or stale, error: answered 500).",
    ["type", "outcome"],
    registry=REGISTRY,
)


def client_kwargs() -> dict:
    """api_key for every call; api_base follows settings (tests point it at loopback)."""
    key = settings.STRIPE_LIVE_SECRET_KEY if settings.STRIPE_LIVE_MODE else settings.STRIPE_TEST_SECRET_KEY
    if stripe.api_key != key:
        stripe.api_key = key  # dj-stripe's nested retrieves (products, prices) use the global key
    if settings.STRIPE_API_BASE and stripe.api_base != settings.STRIPE_API_BASE:
        stripe.api_base = settings.STRIPE_API_BASE
    return {"api_key": key}


@contextmanager
def stripe_call(resource: str):
    try:
        yield
    except stripe.StripeError as exc:
        STRIPE_CALLS.labels(resource=resource, status="error").inc()
        request_id = getattr(exc, "request_id", None) or ""
        message = getattr(exc, "user_message", None) or str(exc) or exc.__class__.__name__
        logger.warning("Stripe %s failed: %s (request %s)", resource, message, request_id)
        raise UpstreamError(
            f"Stripe: {message}",
            code="stripe_error",
            details={"request_id": request_id, "stripe_code": getattr(exc, "code", None)},
        ) from exc
    STRIPE_CALLS.labels(resource=resource, status="ok").inc()


def is_already_exists(exc: BaseException) -> bool:
    cause = exc.__cause__ if isinstance(exc, UpstreamError) else exc
    return getattr(cause, "code", None) == "resource_already_exists"
