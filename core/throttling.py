"""API throttling: fixed-window counters in the Django cache (Redis when REDIS_URL is set).

Who is counted, and against which rate (settings, from `TALLY_THROTTLE_*`):

- a team API key, per key id: `TALLY_THROTTLE_KEY`;
- a signed-in user (session), per user: `TALLY_THROTTLE_USER`;
- an anonymous caller, per client IP (IPv6 per /64): `TALLY_THROTTLE_ANON`; DRF checks
  permissions before throttles, so on the API this is the bucket of failed authentication
  (401s, counted by `auth_failure_throttled` from the exception handler);
- `POST /api/v1/events` (views with `throttle_scope = "ingest"`), per key or user, in its own
  bucket: `TALLY_THROTTLE_INGEST`;
- the internal service token: `TALLY_THROTTLE_INTERNAL`, empty by default (exempt).

The client IP is REMOTE_ADDR unless `TALLY_THROTTLE_TRUSTED_PROXIES` = N > 0: then it is the
N-th address from the right of X-Forwarded-For (what the outermost trusted proxy saw).

Fail open: when the cache cannot be reached the request goes through, the failure is counted
(`tally_redis_unavailable_total{component="throttle"}`), a warning is logged at most once a
minute, and the cache is left alone for `UNAVAILABLE_RETRY_SECONDS` so an outage costs each
request nothing.
"""

import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

from core.metrics import REDIS_UNAVAILABLE, THROTTLED_REQUESTS

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
UNAVAILABLE_RETRY_SECONDS = 5.0
WARNING_INTERVAL_SECONDS = 60.0
CACHE_ERRORS = (redis.RedisError, OSError)


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int


def parse_rate(value: str | None) -> Rate | None:
    """`"1200/min"` → Rate(1200, 60); empty or None → no limit. Periods: s, m(in), h(our), d(ay)."""
    if not value:
        return None
    count, _, period = str(value).partition("/")
    unit = period.strip()[:1].lower()
    try:
        limit = int(count)
    except ValueError:
        limit = -1
    if limit < 1 or unit not in PERIODS:
        raise ImproperlyConfigured(f"Throttle rate {value!r} is not like '1200/min' (periods: s, m, h, d).")
    return Rate(limit, PERIODS[unit])


RATE_SETTINGS = (
    "TALLY_THROTTLE_KEY",
    "TALLY_THROTTLE_USER",
    "TALLY_THROTTLE_ANON",
    "TALLY_THROTTLE_INGEST",
    "TALLY_THROTTLE_INTERNAL",
)


def check_rate_settings() -> None:
    """At startup (CoreConfig.ready): a mistyped rate stops the process, not every request."""
    for name in RATE_SETTINGS:
        parse_rate(getattr(settings, name))


def rate_text(rate: Rate) -> str:
    unit = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}[rate.seconds]
    return f"{rate.limit} per {unit}"


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, or X-Forwarded-For behind trusted proxies."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TALLY_THROTTLE_TRUSTED_PROXIES
    if proxies > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if forwarded:
            remote = forwarded[-min(proxies, len(forwarded))]
    return remote


def ip_bucket(address: str) -> str:
    """One bucket per IPv4 address and per IPv6 /64 (what one host usually holds)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class _Breaker:
    """Per cache location: after a failure the cache is not asked again for a few seconds."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open_until: dict[str, float] = {}
        self._last_warning: dict[str, float] = {}

    @staticmethod
    def _location() -> str:
        return str(settings.CACHES.get("default", {}).get("LOCATION", ""))

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until.get(self._location(), 0.0)

    def trip(self, exc: BaseException) -> None:
        REDIS_UNAVAILABLE.labels(component="throttle").inc()
        now, location = time.monotonic(), self._location()
        with self._lock:
            self._open_until[location] = now + UNAVAILABLE_RETRY_SECONDS
            warn = now - self._last_warning.get(location, -math.inf) >= WARNING_INTERVAL_SECONDS
            if warn:
                self._last_warning[location] = now
        if warn:
            logger.warning(
                "Throttling is off: the cache is unreachable (%s: %s); requests go through "
                "unthrottled, retrying every %ss.",
                type(exc).__name__,
                exc,
                UNAVAILABLE_RETRY_SECONDS,
            )


