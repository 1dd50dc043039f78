"""Who may see which attribution.

core knows attribution ids, not teams: the app that owns teams registers a resolver that
answers "which attribution ids may this signed-in user see" (billing does, in its AppConfig).
"""

from collections.abc import Callable, Iterable

from core.attribution import normalize_attribution_id
from core.auth import is_staff_or_internal
from core.errors import Forbidden, NotFound

_user_resolver: Callable[[object], Iterable[str]] | None = None
_owner_resolver: Callable[[object], Iterable[str]] | None = None


def register_user_attribution_resolver(
    *, member_of: Callable[[object], Iterable[str]], owner_of: Callable[[object], Iterable[str]]
) -> None:
    global _user_resolver, _owner_resolver
    _user_resolver, _owner_resolver = member_of, owner_of


def visible_attribution_ids(user) -> set[str] | None:
    """None means "all" (staff, internal); otherwise the ids this caller may read."""
    if is_staff_or_internal(user):
        return None
    own = getattr(user, "attribution_id", None)
    if own:  # an API key
        return {own}
    if getattr(user, "is_authenticated", False) and _user_resolver is not None:
        return set(_user_resolver(user))
    return set()


def ensure_can_read(user, attribution_id: str) -> str:
    """The normalized id when the caller may read it; a 404 (never a 403) when not."""
    normalized = normalize_attribution_id(attribution_id)
    visible = visible_attribution_ids(user)
    if visible is not None and normalized not in visible:
        raise NotFound(f"No data for {normalized}.", code="not_found")
    return normalized


def ensure_is_owner(user, attribution_id: str) -> str:
    """Signed-in owners of the attribution's team (or staff/internal) only."""
    normalized = ensure_can_read(user, attribution_id)
    if is_staff_or_internal(user) or _owner_resolver is None:
        return normalized
    if getattr(user, "attribution_id", None) or normalized not in set(_owner_resolver(user)):
        raise Forbidden("Only an owner of this team may do that.", code="owner_required")
    return normalized
