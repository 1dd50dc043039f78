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
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
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


def wait_for(url: str, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"[demo] {what} did not start") from None
            time.sleep(0.2)


def start_stripe_standins(env: dict, tally_port: int) -> list[subprocess.Popen]:
    """Stripe in TEST MODE on loopback: localstripe, and Tally's stand-in for what it lacks
    (Checkout, prices, invoices), both delivering signed events to Tally's dj-stripe endpoint.
    Skipped when STRIPE_API_BASE names another Stripe (or TALLY_DEMO_STRIPE=false)."""
    if env.get("STRIPE_API_BASE") or env.get("TALLY_DEMO_STRIPE", "").lower() == "false":
        return []
    from devtools.stripe_standin import DEMO_WEBHOOK_SECRET, price_ids_setting, webhook_path

    webhook_url = f"http://127.0.0.1:{tally_port}{webhook_path()}"
    localstripe_port = free_port(8420)
    localstripe_url = f"http://127.0.0.1:{localstripe_port}"
    localstripe = subprocess.Popen(
        [str(Path(PY).with_name("localstripe")), "--port", str(localstripe_port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(f"{localstripe_url}/v1/customers", "localstripe", localstripe)
    # localstripe signs and delivers the PaymentIntent events (auto-recharge) itself.
    form = urllib.parse.urlencode(
        [("url", webhook_url), ("secret", DEMO_WEBHOOK_SECRET)]
        + [("events[]", e) for e in ("payment_intent.succeeded", "payment_intent.payment_failed")]
    ).encode()
    urllib.request.urlopen(f"{localstripe_url}/_config/webhooks/tally", data=form, timeout=5).close()
    standin_port = free_port(8430)
    standin = subprocess.Popen(
        [
            PY,
            "-m",
            "devtools.stripe_standin",
            "--port",
            str(standin_port),
            "--localstripe",
            localstripe_url,
            "--webhook-url",
            webhook_url,
            "--webhook-secret",
            DEMO_WEBHOOK_SECRET,
        ],
        cwd=ROOT,
        env=env,
    )
    env["STRIPE_API_BASE"] = f"http://127.0.0.1:{standin_port}"
    wait_for(f"{env['STRIPE_API_BASE']}/v1/prices", "the Stripe stand-in", standin)
    env.setdefault("STRIPE_PRICE_IDS", price_ids_setting())
    env["TALLY_DEMO_STRIPE"] = "true"
    env.setdefault("TALLY_PUBLIC_URL", f"http://127.0.0.1:{tally_port}")
    say(f"Stripe TEST MODE: localstripe on {localstripe_url}, Tally's stand-in on {env['STRIPE_API_BASE']}")
    return [localstripe, standin]


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
    port = free_port(int(env.get("PORT", "8000")))
    children = start_stripe_standins(env, port)
    say("loading demo data")
    try:
        manage("demo_seed", env=env)
    except BaseException:
        for child in children:
            child.terminate()
        raise

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
    stripe_line = (
        "TEST MODE on local stand-ins: buy credits as alice with the test card (no Stripe account)"
        if env.get("TALLY_DEMO_STRIPE") == "true"
        else f"{env.get('STRIPE_API_BASE') or 'not configured'}"
    )
    base = url.rstrip("/")
    print(
        "\n"
        f"  Tally is running at {url}\n"
        "  Sign in as a team owner:   alice / tally-demo   (Acme Rockets)\n"
        "  A member of Acme:          bob / tally-demo;  of Globex only: carol / tally-demo\n"
        "  Finance staff (admin):     finance / tally-demo  ->  {url}admin/\n"
        f"  API docs:                  {url}api/docs/   (schema: {url}api/schema/)\n"
        f"  Stripe:                    {stripe_line}\n"
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
