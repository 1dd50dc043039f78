"""Stripe at the HTTP boundary, for tests: localstripe plus Stripe-API-shaped JSON.

`StripeFake` is a loopback HTTP server that stripe-python is pointed at (`stripe.api_base`).
Customers, payment methods and PaymentIntents are forwarded to a real localstripe process
(started by the `stripe_server` fixture); prices, products, subscriptions, invoices, charges,
disputes and Billing Meter events — which localstripe lacks — are served from an in-memory
store seeded from the realistic objects in tests/stripe_fixtures/ (dj-stripe's own shapes).
Every request is recorded so tests can assert what Tally sent.
"""

import copy
import hashlib
import hmac
import http.client
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.stripe_fake_checkout import CheckoutSessions

FIXTURES = Path(__file__).resolve().parent / "stripe_fixtures"
LOCALSTRIPE_RESOURCES = (
    "customers",
    "payment_methods",
    "payment_intents",
    "setup_intents",
    "tokens",
    "sources",
)
UNSUPPORTED = {"setup_future_usage"}
OWN_RESOURCES = {
    "prices": "price",
    "products": "product",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "charges": "charge",
    "disputes": "dispute",
    "events": "event",
    "balance_transactions": "balance_transaction",
}
PREFIX = {
    "balance_transaction": "txn",
    "price": "price",
    "product": "prod",
    "subscription": "sub",
    "invoice": "in",
    "charge": "ch",
    "dispute": "dp",
}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def parse_form(body: str) -> dict:
    """Stripe's form encoding (`items[0][price]=x&metadata[a]=b`) into nested dicts/lists."""
    result: dict = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        parts = raw_key.replace("]", "").split("[")
        node = result
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if last:
                if isinstance(node, list):
                    node.append(value)
                else:
                    node[part] = value
                break
            container = [] if nxt == "" else {}
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append({})
                node = node[index]
            else:
                node = node.setdefault(part, container)
    return _lists(result)


