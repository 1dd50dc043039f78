"""tally_client against the real Tally server, over real HTTP, through a flaky proxy.

The proxy (on 127.0.0.1) answers 503 or drops the connection for a while, as a load balancer
in front of a restarting server would; the client keeps every event it took and retries with
the same keys until the server has each of them exactly once.
"""

import http.client
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.db.models import Sum

from tally_client import Client
from usage.models import MeterEvent


class FlakyProxy:
    """Forwards to the server, except that the next `failures` requests fail first."""

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.failures = 0
        self.mode = "503"
        self.lock = threading.Lock()
        self.requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    proxy.requests += 1
                    fail = proxy.failures > 0
                    if fail:
                        proxy.failures -= 1
                if fail and proxy.mode == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fail:
                    payload = b'{"error": "unavailable", "message": "upstream restarting"}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                conn.request("POST", self.path, body=body, headers=dict(self.headers))
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                self.send_header("Content-Type", response.getheader("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(live_server):
    flaky = FlakyProxy(live_server.url)
    yield flaky
    flaky.close()


def counter(client, name, **labels):
    return client.registry.get_sample_value(name, labels) or 0


@pytest.mark.parametrize("mode", ["503", "drop"])
def test_the_client_loses_nothing_while_the_server_fails_then_recovers(proxy, settings, reference_data, mode):
    who = f"team:{uuid.uuid4()}"
    proxy.mode, proxy.failures = mode, 3
    client = Client(
        base_url=proxy.url,
        token=settings.INTERNAL_SERVICE_TOKEN,
        batch_size=50,
        flush_interval=0.05,
        retry_delay=0.05,
        timeout=5,
    )
    at = datetime.now(UTC) - timedelta(minutes=1)
    for n in range(120):
        client.add_amounts(unique_key=f"e{n}", attribution_id=who, timestamp=at, amounts={"samples": n + 1})
    # The same facts again (a producer that re-reads its log): counted once by the server.
    for n in range(0, 120, 3):
        client.add_amounts(unique_key=f"e{n}", attribution_id=who, timestamp=at, amounts={"samples": n + 1})
    undelivered = client.close(timeout=30)

    assert undelivered == 0
    stored = MeterEvent.objects.filter(attribution_id=who)
    assert stored.count() == 120
    assert stored.aggregate(total=Sum("amount"))["total"] == sum(range(1, 121))
    assert counter(client, "tally_client_events_total", status="success") == 160
    assert (
        counter(client, "tally_client_events_total", status="retrying") >= 3 * 50 - 50
    )  # every failed batch
    assert counter(client, "tally_client_events_total", status="rejected") == 0
    assert proxy.requests > 160 // 50


def test_events_the_server_rejects_are_counted_and_not_retried(live_server, settings, reference_data):
    who = f"team:{uuid.uuid4()}"
    client = Client(base_url=live_server.url, token=settings.INTERNAL_SERVICE_TOKEN, flush_interval=0.05)
    now = datetime.now(UTC)
    client.add_amounts(unique_key="ok", attribution_id=who, timestamp=now, amounts={"samples": 5})
    client.add_amounts(unique_key="unknown-meter", attribution_id=who, timestamp=now, amounts={"bananas": 1})
    client.add_amounts(
        unique_key="too-old", attribution_id=who, timestamp=now - timedelta(days=40), amounts={"samples": 1}
    )
    assert client.close(timeout=10) == 0
    assert list(MeterEvent.objects.filter(attribution_id=who).values_list("key", flat=True)) == ["ok:samples"]
    assert counter(client, "tally_client_events_total", status="success") == 1
    assert counter(client, "tally_client_events_total", status="rejected") == 2


def test_a_throttled_client_waits_for_retry_after_and_loses_nothing(live_server, settings, reference_data):
    from core.tests.factories import APIKeyFactory

    who = f"team:{uuid.uuid4()}"
    key = APIKeyFactory(attribution_id=who, name="throttled sender")
    settings.TALLY_THROTTLE_INGEST = "3/s"
    batches, per_batch = 8, 10
    client = Client(
        base_url=live_server.url,
        token=key.raw_key,
        batch_size=per_batch,
        flush_interval=0.01,
        retry_delay=0.05,
    )
    at = datetime.now(UTC) - timedelta(minutes=1)
    for n in range(batches * per_batch):
        client.add_amounts(unique_key=f"t{n}", attribution_id=who, timestamp=at, amounts={"samples": 1})

    undelivered = client.close(timeout=30)

    assert undelivered == 0
    assert MeterEvent.objects.filter(attribution_id=who).count() == batches * per_batch
    throttled = client.registry.get_sample_value(
        "tally_client_request_duration_seconds_count", {"outcome": "throttled"}
    )
    assert throttled >= 1  # 8 batches at 3 a second: some were told to wait, and did
    assert counter(client, "tally_client_events_total", status="success") == batches * per_batch
