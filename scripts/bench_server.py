"""`make bench-server`: a production-like Tally for benchmarks (gunicorn on PostgreSQL).

Creates the database named in BENCH_DATABASE_URL if missing, migrates it, then runs gunicorn
in the foreground (Ctrl-C stops it). Debug off, persistent connections, no request logging.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tally_bench_ingest"


def main() -> int:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": url,
        "INTERNAL_SERVICE_TOKEN": os.environ.get("INTERNAL_SERVICE_TOKEN", "bench-token"),
        "LOG_LEVEL": "WARNING",
    }
    sys.path.insert(0, str(ROOT))
    from devtools.pgadmin import ensure_database

    if ensure_database(url):
        print(f"[bench-server] created database {url.rsplit('/', 1)[1]}", flush=True)
    print("[bench-server] migrating (first time: about a minute)", flush=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    workers = os.environ.get("BENCH_WORKERS", "3")
    port = os.environ.get("BENCH_PORT", "8100")
    print(f"[bench-server] gunicorn, {workers} workers, http://127.0.0.1:{port}", flush=True)
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        workers,
        "--worker-class",
        "sync",
        "--keep-alive",
        "30",
        "--timeout",
        "60",
    ]
    return subprocess.call(gunicorn, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
