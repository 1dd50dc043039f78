"""Stripe Checkout for the loopback fake (tests/stripe_fake.py): sessions and a hosted pay page.

`checkout/sessions` (create, retrieve, list, expire) answer in Stripe's shape. A session's
`url` is the fake's own hosted page, `GET <fake.url>/pay/<session id>`: an HTML page clearly
labelled "TEST MODE — Tally's local Stripe stand-in" with the amount, a "Pay" and a "Cancel"
button. Paying marks the session paid (a real PaymentIntent in localstripe, a charge in the
fake's store), delivers a signed `checkout.session.completed` event to `fake.webhook_url`
(over real HTTP, signed with `fake.webhook_secret`) and answers 303 to the success_url;
cancelling answers 303 to the cancel_url. Tests and `make demo` use the same page.
"""

import copy
import html
import json
import secrets
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

SESSION_KIND = "checkout.session"
ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "xaf", "xof"}


def _money(minor: int, currency: str) -> str:
    if currency.lower() in ZERO_DECIMAL:
        return f"{minor:,} {currency.upper()}"
    return f"{minor / 100:,.2f} {currency.upper()}"


class CheckoutSessions:
    """Mixed into StripeFake: its store gets a `checkout.session` kind."""

    webhook_url: str | None = None  # where paying delivers checkout.session.completed
    webhook_secret: str = "whsec_tally_test_secret"

    def _sessions(self) -> dict[str, dict]:
        return self.store.setdefault(SESSION_KIND, {})

    # --- the API -------------------------------------------------------------------------------
    def checkout_route(self, method: str, parts: list[str], params: dict) -> tuple[int, dict]:
        """/v1/checkout/sessions[/<id>[/expire]]; `parts` follow "sessions"."""
        from tests.stripe_fake import stripe_error  # the fake imports this module

        if not parts and method == "POST":
            return 200, self.create_session(params)
        if not parts and method == "GET":
            items = [
                copy.deepcopy(s)
                for s in self._sessions().values()
                if all(str(s.get(k)) == str(v) for k, v in params.items() if k in ("customer", "status"))
            ]
            return 200, {"object": "list", "data": items, "has_more": False, "url": "/v1/checkout/sessions"}
        session = self._sessions().get(parts[0])
        if session is None:
            return stripe_error(404, f"No such checkout.session: '{parts[0]}'")
        if parts[1:] == ["expire"] and method == "POST":
            if session["status"] != "open":
                return stripe_error(
                    400, "Only Checkout Sessions with a status of open can be expired.", "session_not_open"
                )
            session.update(status="expired")
            return 200, copy.deepcopy(session)
        if len(parts) == 1 and method == "GET":
            return 200, copy.deepcopy(session)
        return stripe_error(
            404, f"Unrecognized request URL ({method}: /v1/checkout/sessions/...).", "url_invalid"
        )

    def create_session(self, params: dict) -> dict:
        session_id = f"cs_test_{secrets.token_hex(12)}"
        items = params.get("line_items") or []
        currency = str(params.get("currency") or (items[0]["price_data"]["currency"] if items else "eur"))
        amount = sum(
            int(item["price_data"]["unit_amount"]) * int(item.get("quantity") or 1) for item in items
        )
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currency,
            "customer": params.get("customer"),
            "customer_email": None,
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "mode": params.get("mode", "payment"),
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "submit_type": None,
            "subscription": None,
            "setup_intent": None,
            "success_url": params.get("success_url"),
            "url": f"{self.url}/pay/{session_id}",
            # not part of Stripe's answer: what the fake needs to mark the session paid
            "_line_items": items,
            "_payment_intent_data": params.get("payment_intent_data") or {},
        }
        self._sessions()  # the kind exists from the first session on
        self.put(SESSION_KIND, session)
        return self.public_session(session)

    @staticmethod
    def public_session(session: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in session.items() if not k.startswith("_")}

    def session(self, session_id: str) -> dict:
        return self._sessions()[session_id]

    # --- what a customer (or a test) does ------------------------------------------------------
    def mark_session_paid(self, session_id: str) -> dict:
        """The customer paid: a PaymentIntent (real, in localstripe) and its charge (here); the
        session is complete and paid. Paying again changes nothing."""
        from tests.stripe_fake import fixture  # the fake imports this module

        session = self.session(session_id)
        if session["payment_status"] == "paid":
            return self.public_session(session)
        intent_metadata = (session.get("_payment_intent_data") or {}).get("metadata") or {}
        form = {"amount": str(session["amount_total"]), "currency": session["currency"]}
        if session.get("customer"):
            form["customer"] = session["customer"]
        for key, value in intent_metadata.items():
            form[f"metadata[{key}]"] = str(value)
        status, intent = self.forward(
            "POST",
            "/v1/payment_intents",
            urlencode(form),
            {
                "Authorization": "Bearer sk_test_tally_fake",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        if status >= 400:
            raise RuntimeError(f"localstripe refused the payment intent: {intent}")
        charge = fixture("charge")
        charge.update(
            id=self.new_id("charge"),
            amount=session["amount_total"],
            amount_captured=session["amount_total"],
            amount_refunded=0,
            refunded=False,
            captured=True,
            paid=True,
            status="succeeded",
            currency=session["currency"],
            customer=session.get("customer"),
            invoice=None,
            disputed=False,
            balance_transaction=None,
            payment_intent=intent["id"],
            payment_method=None,
            metadata=intent_metadata,
            refunds={"object": "list", "data": [], "has_more": False, "total_count": 0, "url": "/v1/refunds"},
        )
        self.put("charge", charge)
        session.update(
            status="complete", payment_status="paid", payment_intent=intent["id"], _charge=charge["id"]
        )
        return self.public_session(session)

    def charge_for_session(self, session_id: str) -> dict:
        return self.get("charge", self.session(session_id)["_charge"])

    def refund_session(self, session_id: str, amount_minor: int | None = None) -> dict:
        """Refund the session's charge (all of it by default): `amount_refunded`, `refunded`."""
        charge = self.charge_for_session(session_id)
        refunded = charge["amount"] if amount_minor is None else amount_minor
        charge.update(amount_refunded=refunded, refunded=refunded >= charge["amount"])
        return copy.deepcopy(charge)

    def expire_session(self, session_id: str) -> dict:
        self.session(session_id).update(status="expired")
        return self.public_session(self.session(session_id))

    def deliver(self, event_type: str, obj: dict) -> int:
        """POST a signed event to `webhook_url` over real HTTP; its status code."""
        from tests.stripe_fake import event_payload, sign_webhook

        if not self.webhook_url:
            raise RuntimeError("StripeFake.webhook_url is not set: nobody to tell about the payment")
        body = json.dumps(event_payload(event_type, obj))
        request = urllib.request.Request(
            self.webhook_url,
            data=body.encode(),
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign_webhook(body, self.webhook_secret),
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    # --- the hosted page -----------------------------------------------------------------------
    def pay_page(self, method: str, session_id: str, form: dict) -> tuple[int, dict, bytes]:
        """(status, headers, body) for GET / POST <fake.url>/pay/<session id>."""
        session = self._sessions().get(session_id)
        if session is None:
            return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"No such checkout session."
        if method == "POST":
            if form.get("action") == "cancel":
                return 303, {"Location": session["cancel_url"] or "/"}, b""
            if session["status"] == "expired":
                return (
                    410,
                    {"Content-Type": "text/plain; charset=utf-8"},
                    b"This checkout session has expired.",
                )
            if not self.webhook_url:
                return (
                    500,
                    {"Content-Type": "text/plain; charset=utf-8"},
                    (
                        b"The Stripe stand-in has no webhook_url: set StripeFake.webhook_url to Tally's"
                        b" /stripe/webhook/<uuid>/ endpoint so a payment can be confirmed."
                    ),
                )
            paid = self.mark_session_paid(session_id)
            self.last_delivery_status = self.deliver("checkout.session.completed", paid)
            return 303, {"Location": session["success_url"] or "/"}, b""
        names = ", ".join(
            html.escape(str(i.get("price_data", {}).get("product_data", {}).get("name", "")))
            for i in session.get("_line_items") or []
        )
        amount = html.escape(_money(session["amount_total"], session["currency"]))
        state = {
            "open": "",
            "complete": "<p><strong>Already paid.</strong></p>",
            "expired": "<p><strong>Expired.</strong></p>",
        }
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TEST MODE — Pay {amount}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
.test{{background:#fdf1dc;border:2px solid #a35f00;color:#7a4100;padding:.75rem 1rem;border-radius:6px}}
button{{font-size:1.1rem;padding:.5rem 1.25rem;margin-right:.5rem}}</style></head>
<body>
<p class="test" role="note" id="test-mode"><strong>TEST MODE — Tally's local Stripe stand-in.</strong>
No card is charged and no money moves; this page stands in for Stripe Checkout.</p>
<h1>Pay <span id="amount">{amount}</span></h1>
<p id="items">{names}</p>
{state.get(session["status"], "")}
<form method="post" action="/pay/{html.escape(session_id)}">
  <button type="submit" name="action" value="pay" id="pay">Pay {amount}</button>
  <button type="submit" name="action" value="cancel" id="cancel">Cancel</button>
</form>
</body></html>"""
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()
