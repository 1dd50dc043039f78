"""`make demo`: migrate, load demo data, then run web + Celery worker + beat in one go.

Embedded default: SQLite in var/, Celery on a filesystem transport, database job locks.
With DATABASE_URL / REDIS_URL set, those are used instead.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def free_port(preferred: int) -> int:
    for port in range(preferred, preferred + 50):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit("[demo] no free port between 8000 and 8049")


def manage(*args: str, env: dict) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("INTERNAL_SERVICE_TOKEN", "demo-internal-token")
    env.setdefault("TALLY_CELERY_LOG_LEVEL", "WARNING")  # one line per job run, from core.jobs
    # A newcomer sees Tally's own 404/403/500 pages, not Django's debug pages (whitenoise serves
    # the static files from the apps either way: WHITENOISE_USE_FINDERS). DJANGO_DEBUG=true
    # brings the debug pages back.
    env.setdefault("DJANGO_DEBUG", "false")
    (ROOT / "var" / "celery-broker").mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "celery-processed").mkdir(parents=True, exist_ok=True)

    say(f"database: {env.get('DATABASE_URL') or 'SQLite at var/tally.sqlite3'}")
    say(f"broker: {env.get('REDIS_URL') or 'filesystem transport in var/celery-broker'}")
    say("applying migrations (the first run takes minutes: dj-stripe has many)")
    manage("migrate", "--noinput", env=env)
    say("loading demo data")
    manage("demo_seed", env=env)

    port = free_port(int(env.get("PORT", "8000")))
    children = []
    if not env.get("EXPORTER_BASE_URL") and not env.get("EXPORTER_SOURCES_JSON"):
        # A fake proxy-network exporter, so collect-and-rate has traffic to bill.
        exporter_port = free_port(9100)
        env["EXPORTER_BASE_URL"] = f"http://127.0.0.1:{exporter_port}"
        token = env["INTERNAL_SERVICE_TOKEN"]
        children.append(
            subprocess.Popen(
                [PY, "-m", "devtools.exporter", "--port", str(exporter_port), "--token", token],
                cwd=ROOT,
                env=env,
            )
        )
        say(f"fake traffic exporter on {env['EXPORTER_BASE_URL']}")
    children += [
        subprocess.Popen(
            [
                PY,
                "-m",
                "celery",
                "-A",
                "config",
                "--quiet",  # no startup banner pushing ours off the screen
                "worker",
                "-B",
                "--pool=solo",
                "--loglevel=INFO",  # the root level: core.jobs' line per run (config.settings.local)
                "--hostname=demo@%h",
            ],
            cwd=ROOT,
            env=env,
        ),
        subprocess.Popen(
            [PY, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT, env=env
        ),
    ]
    time.sleep(2)
    url = f"http://127.0.0.1:{port}/"
    keys = json.loads((ROOT / "var" / "demo-credentials.json").read_text())
    base = url.rstrip("/")
    print(
        "\n"
        f"  Tally is running at {url}\n"
        "  Sign in as a team owner:   alice / tally-demo   (Acme Rockets)\n"
        "  A member of Acme:          bob / tally-demo;  of Globex only: carol / tally-demo\n"
        "  Finance staff (admin):     finance / tally-demo  ->  {url}admin/\n"
        f"  API docs:                  {url}api/docs/   (schema: {url}api/schema/)\n"
        f"  A revoked Acme key:        {keys['revoked_api_key']}\n"
        "\n"
        "  For the curl examples in docs/api.md, paste into your shell:\n"
        f"export U={base} B={base}/api/v1\n"
        f'export T="Authorization: Bearer {env["INTERNAL_SERVICE_TOKEN"]}"\n'
        f'export K="Authorization: Bearer {keys["team_api_key"]}"\n'
        f"export A={keys['acme_attribution_id']}\n"
        'export J="Content-Type: application/json"\n'
        "\n"
        "  Press Ctrl-C to stop.\n".replace("{url}", url),
        flush=True,
    )

    def stop(*_):
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
