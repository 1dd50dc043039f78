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
