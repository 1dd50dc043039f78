"""Fault injection for tests/faults: a Redis of our own to kill, and PostgreSQL backends to drop.

The shared Redis and PostgreSQL servers are never stopped: Redis faults use a throwaway
`redis-server` on a free port, and PostgreSQL faults terminate only connections to this run's
test database.
"""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_py
from django.db import connection

from core.locks import redis_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, *, timeout: float, interval: float = 0.02, what: str = "the condition"):
    """Poll `condition` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout} s waiting for {what}.")
        time.sleep(interval)


class ThrowawayRedis:
    """A `redis-server` on a free loopback port that a test may kill and start again."""

    def __init__(self, directory: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: apt-get install -y redis-server")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis_py.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(probe.ping())
            except redis_py.RedisError:
                return False

        wait_until(answers, timeout=15, interval=0.05, what=f"redis-server on port {self.port}")
        probe.close()

    def kill(self) -> None:
        """SIGKILL, as a crashed or unplugged Redis: no goodbye to connected clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def throwaway_redis(tmp_path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def app_on_throwaway_redis(settings, throwaway_redis) -> ThrowawayRedis:
    """Everything the app keeps in Redis (job locks, the Django cache) on the throwaway server,
    for this process and the live server thread alike."""
    settings.REDIS_URL = throwaway_redis.url
    settings.TALLY_LOCK_BACKEND = "redis"
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": throwaway_redis.url},
    }
    return throwaway_redis


def closed_port_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


# --- PostgreSQL ------------------------------------------------------------------------------


def database_name() -> str:
    name = connection.settings_dict["NAME"]
    # Never terminate anything outside this run's own test database.
    assert name.startswith("test_"), name
    return name


def admin_connection() -> psycopg.Connection:
    """A psycopg connection to the `postgres` database on the test server (not the test DB)."""
    params = connection.settings_dict
    return psycopg.connect(
        host=params["HOST"] or "127.0.0.1",
        port=params["PORT"] or 5432,
        user=params["USER"],
        password=params["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


def own_backend_pid() -> int:
    """The test thread's own connection: kept, so the test itself can read afterwards."""
    connection.ensure_connection()
    return connection.connection.info.backend_pid


def database_url() -> str:
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    host, port = params["HOST"] or "127.0.0.1", params["PORT"] or 5432
    return f"postgres://{params['USER']}{password}@{host}:{port}/{database_name()}"


class BackendKiller:
    """Terminates the other connections to the test database, from outside it."""

    def __init__(self):
        self.database = database_name()
        self.admin = admin_connection()
        self.spare: set[int] = {own_backend_pid()}
        self.gone: set[int] = set()  # terminated: may linger in pg_stat_activity a moment
        self.terminated = 0

    def others(self, *, waiting_on_lock: bool = False) -> list[int]:
        sql = (
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND NOT (pid = ANY(%s))"
        )
        if waiting_on_lock:
            sql += " AND wait_event_type = 'Lock'"
        rows = self.admin.execute(sql, [self.database, list(self.spare | self.gone)]).fetchall()
        return [pid for (pid,) in rows]

    def terminate(self, pids: list[int]) -> int:
        if not pids:
            return 0
        rows = self.admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid = ANY(%s)",
            [self.database, pids],
        ).fetchone()
        self.gone.update(pids)
        self.terminated += rows[0]
        return rows[0]

    def terminate_others(self) -> int:
        return self.terminate(self.others())

    def close(self) -> None:
        self.admin.close()


@pytest.fixture
def backend_killer(transactional_db) -> Iterator[BackendKiller]:
    killer = BackendKiller()
    yield killer
    killer.close()


@pytest.fixture
def lock_store_clean(settings):
    """Removes this run's lock keys on the shared Redis afterwards (a killed worker leaves one)."""
    yield
    client = redis_client(settings.REDIS_URL)
    for key in client.scan_iter(match=settings.TALLY_LOCK_PREFIX + "*"):
        client.delete(key)
