"""Job locks on real Redis, and on the database (the embedded default)."""

import threading
import time

import pytest

from core.locks import DatabaseLockBackend, JobLock, RedisLockBackend, job_lock

# Lock holders run on threads with their own connections: they must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["redis", "database"])
def backend(request, settings):
    if request.param == "redis":
        client = request.getfixturevalue("redis")
        assert client.ping()
        return RedisLockBackend(settings.REDIS_URL, settings.TALLY_LOCK_PREFIX)
    return DatabaseLockBackend()


def test_two_holders_one_wins(backend):
    first = JobLock("usage.rate", ttl=30, auto_extend=False, backend=backend)
    second = JobLock("usage.rate", ttl=30, auto_extend=False, backend=backend)
    assert first.acquire() is True
    assert second.acquire() is False
    first.release()
    assert second.acquire() is True
    second.release()


def test_racing_threads_one_wins(backend):
    winners = []
    barrier = threading.Barrier(6)

    def contend():
        lock = JobLock("billing.close_cycles", ttl=30, auto_extend=False, backend=backend)
        barrier.wait()
        if lock.acquire():
            winners.append(lock)

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    winners[0].release()


def test_an_unextended_lock_expires_and_can_be_taken(backend):
    holder = JobLock("credits.snapshot", ttl=0.4, auto_extend=False, backend=backend)
    assert holder.acquire()
    time.sleep(0.7)
    taker = JobLock("credits.snapshot", ttl=30, auto_extend=False, backend=backend)
    assert taker.acquire() is True
    # The old holder learns it lost the lock, and its release does not free the new holder's.
    assert holder.extend() is False
    assert holder.lost
    holder.release()
    assert JobLock("credits.snapshot", ttl=30, auto_extend=False, backend=backend).acquire() is False
    taker.release()


def test_a_held_lock_is_extended_past_its_ttl(backend):
    holder = JobLock("traffic.collect_and_rate", ttl=0.6, auto_extend=True, backend=backend)
    assert holder.acquire()
    time.sleep(1.5)  # 2.5 times the TTL: only the keep-alive keeps it
    assert JobLock("traffic.collect_and_rate", ttl=30, auto_extend=False, backend=backend).acquire() is False
    assert holder.lost is False
    holder.release()
    assert JobLock("traffic.collect_and_rate", ttl=30, auto_extend=False, backend=backend).acquire() is True


def test_job_lock_context_manager_says_who_skipped(redis):
    with job_lock("billing.reconcile_invoices", ttl=30) as outer:
        assert outer.acquired
        with job_lock("billing.reconcile_invoices", ttl=30) as inner:
            assert inner.acquired is False
    with job_lock("billing.reconcile_invoices", ttl=30) as again:
        assert again.acquired
