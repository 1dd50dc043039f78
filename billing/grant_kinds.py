"""What kind of grant a grant is (prepaid, promotional, allowance, top-up): one rule for the
page, the selectors and the services. Plain Python: imports no Django and no models."""

from datetime import datetime

GRANT_KINDS = ("prepaid", "promotional", "allowance", "top-up")
"""The kinds a grant's `metadata["kind"]` may name. A grant without one is read as promotional
when it expires and prepaid when it does not (the page says the kind was inferred)."""

PAID_FOR_KINDS = ("prepaid", "top-up")
"""Credits somebody paid for: what auto-recharge keeps topped up."""


def grant_kind(metadata: dict, expires_at: datetime | None) -> tuple[str, bool]:
    """(kind, inferred): the grant's own `metadata["kind"]`, or promotional if it expires, else prepaid."""
    kind = str((metadata or {}).get("kind", "")).strip().lower().replace("_", "-")
    if kind == "topup":
        kind = "top-up"
    if kind in GRANT_KINDS:
        return kind, False
    return ("promotional" if expires_at is not None else "prepaid"), True
