"""A real Celery worker serves its own /metrics, where the jobs it runs are counted."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from core.models import JobRun

ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.read().decode()
    except OSError:
        return None


@pytest.mark.django_db(transaction=True)
def test_a_prefork_worker_serves_the_job_counts_of_its_children(tmp_path):
    port, queue = _free_port(), f"metrics-test-{uuid.uuid4().hex[:8]}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "TALLY_LOCK_PREFIX": settings.TALLY_LOCK_PREFIX,
        "TALLY_WORKER_METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--concurrency=1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    sender = Celery(broker=settings.REDIS_URL)
    try:
        deadline = time.monotonic() + 30
        while _get(url) is None:
            assert worker.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker never served /metrics"
            time.sleep(0.2)

        sender.send_task("credits.snapshot", queue=queue)
        counted = 'tally_job_runs_total{job="credits.snapshot",outcome="ok"} 1.0'
        while counted not in (_get(url) or ""):
            assert time.monotonic() < deadline, _get(url)
            time.sleep(0.2)
    finally:
        sender.close()
        worker.terminate()
        worker.wait(timeout=20)

    assert JobRun.objects.get(job="credits.snapshot").outcome == "ok"
