"""Callbacks other apps register for usage events (usage imports no app above it).

credits registers `on_traffic_account_created` in its AppConfig.ready to turn
INITIAL_BALANCE into a grant on the new account's credits ledger.
"""

from collections.abc import Callable

_traffic_account_created: list[Callable[..., None]] = []


def on_traffic_account_created(callback: Callable[..., None]) -> Callable[..., None]:
    _traffic_account_created.append(callback)
    return callback


def traffic_account_created(*, attribution_id: str, account_uuid: str) -> None:
    """Called inside the transaction that created the account; callbacks write in it too."""
    for callback in _traffic_account_created:
        callback(attribution_id=attribution_id, account_uuid=account_uuid)


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
