"""Callbacks other apps register for usage events (usage imports no app above it).

credits registers `on_usage_backdated` in its AppConfig.ready to drop stale balance snapshots.
"""

from collections.abc import Callable

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
