"""Traffic settings, parsed and checked: a bad value is a startup error naming the problem.

Every setting comes from the environment (config/settings/base.py); this module turns the raw
values into typed ones. `validate_settings()` runs from `UsageConfig.ready()`.
"""

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.money import RATE_PLACES, to_decimal

DEFAULT_TIMEOUT_SECONDS = 15
SOURCE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class SourceConfig:
    """One exporter source as declared in the environment."""

    source_id: str
    base_url: str
    expected_node_id: str = ""
    expected_env: str = ""
    enabled: bool = True
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    region: str = ""
    line: str = ""


def _fail(message: str):
    raise ImproperlyConfigured(message)


def check_base_url(value: object, *, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(f"{where}: base_url is required.")
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        _fail(f"{where}: base_url {value!r} must be an http(s) URL such as https://exporter.example.com.")
    if parts.query or parts.fragment:
        _fail(f"{where}: base_url {value!r} must not carry a query string or fragment.")
    return url


def parse_sources(raw_json: str | None, base_url: str | None) -> list[SourceConfig]:
    """EXPORTER_SOURCES_JSON (an array of sources) or, when it is empty, EXPORTER_BASE_URL as
    the single source `default`; neither set means no sources from the environment."""
    raw_json = (raw_json or "").strip()
    if not raw_json:
        if (base_url or "").strip():
            return [
                SourceConfig(
                    source_id="default", base_url=check_base_url(base_url, where="EXPORTER_BASE_URL")
                )
            ]
        return []
    try:
        items = json.loads(raw_json)
    except ValueError as exc:
        _fail(f"EXPORTER_SOURCES_JSON is not valid JSON: {exc}.")
    if not isinstance(items, list) or not items:
        _fail("EXPORTER_SOURCES_JSON must be a non-empty JSON array of sources.")
    sources: list[SourceConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        where = f"EXPORTER_SOURCES_JSON source #{index}"
        if not isinstance(item, dict):
            _fail(f"{where} must be a JSON object.")
        source_id = item.get("source_id")
        if not isinstance(source_id, str) or not source_id.strip():
            _fail(f"{where} has no source_id.")
        source_id = source_id.strip()
        where = f"EXPORTER_SOURCES_JSON source {source_id!r}"
        if not SOURCE_ID_PATTERN.match(source_id):
            _fail(f"{where}: source_id may hold letters, digits, '.', '_' and '-' (at most 64).")
        if source_id in seen:
            _fail(f"{where} is declared twice.")
        seen.add(source_id)
        url = check_base_url(item.get("base_url"), where=where)
        enabled = item.get("enabled", True)
        if enabled is None:
            enabled = True
        if not isinstance(enabled, bool):
            _fail(f"{where}: enabled must be true or false.")
        timeout = item.get("timeout_seconds")
        if timeout in (None, 0):
            timeout = DEFAULT_TIMEOUT_SECONDS
        if type(timeout) is not int or timeout < 0:
            _fail(f"{where}: timeout_seconds must be a positive whole number of seconds.")
        texts = {}
        for key in ("expected_node_id", "expected_env", "region", "line"):
            value = item.get(key) or ""
            if not isinstance(value, str):
                _fail(f"{where}: {key} must be a string.")
            texts[key] = value.strip()
        sources.append(
            SourceConfig(source_id=source_id, base_url=url, enabled=enabled, timeout_seconds=timeout, **texts)
        )
    return sources


def configured_sources() -> list[SourceConfig]:
    return parse_sources(
        getattr(settings, "EXPORTER_SOURCES_JSON", ""), getattr(settings, "EXPORTER_BASE_URL", "")
    )


def _setting(name: str, default):
    value = getattr(settings, name, default)
    return default if value is None or value == "" else value


def price_per_byte() -> Decimal:
    """PRICE_PER_BYTE: default credits per chargeable byte (at most 15 decimal places)."""
    raw = _setting("PRICE_PER_BYTE", "0.000000001")
    try:
        value = to_decimal(raw if not isinstance(raw, str) else raw.strip())
    except (TypeError, ValueError):
        _fail(f"PRICE_PER_BYTE must be a decimal number of credits per byte (got {raw!r}).")
    if value < 0:
        _fail(f"PRICE_PER_BYTE must not be negative (got {raw!r}).")
    if value.as_tuple().exponent < -RATE_PLACES:
        _fail(f"PRICE_PER_BYTE may have at most {RATE_PLACES} decimal places (got {raw!r}).")
    return value


def initial_balance() -> Decimal:
    """INITIAL_BALANCE: credits granted to an account when Tally first sees it (credits/ grants it)."""
    raw = _setting("INITIAL_BALANCE", "0")
    try:
        value = to_decimal(raw if not isinstance(raw, str) else raw.strip())
    except (TypeError, ValueError):
        _fail(f"INITIAL_BALANCE must be a decimal number of credits (got {raw!r}).")
    if value < 0:
        _fail(f"INITIAL_BALANCE must not be negative (got {raw!r}).")
    if value.as_tuple().exponent < -6:
        _fail(f"INITIAL_BALANCE may have at most 6 decimal places (got {raw!r}).")
    return value


def _whole(name: str, default: int, *, minimum: int) -> int:
    raw = _setting(name, default)
    if isinstance(raw, bool):
        _fail(f"{name} must be a whole number (got {raw!r}).")
    try:
        value = raw if isinstance(raw, int) else int(str(raw).strip())
    except ValueError:
        _fail(f"{name} must be a whole number (got {raw!r}).")
    if value < minimum:
        _fail(f"{name} must be at least {minimum} (got {raw!r}).")
    return value


def initial_included_quota_bytes() -> int:
    """INITIAL_INCLUDED_QUOTA_BYTES: included bytes of an account whose profile sets none."""
    return _whole("INITIAL_INCLUDED_QUOTA_BYTES", 0, minimum=0)


def collect_interval_seconds() -> int:
    """COLLECT_INTERVAL: seconds between scheduled collect-and-rate runs (seeds the beat schedule)."""
    return _whole("COLLECT_INTERVAL", 60, minimum=1)


def default_region() -> str:
    return str(_setting("DEFAULT_REGION", "default")).strip() or "default"


def source_revision() -> str:
    """SOURCE_REVISION: the pricing rule version of accounts whose profile names none."""
    return str(_setting("SOURCE_REVISION", "tally-traffic-v1")).strip() or "tally-traffic-v1"


def parse_image(image: str | None) -> dict[str, str]:
    """`/api/ping` from IMAGE: tag after the last colon; a 40-hex or sha-<40 hex> tag is the
    commit and the version. Anything that cannot be read stays empty, never invented."""
    image = (image or "").strip()
    info = {"image": image, "tag": "", "commit": "", "version": ""}
    reference = image.split("@", 1)[0]  # a digest (@sha256:...) is not a tag
    head, colon, tag = reference.rpartition(":")
    if not colon or not head or not tag or "/" in tag:
        return info  # no tag (a colon before a "/" is a registry port)
    info["tag"] = tag
    commit = tag[4:] if tag.startswith("sha-") else tag
    if _FULL_SHA.match(commit):
        info["commit"] = info["version"] = commit
    return info


def validate_settings() -> None:
    """Every traffic setting, parsed once; the first problem is raised, naming the setting."""
    configured_sources()
    price_per_byte()
    initial_balance()
    initial_included_quota_bytes()
    collect_interval_seconds()
