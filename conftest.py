"""Root conftest: the shared fixtures, and the optional clock shift of the whole session.

`TALLY_TEST_CLOCK_SHIFT_DAYS=N` moves this process's clock N days ahead for the whole pytest
session (time-machine, ticking), before any test module or factory is imported. A test that
writes today's date where it means "recent" or "future" fails under the shift the day it is
written, not months later. Only the Python process moves: PostgreSQL's now(), Redis TTLs and
subprocesses (localstripe, gunicorn, Celery workers started by a test) keep the real clock;
tests that cannot run shifted carry `@pytest.mark.real_clock` and are deselected when shifted.
A test's own time-machine travel nests inside the shift and returns to it afterwards.
"""

import os
import time


def _clock_shift_days() -> int:
    raw = os.environ.get("TALLY_TEST_CLOCK_SHIFT_DAYS", "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"TALLY_TEST_CLOCK_SHIFT_DAYS must be a whole number of days, not {raw!r}") from None


CLOCK_SHIFT_DAYS = _clock_shift_days()
_session_travel = None
if CLOCK_SHIFT_DAYS:
    import time_machine

    _session_travel = time_machine.travel(time.time() + CLOCK_SHIFT_DAYS * 86400, tick=True)
    _session_travel.start()

pytest_plugins = ["tests.fixtures"]


_real_clock_deselected = 0


def _clock_line() -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat(timespec="seconds")
    return f"clock shifted {CLOCK_SHIFT_DAYS} days ahead (TALLY_TEST_CLOCK_SHIFT_DAYS): Python's now is {now}"


def pytest_report_header(config):
    return _clock_line() if CLOCK_SHIFT_DAYS else None


def pytest_collection_modifyitems(config, items):
    global _real_clock_deselected
    if not CLOCK_SHIFT_DAYS:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("real_clock") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    _real_clock_deselected = len(dropped)


def pytest_terminal_summary(terminalreporter):
    if CLOCK_SHIFT_DAYS:  # also under -q, which hides the header
        terminalreporter.write_line(
            f"{_clock_line()}; {_real_clock_deselected} real_clock test(s) deselected"
        )


def pytest_unconfigure(config):
    global _session_travel
    if _session_travel is not None:
        _session_travel.stop()
        _session_travel = None
