"""Callbacks the apps above core register for what core does (core imports no app).

The audit trail records every change to an API key: `audit` registers `audit_record` with
`on_change_recorded` in its AppConfig.ready, and core's services call `change_recorded` inside
the transaction of the change, so the audit event commits with it or not at all. The keyword
arguments are `audit.services.audit_record`'s: action, object_type, object_id, attribution_id,
before, after.
"""

from collections.abc import Callable

_change_recorders: list[Callable[..., object]] = []


def on_change_recorded(callback: Callable[..., object]) -> Callable[..., object]:
    if callback not in _change_recorders:
        _change_recorders.append(callback)
    return callback


def change_recorded(**change) -> None:
    for callback in _change_recorders:
        callback(**change)
