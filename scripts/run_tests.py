"""Find PostgreSQL and Redis for the tests, or start throwaway ones, then run pytest.

Order, for each service:
1. DATABASE_URL / REDIS_URL from the environment;
2. the local server on its standard port (127.0.0.1:5432, 127.0.0.1:6379);
3. a throwaway server started from installed binaries (initdb + pg_ctl, redis-server) in a
   temporary directory, stopped afterwards;
4. otherwise stop with the exact command that installs what is missing.

Usage: python scripts/run_tests.py [pytest arguments...]
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_INSTALL = "apt-get update && apt-get install -y postgresql"
REDIS_INSTALL = "apt-get update && apt-get install -y redis-server"


def say(message: str) -> None:
    print(f"[make test] {message}", flush=True)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def wait_for_port(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open("127.0.0.1", port):
            return
        time.sleep(0.2)
    raise SystemExit(f"[make test] {what} did not start listening on 127.0.0.1:{port}")


def postgres_accepts(url_host: str, port: int) -> bool:
    """A TCP answer is not enough: ask PostgreSQL itself through psycopg."""
    try:
        import psycopg
    except ImportError:
        return port_open(url_host, port)
    try:
        with psycopg.connect(host=url_host, port=port, user="postgres", dbname="postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def throwaway_postgres():
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise SystemExit(
            "[make test] No PostgreSQL found: DATABASE_URL is unset, nothing answers on "
            f"127.0.0.1:5432 and initdb/pg_ctl are not installed.\nInstall it with:\n  {PG_INSTALL}"
        )
    tmp = tempfile.mkdtemp(prefix="tally-pg-")
    data = os.path.join(tmp, "data")
    port = free_port()
    run_as = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(tmp, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    say(f"starting a throwaway PostgreSQL on 127.0.0.1:{port} in {tmp}")
    subprocess.run(
        [*run_as, initdb, "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            *run_as,
            pg_ctl,
            "-D",
            data,
            "-l",
            os.path.join(tmp, "log"),
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {tmp} -F",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/tally"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", data, "-m", "fast", "stop"], stdout=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def throwaway_redis():
    server = shutil.which("redis-server")
    if not server:
        raise SystemExit(
            "[make test] No Redis found: REDIS_URL is unset, nothing answers on 127.0.0.1:6379 "
            f"and redis-server is not installed.\nInstall it with:\n  {REDIS_INSTALL}"
        )
    tmp = tempfile.mkdtemp(prefix="tally-redis-")
    port = free_port()
    say(f"starting a throwaway Redis on 127.0.0.1:{port}")
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, "Redis")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_chromium() -> None:
    """The browser tests need Debian's Chromium; install it when we can, else they fail saying how."""
    if os.path.exists("/usr/bin/chromium") or shutil.which("chromium"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing Chromium for the browser tests (apt-get install chromium chromium-driver)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
    else:
        say("Chromium is missing and cannot be installed here: the browser tests will say how to install it")


def ensure_curl() -> None:
    """tests/test_docs_examples.py runs the docs' curl examples with the real curl binary."""
    if shutil.which("curl"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing curl for the docs' examples (apt-get install curl)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL)
        install = ["apt-get", "install", "-y", "-qq", "curl"]
        subprocess.run(install, env=env, check=False, stdout=subprocess.DEVNULL)
    else:
        say("curl is missing and cannot be installed here: the docs' example tests say how to install it")


def main(argv: list[str]) -> int:
    ensure_chromium()
    ensure_curl()
    env = dict(os.environ)
    # TALLY_TEST_THROWAWAY=1 skips the local servers (to exercise the throwaway path).
    force_throwaway = env.get("TALLY_TEST_THROWAWAY") == "1"
    with ExitStack() as stack:
        if env.get("DATABASE_URL"):
            say("PostgreSQL from DATABASE_URL")
        elif not force_throwaway and postgres_accepts("127.0.0.1", 5432):
            env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/tally"
            say("PostgreSQL on 127.0.0.1:5432")
        else:
            env["DATABASE_URL"] = stack.enter_context(throwaway_postgres())

        if env.get("REDIS_URL"):
            say("Redis from REDIS_URL")
        elif not force_throwaway and port_open("127.0.0.1", 6379):
            env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
            say("Redis on 127.0.0.1:6379")
        else:
            env["REDIS_URL"] = stack.enter_context(throwaway_redis())

        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
        # One key space per run, so two runs sharing a Redis never see each other's locks.
        env.setdefault("TALLY_LOCK_PREFIX", f"tally-test-{os.getpid()}:lock:")
        # CI builds the test database afresh; locally it is kept between runs (dj-stripe's
        # migrations alone take ~45 s).
        db_flag = "--create-db" if env.get("CI") else "--reuse-db"
        args = [db_flag, *argv]
        cmd = [sys.executable, "-m", "pytest", *args]
        say(" ".join(cmd))
        status = subprocess.call(cmd, cwd=ROOT, env=env)
        if argv or status != 0:
            return status
        # The client package is plain Python (no Django): its own pytest run, real HTTP.
        client_cmd = [
            sys.executable,
            "-m",
            "pytest",
            "client/tests",
            "-q",
            "-p",
            "no:django",
            "-c",
            "client/pyproject.toml",
        ]
        say(" ".join(client_cmd))
        return subprocess.call(client_cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
