"""Callbacks other apps register for traffic events (traffic imports no app above it).

credits registers `on_traffic_account_created` in its AppConfig.ready to turn INITIAL_BALANCE
into a grant on the new account's credits ledger; the amount comes with the call, so credits
needs nothing else from traffic.
"""

from collections.abc import Callable
from decimal import Decimal

_traffic_account_created: list[Callable[..., None]] = []


def on_traffic_account_created(callback: Callable[..., None]) -> Callable[..., None]:
    _traffic_account_created.append(callback)
    return callback


def traffic_account_created(*, attribution_id: str, account_uuid: str, initial_balance: Decimal) -> None:
    """Called inside the transaction that created the account; callbacks write in it too.
    `initial_balance` is INITIAL_BALANCE (credits, never negative; zero grants nothing)."""
    for callback in _traffic_account_created:
        callback(attribution_id=attribution_id, account_uuid=account_uuid, initial_balance=initial_balance)
