"""Callbacks other apps register for usage events (usage imports no app above it).

credits registers `on_usage_backdated` in its AppConfig.ready to drop stale balance snapshots;
billing and traffic register payer resolvers (who exists) with `register_payer_resolver`;
billing registers `on_usage_rated` to check auto-recharge right after a rating run.
"""

from collections.abc import Callable, Iterable

from core.attribution import normalize_attribution_id
from core.errors import UnknownAttribution

_usage_backdated: list[Callable[..., None]] = []

# Usage that lands this far in the past may be older than a credits snapshot (those are
# taken at whole hours at least this long ago).
BACKDATED_AFTER_MINUTES = 10


def on_usage_backdated(callback: Callable[..., None]) -> Callable[..., None]:
    _usage_backdated.append(callback)
    return callback


def usage_backdated(*, attribution_id: str, since) -> None:
    """Usage of `attribution_id` changed at or after `since`, which may be in the past:
    anything derived from usage before now (credits balance snapshots) must be recomputed."""
    for callback in _usage_backdated:
        callback(attribution_id=attribution_id, since=since)


# Who exists. usage and credits know attribution ids only; the apps that own payers say which
# ids name somebody: billing answers for `team:` ids (a billing.Team with that uuid), traffic for
# `user:` ids (a traffic account carrying it). Billing state (a grant, a ledger, a credit note,
# a cost center) is written only for a registered payer; usage of anyone else is kept and rated
# but makes no cost center until the payer is registered.
_payer_resolvers: list[Callable[[set[str]], Iterable[str]]] = []


def register_payer_resolver(resolver: Callable[[set[str]], Iterable[str]]) -> None:
    """`resolver(ids)` answers the subset of the normalized `ids` it knows as payers."""
    if resolver not in _payer_resolvers:
        _payer_resolvers.append(resolver)


def registered_payers(attribution_ids: Iterable[str]) -> set[str]:
    """The ids among the normalized `attribution_ids` that name a registered payer."""
    wanted = set(attribution_ids)
    known: set[str] = set()
    for resolver in _payer_resolvers:
        if not wanted - known:
            break
        known |= set(resolver(wanted - known)) & wanted
    return known


def ensure_registered_payer(attribution_id: str) -> str:
    """The normalized id, or UnknownAttribution (400 `unknown_attribution`) when it names nobody."""
    normalized = normalize_attribution_id(attribution_id)
    if normalized not in registered_payers([normalized]):
        how = (
            "create the team with this attribution_id (POST /api/v1/teams)"
            if normalized.startswith("team:")
            else "create the traffic account that carries it"
        )
        raise UnknownAttribution(
            f"{normalized} names no registered payer; {how} first. Its usage is kept meanwhile."
        )
    return normalized


# Usage rated: a rating run (`usage.rate`) wrote usage entries for these attributions and
# committed them. Billing checks auto-recharge for them at once instead of waiting for its sweep.
_usage_rated: list[Callable[..., None]] = []


def on_usage_rated(callback: Callable[..., None]) -> Callable[..., None]:
    if callback not in _usage_rated:
        _usage_rated.append(callback)
    return callback


def usage_rated(*, attribution_ids: Iterable[str]) -> None:
    """Call after the rating transactions committed; callbacks get a sorted list of the ids."""
    rated = sorted(set(attribution_ids))
    if not rated:
        return
    for callback in _usage_rated:
        callback(attribution_ids=rated)