_breaker = _Breaker()


def _hit(bucket: str, rate: Rate) -> float | None:
    """Count one request in `bucket`; the seconds to wait when over the rate, else None.

    Fixed windows aligned on the epoch: a burst may reach twice the rate across a window edge,
    which is fine for protection and costs two cache round trips, whatever the rate.
    """
    if _breaker.is_open():
        return None
    now = time.time()
    window = int(now // rate.seconds)
    key = f"throttle:{bucket}:{window}"
    try:
        try:
            count = cache.incr(key)
        except ValueError:  # the window's first request
            # The key outlives its window a little, in case a server's clock runs behind.
            count = 1 if cache.add(key, 1, timeout=rate.seconds + 60) else cache.incr(key)
    except CACHE_ERRORS as exc:
        _breaker.trip(exc)
        return None
    if count <= rate.limit:
        return None
    return max(1.0, (window + 1) * rate.seconds - now)


def _rate(setting: str) -> Rate | None:
    return parse_rate(getattr(settings, setting))


def _caller(request) -> tuple[str, str]:
    """(kind, identity) of whoever makes the request."""
    user = getattr(request, "user", None)
    if getattr(user, "is_internal", False):
        return "internal", "token"
    api_key = getattr(user, "api_key", None)
    if api_key is not None:
        return "key", str(api_key.pk)
    if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) is not None:
        return "user", str(user.pk)
    return "anon", ip_bucket(client_ip(request))


class TallyThrottle(BaseThrottle):
    """The one throttle of the API (REST_FRAMEWORK DEFAULT_THROTTLE_CLASSES)."""

    RATE_SETTINGS = {
        "internal": "TALLY_THROTTLE_INTERNAL",
        "key": "TALLY_THROTTLE_KEY",
        "user": "TALLY_THROTTLE_USER",
        "anon": "TALLY_THROTTLE_ANON",
    }

    def __init__(self):
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        if not settings.TALLY_THROTTLE_ENABLED:
            return True
        kind, identity = _caller(request)
        scope = kind
        setting = self.RATE_SETTINGS[kind]
        if getattr(view, "throttle_scope", None) == "ingest" and kind in ("key", "user"):
            scope, setting = "ingest", "TALLY_THROTTLE_INGEST"
        rate = _rate(setting)
        if rate is None:
            return True
        bucket = f"{scope}:{identity}" if scope == kind else f"{scope}:{kind}:{identity}"
        self._wait = _hit(bucket, rate)
        if self._wait is None:
            return True
        THROTTLED_REQUESTS.labels(scope=scope).inc()
        logger.info(
            "Throttled %s (%s %s): over %s, retry after %.0fs.",
            scope,
            kind,
            identity,
            rate_text(rate),
            self._wait,
        )
        return False

    def wait(self) -> float | None:
        return self._wait


def auth_failure_throttled(request) -> int | None:
    """Count a 401 against the caller's IP; the seconds to wait once over TALLY_THROTTLE_ANON."""
    if request is None or not settings.TALLY_THROTTLE_ENABLED:
        return None
    rate = _rate("TALLY_THROTTLE_ANON")
    if rate is None:
        return None
    wait = _hit(f"anon:{ip_bucket(client_ip(request))}", rate)  # the anonymous callers' bucket
    if wait is None:
        return None
    THROTTLED_REQUESTS.labels(scope="auth_failure").inc()
    logger.info("Throttled failed authentication from %s: over %s.", client_ip(request), rate_text(rate))
    return math.ceil(wait)
