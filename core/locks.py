"""Distributed job locks: expiring, extended while held, single try (a second copy skips).

Backends: Redis (SET NX PX + compare-and-extend/delete scripts) when REDIS_URL is set, else a
database row (the embedded default). Both give the same guarantees to one caller:

    with job_lock("usage.rate") as lock:
        if not lock.acquired:
            return f"skipped: {lock.skip_reason}"
        ...

When the lock store cannot be reached the job skips (it never runs unlocked) and says why;
a holder that loses Redis mid-run finishes its work, and the key expires by itself.
"""

import logging
import secrets
import threading
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache

import redis
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from core.metrics import JOB_LOCK_LOST, REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)


_EXTEND_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


HELD_ELSEWHERE = "another run holds the job lock"


@lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    # Short timeouts: an unreachable Redis makes a job skip within seconds, never hang it.
    return redis.Redis.from_url(
        url,
        socket_timeout=settings.TALLY_REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.TALLY_REDIS_CONNECT_TIMEOUT,
    )


class LockStoreUnavailable(Exception):
    """The lock store (Redis) did not answer; nobody can know who holds the lock."""


class RedisLockBackend:
    def __init__(self, url: str, prefix: str):
        self.client = redis_client(url)
        self.prefix = prefix

    def acquire(self, name: str, token: str, ttl: float) -> bool:
        try:
            return bool(self.client.set(self.prefix + name, token, nx=True, px=int(ttl * 1000)))
        except redis.RedisError as exc:
            raise LockStoreUnavailable(f"Redis did not answer ({exc})") from exc

    def extend(self, name: str, token: str, ttl: float) -> bool:
        try:
            return bool(self.client.eval(_EXTEND_SCRIPT, 1, self.prefix + name, token, int(ttl * 1000)))
        except redis.RedisError as exc:
            raise LockStoreUnavailable(f"Redis did not answer ({exc})") from exc

    def release(self, name: str, token: str) -> None:
        try:
            self.client.eval(_RELEASE_SCRIPT, 1, self.prefix + name, token)
        except redis.RedisError as exc:
            raise LockStoreUnavailable(f"Redis did not answer ({exc})") from exc


class DatabaseLockBackend:
    def acquire(self, name: str, token: str, ttl: float) -> bool:
        from core.models import JobLockRow

        now = timezone.now()
        expires = now + timedelta(seconds=ttl)
        try:
            with transaction.atomic():
                JobLockRow.objects.create(name=name, token=token, expires_at=expires)
                return True
        except IntegrityError:
            pass
        taken = JobLockRow.objects.filter(name=name, expires_at__lte=now).update(
            token=token, expires_at=expires
        )
        return taken == 1

    def extend(self, name: str, token: str, ttl: float) -> bool:
        from core.models import JobLockRow

        expires = timezone.now() + timedelta(seconds=ttl)
        return JobLockRow.objects.filter(name=name, token=token).update(expires_at=expires) == 1

    def release(self, name: str, token: str) -> None:
        from core.models import JobLockRow

        JobLockRow.objects.filter(name=name, token=token).delete()


def get_backend():
    if settings.TALLY_LOCK_BACKEND == "redis":
        return RedisLockBackend(settings.REDIS_URL, settings.TALLY_LOCK_PREFIX)
    return DatabaseLockBackend()


class JobLock:
    """One attempt at one named lock. `acquired` says whether this holder won; when it did
    not, `skip_reason` says why and `unavailable` whether the lock store was unreachable."""

    def __init__(self, name: str, *, ttl: float | None = None, auto_extend: bool = True, backend=None):
        self.name = name
        self.ttl = float(ttl or settings.TALLY_JOB_LOCK_TTL_SECONDS)
        self.token = secrets.token_hex(16)
        self.backend = backend or get_backend()
        self.auto_extend = auto_extend
        self.acquired = False
        self.lost = False
        self.unavailable = False
        self.skip_reason = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> bool:
        try:
            self.acquired = self.backend.acquire(self.name, self.token, self.ttl)
        except LockStoreUnavailable as exc:
            REDIS_UNAVAILABLE.labels(component="job_lock").inc()
            self.acquired, self.unavailable = False, True
            self.skip_reason = f"the job lock store is unreachable: {exc}"
            logger.warning("Job lock %s not taken: %s", self.name, self.skip_reason)
            return False
        if not self.acquired:
            self.skip_reason = HELD_ELSEWHERE
        if self.acquired and self.auto_extend:
            self._thread = threading.Thread(target=self._keep_alive, name=f"lock:{self.name}", daemon=True)
            self._thread.start()
        return self.acquired

    def extend(self) -> bool:
        try:
            ok = self.backend.extend(self.name, self.token, self.ttl)
        except LockStoreUnavailable as exc:
            # Not lost yet: Redis may come back with the key. If it does not, the key expires
            # and a later extend answers 0 (lost).
            REDIS_UNAVAILABLE.labels(component="job_lock").inc()
            logger.warning("Job lock %s could not be extended: %s", self.name, exc)
            return True
        if not ok:
            self.lost = True
            JOB_LOCK_LOST.labels(job=self.name).inc()
            logger.error("Job lock %s was lost (expired and taken or removed).", self.name)
        return ok

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl)
        if self.acquired:
            self.acquired = False
            try:
                self.backend.release(self.name, self.token)
            except LockStoreUnavailable as exc:  # the key expires by itself
                REDIS_UNAVAILABLE.labels(component="job_lock").inc()
                logger.warning(
                    "Job lock %s not released (%s); it expires within %.0f s.", self.name, exc, self.ttl
                )

    def _keep_alive(self) -> None:
        interval = self.ttl / 3
        uses_db = isinstance(self.backend, DatabaseLockBackend)
        try:
            while not self._stop.wait(interval):
                if not self.extend():
                    return
        finally:
            if uses_db:
                close_old_connections()
                connection.close()


@contextmanager
def job_lock(name: str, *, ttl: float | None = None, auto_extend: bool = True):
    lock = JobLock(name, ttl=ttl, auto_extend=auto_extend)
    lock.acquire()
    if not lock.acquired:
        logger.debug("Job %s skipped: %s.", name, lock.skip_reason)  # core.jobs logs the run
    try:
        yield lock
    finally:
        lock.release()