def _lists(node):
    """Dicts whose keys are 0..n become lists (items[0], items[1] ...)."""
    if isinstance(node, dict):
        converted = {k: _lists(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    if isinstance(node, list):
        return [_lists(v) for v in node]
    return node


def stripe_error(status: int, message: str, code: str = "resource_missing") -> tuple[int, dict]:
    return status, {"error": {"type": "invalid_request_error", "message": message, "code": code}}


class StripeFake(CheckoutSessions):
    def __init__(self, localstripe_url: str, *, port: int = 0):
        self.localstripe = urlsplit(localstripe_url)
        self.store: dict[str, dict[str, dict]] = {k: {} for k in OWN_RESOURCES.values()}
        self.meter_events: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.fail_next: list[tuple[int, dict]] = []
        self.lock = threading.Lock()
        self.put("product", fixture("product"))
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                split = urlsplit(self.path)
                params = parse_form(body) if body else parse_form(split.query)
                if split.path.startswith("/pay/"):  # the hosted checkout page (stripe_fake_checkout)
                    status, headers, page = fake.pay_page(method, split.path[5:], parse_form(body))
                    self.send_response(status)
                    for name, value in {**headers, "Content-Length": str(len(page))}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(page)
                    return
                with fake.lock:
                    fake.requests.append((method, split.path, params))
                    forced = fake.fail_next.pop(0) if fake.fail_next else None
                if forced:
                    status, payload = forced
                elif split.path.split("/")[2:3] and split.path.split("/")[2] in LOCALSTRIPE_RESOURCES:
                    status, payload = fake.forward(method, self.path, body, dict(self.headers))
                else:
                    status, payload = fake.route(method, split.path, params)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- store ---------------------------------------------------------------------------------
    def put(self, kind: str, obj: dict) -> dict:
        with self.lock:
            self.store[kind][obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict | None:
        return self.store[kind].get(object_id)

    def new_id(self, kind: str) -> str:
        return f"{PREFIX[kind]}_{secrets.token_hex(8)}"

    def add_price(self, *, currency: str, unit_amount: int, price_id: str | None = None) -> dict:
        price = fixture("price")
        price.update(
            id=price_id or self.new_id("price"),
            currency=currency,
            unit_amount=unit_amount,
            unit_amount_decimal=str(unit_amount),
            nickname=f"Credits ({currency.upper()})",
        )
        price["recurring"] = {**price["recurring"], "usage_type": "metered", "aggregate_usage": None}
        return self.put("price", price)

    def add_invoice(
        self, *, customer: str, quantities: list[int], finalized_at: int, subscription=None
    ) -> dict:
        invoice = fixture("invoice")
        invoice_id = self.new_id("invoice")
        lines = []
        for n, quantity in enumerate(quantities):
            line = fixture("line")
            line.update(
                id=f"il_{invoice_id}_{n}", quantity=quantity, subscription=subscription, amount=quantity * 36
            )
            line["invoice"] = invoice_id
            lines.append(line)
        invoice.update(
            id=invoice_id,
            customer=customer,
            subscription=subscription,
            status="open",
            charge=None,
            payment_intent=None,
            amount_due=sum(quantities) * 36,
            amount_paid=0,
            amount_remaining=sum(quantities) * 36,
            paid=False,
            lines={
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
        )
        invoice["status_transitions"] = {
            **invoice["status_transitions"],
            "finalized_at": finalized_at,
            "paid_at": None,
        }
        return self.put("invoice", invoice)

    def add_dispute(self, *, customer: str, status: str = "needs_response") -> dict:
        charge = fixture("charge")
        charge.update(
            id=self.new_id("charge"),
            customer=customer,
            invoice=None,
            disputed=True,
            balance_transaction=None,
            payment_intent=None,
            payment_method=None,
        )
        self.put("charge", charge)
        dispute = fixture("dispute")
        dispute_id = self.new_id("dispute")
        transaction = {
            **dispute["balance_transactions"][0],
            "id": self.new_id("balance_transaction"),
            "source": dispute_id,
        }
        self.put("balance_transaction", transaction)
        dispute.update(
            id=dispute_id,
            charge=charge["id"],
            status=status,
            payment_intent=None,
            balance_transaction=transaction["id"],
            balance_transactions=[transaction],
        )
        return self.put("dispute", dispute)

    # --- routing -------------------------------------------------------------------------------
    def route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        parts = [p for p in path.split("/") if p][1:]  # drop "v1"
        if parts[:2] == ["checkout", "sessions"]:
            return self.checkout_route(method, parts[2:], params)
        if parts[:2] == ["billing", "meter_events"] and method == "POST":
            return self.meter_event(params)
        if not parts or parts[0] not in OWN_RESOURCES:
            return stripe_error(404, f"Unrecognized request URL ({method}: {path}).", "url_invalid")
        kind = OWN_RESOURCES[parts[0]]
        if len(parts) == 1 and method == "GET":
            items = [
                o
                for o in self.store[kind].values()
                if all(str(o.get(k)) == str(v) for k, v in params.items() if k in ("customer", "status"))
            ]
            return 200, {"object": "list", "data": items, "has_more": False, "url": path}
        if len(parts) == 1 and method == "POST" and kind == "subscription":
            return self.create_subscription(params)
        obj = self.store[kind].get(parts[1]) if len(parts) > 1 else None
        if obj is None:
            return stripe_error(404, f"No such {kind}: '{parts[1] if len(parts) > 1 else ''}'")
        if len(parts) == 3 and parts[2] == "lines":
            return 200, obj["lines"]
        if len(parts) == 3 and method == "GET":  # other sub-lists (product features, ...): empty
            return 200, {"object": "list", "data": [], "has_more": False, "url": path}
        if method == "DELETE" and kind == "subscription":
            obj.update(status="canceled", canceled_at=int(time.time()), ended_at=int(time.time()))
            return 200, obj
        if method == "POST":
            obj.update({k: v for k, v in params.items() if k not in ("expand",)})
        return 200, copy.deepcopy(obj)

    def create_subscription(self, params: dict) -> tuple[int, dict]:
        price = self.store["price"].get(params["items"][0]["price"])
        if price is None:
            return stripe_error(400, f"No such price: '{params['items'][0]['price']}'")
        sub = fixture("subscription")
        sub_id = self.new_id("subscription")
        now = int(time.time())
        item = copy.deepcopy(sub["items"]["data"][0])
        item.update(id=f"si_{secrets.token_hex(6)}", subscription=sub_id, price=price, quantity=None)
        item["plan"] = {
            **item["plan"],
            "id": price["id"],
            "currency": price["currency"],
            "usage_type": "metered",
        }
        sub.update(
            id=sub_id,
            customer=params["customer"],
            status="active",
            created=now,
            start_date=now,
            billing_cycle_anchor=now,
            current_period_start=now,
            current_period_end=now + 30 * 86400,
            default_payment_method=params.get("default_payment_method"),
            latest_invoice=None,
            metadata=params.get("metadata", {}),
            plan=item["plan"],
            quantity=None,
            automatic_tax={"enabled": str(params.get("automatic_tax", {}).get("enabled")) == "true"},
            items={**sub["items"], "data": [item], "url": f"/v1/subscription_items?subscription={sub_id}"},
        )
        return 200, self.put("subscription", sub)

    def meter_event(self, params: dict) -> tuple[int, dict]:
        identifier = params.get("identifier") or secrets.token_hex(8)
        with self.lock:
            if identifier in self.meter_events:
                return stripe_error(
                    400,
                    f"An event already exists with identifier {identifier}.",
                    "resource_already_exists",
                )
            event = {
                "object": "billing.meter_event",
                "event_name": params["event_name"],
                "identifier": identifier,
                "payload": params["payload"],
                "timestamp": int(params.get("timestamp") or time.time()),
                "created": int(time.time()),
                "livemode": False,
            }
            self.meter_events[identifier] = event
        return 200, event

    def forward(self, method: str, path: str, body: str, headers: dict) -> tuple[int, dict]:
        # localstripe predates some parameters real Stripe takes; the request is recorded whole
        # (tests assert on it) and forwarded without them.
        if body:
            body = urlencode(
                [(k, v) for k, v in parse_qsl(body, keep_blank_values=True) if k not in UNSUPPORTED]
            )
        conn = http.client.HTTPConnection(self.localstripe.hostname, self.localstripe.port, timeout=30)
        wanted = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type")}
        conn.request(method, path, body=body or None, headers=wanted)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, json.loads(data or b"{}")


def sign_webhook(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header for a payload, exactly as Stripe computes it."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def event_payload(
    event_type: str, obj: dict, *, event_id: str | None = None, created: int | None = None
) -> dict:
    return {
        "id": event_id or f"evt_{secrets.token_hex(10)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
