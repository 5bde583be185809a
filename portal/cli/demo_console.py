"""What the demo's staff login finds, made through the real pipeline against the demo's sandbox.

Customers pay on the portal's own pages (its test client stands in for their browser: the pay
form, its CSRF token, ``POST /i/<token>/pay``, 303 to Checkout); the payer acts in the sandbox
through its control API (``/_sandbox/checkout/sessions/<id>/pay``, settle, dispute, faults);
Stripe's events reach the portal through its webhook over HTTP, as in production. Nothing is
written to the ledger behind the pipeline's back, so ``portal ledger verify`` holds and the
console shows what a real day would leave: card payments waiting for confirmation, an ACH debit
clearing, an overpayment (two Checkout Sessions paid for one invoice while the webhook was
down), a payment taken in Stripe without the portal (unmatched), a dispute on a payment staff
had already confirmed, and older invoices spread over the aging buckets.

Each scenario runs once per database: one whose invoice already has a payment attempt (or, for
the unmatched payment, whose customer already has an unmatched payment) is left as it is, so
running the demo again adds nothing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import select

from payments.checkout import start
from payments.checkout.models import Allocation, PaymentAttempt
from payments.confirmations import queue
from payments.events import processing
from payments.invoicing.models import Invoice
from payments.invoicing.upsert import upsert_invoice
from payments.ledger.models import Payment
from payments.links import tokens
from payments.staff import audit
from payments.stripe.gateway import StripeGateway
from portal import database, urls
from portal.cli.demo_data import DemoInvoice, console_invoices

CARD = {"method": "card", "number": "4242424242424242"}
BANK = {"method": "us_bank_account", "account_number": "000123456789"}
ACTOR = audit.Actor(None, "demo")
CONFIRMED = ("paid", "ach_settled", "disputed")  # staff confirmed these (the demo did)


@dataclass
class Seeded:
    """What this run did: the scenarios it ran, and the ACH debits left clearing."""

    ran: list[str] = field(default_factory=list)
    clearing: list[str] = field(default_factory=list)  # PaymentIntent ids
    charges: dict[str, str] = field(default_factory=dict)  # external id -> charge id


class Pipeline:
    """The two ends the demo drives: the customer's browser on the portal, the payer and the
    operator in the sandbox (its control API, in-process)."""

    def __init__(self, app: Flask, sandbox: Flask, sandbox_url: str) -> None:
        self.app, self.browser = app, app.test_client()
        self.sandbox = sandbox.test_client()
        # Someone else's Stripe integration (the unmatched payment) talks to the same sandbox.
        self.stripe = StripeGateway(app.config["STRIPE_SECRET_KEY"], sandbox_url,
                                    max_network_retries=0)

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST to the sandbox's ``/_sandbox/<path>``; raise on anything but 200."""
        response = self.sandbox.post(f"/_sandbox/{path}", json=body or {})
        if response.status_code != 200:
            raise RuntimeError(f"sandbox {path}: {response.status_code} {response.get_data()!r}")
        return response.get_json()

    def checkout(self, pay_path: str, **form: str) -> str:
        """Press "Pay" on the invoice page; returns the Checkout Session id it leads to."""
        page = self.browser.get(pay_path).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if token is None:
            raise RuntimeError(f"no pay form on {pay_path}")
        response = self.browser.post(f"{pay_path}/pay", data={"csrf_token": token[1], **form})
        if response.status_code != 303:
            raise RuntimeError(f"pay {pay_path}: {response.status_code}")
        return re.search(r"(cs_test_[A-Za-z0-9]+)", response.headers["Location"])[1]

    def pay(self, session_id: str, method: dict[str, str]) -> dict[str, Any]:
        """The payer completes Checkout; returns the PaymentIntent."""
        paid = self.control(f"checkout/sessions/{session_id}/pay", method)
        if paid.get("status") != "complete" and paid.get("error"):
            raise RuntimeError(f"payment refused: {paid['error']}")
        return paid["payment_intent"]

    def delivered(self, timeout: float) -> bool:
        """Wait until the sandbox has no webhook left to deliver and the portal's background
        work has applied every event it stored."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.sandbox.get("/_sandbox/deliveries", query_string={"status": "pending"})
            if not response.get_json()["data"] and not self._unapplied():
                return True
            time.sleep(0.05)
        return False

    def _unapplied(self) -> int:
        with self.app.app_context():
            return processing.unapplied(database.db())


def seed_console(app: Flask, sandbox: Flask, sandbox_url: str, timeout: float = 30) -> Seeded:
    """Create the console's invoices and run each scenario not run before (see the module)."""
    todo = _upsert(app)
    seeded = Seeded()
    if not todo:
        return seeded
    pipe = Pipeline(app, sandbox, sandbox_url)
    overpaid = [d for d in todo if d.scenario == "overpaid"]
    if overpaid:
        _overpay(pipe, overpaid, seeded)  # first: the outage it needs delays every delivery
    for demo in todo:
        if demo.scenario not in ("overpaid", "unmatched"):
            _pay(pipe, demo, seeded)
        elif demo.scenario == "unmatched":
            _unmatched(app, pipe, demo, seeded)
    if not pipe.delivered(timeout):
        raise RuntimeError("the sandbox's webhooks did not reach the portal in time")
    _confirm(app, [d for d in todo if d.scenario in CONFIRMED])
    for demo in todo:
        if demo.scenario == "disputed":
            pipe.control(f"charges/{seeded.charges[demo.payload.external_id]}/dispute",
                         {"reason": "product_not_received"})
    if not pipe.delivered(timeout):
        raise RuntimeError("the sandbox's webhooks did not reach the portal in time")
    return seeded


def _upsert(app: Flask) -> list[DemoInvoice]:
    """Create or refresh the console's invoices; return those whose scenario is still to run,
    each with ``path`` set to its pay page."""
    policy = app.extensions["portal.links"]
    todo = []
    with app.app_context(), database.db().transaction() as session:
        for demo in console_invoices():
            invoice = upsert_invoice(session, demo.payload, policy).invoice
            if demo.scenario == "open" or _done(session, demo, invoice):
                continue
            link = tokens.active(session, invoice_id=invoice.id)
            if link is None or tokens.is_expired(link):
                link, _token = tokens.issue(session, policy.key, invoice_id=invoice.id,
                                           ttl=policy.ttl)
            demo.path = urlsplit(urls.pay_url(policy.key.token(link.nonce))).path
            demo.invoice_id, demo.customer_id = invoice.id, invoice.customer_id
            todo.append(demo)
    return todo


def _done(session, demo: DemoInvoice, invoice: Invoice) -> bool:
    if demo.scenario == "unmatched":
        return session.scalar(select(Payment.id).where(
            Payment.customer_id == invoice.customer_id, Payment.attempt_id.is_(None))) is not None
    return session.scalar(select(Allocation.id).where(
        Allocation.invoice_id == invoice.id)) is not None


def _overpay(pipe: Pipeline, demos: list[DemoInvoice], seeded: Seeded) -> None:
    """Two tabs: the full amount paid while the portal hears nothing (a webhook outage), then
    a part payment in another session; both reach the portal once the outage ends."""
    pipe.control("faults", {"outage": True})
    try:
        for demo in demos:
            pipe.pay(pipe.checkout(demo.path), CARD)
            part = demo.part or 1
            pipe.pay(pipe.checkout(demo.path, choice="other", amount=part), CARD)
            seeded.ran.append(demo.describe())
    finally:
        pipe.control("faults", {"outage": False})


def _pay(pipe: Pipeline, demo: DemoInvoice, seeded: Seeded) -> None:
    method = BANK if demo.scenario in ("ach", "ach_settled") else CARD
    intent = pipe.pay(pipe.checkout(demo.path), method)
    if demo.scenario == "ach":
        seeded.clearing.append(intent["id"])
    elif demo.scenario == "ach_settled":
        pipe.control(f"payment_intents/{intent['id']}/settle")
    seeded.charges[demo.payload.external_id] = intent.get("latest_charge") or ""
    seeded.ran.append(demo.describe())


def _unmatched(app: Flask, pipe: Pipeline, demo: DemoInvoice, seeded: Seeded) -> None:
    """Someone took the customer's payment in Stripe directly: no attempt in its metadata."""
    with app.app_context():
        customer = start.stripe_customer(database.db().writer,
                                            app.extensions["portal.stripe"], demo.customer_id)
    session = pipe.stripe.create_checkout_session({
        "mode": "payment", "customer": customer, "success_url": "https://example.com/thanks",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": demo.payload.currency.lower(), "unit_amount": demo.payload.total,
            "product_data": {"name": f"Payment for {demo.payload.number}"}}}]},
        idempotency_key=f"demo-unmatched-{demo.invoice_id}")
    pipe.pay(session["id"], CARD)
    seeded.ran.append(demo.describe())


def _confirm(app: Flask, demos: list[DemoInvoice]) -> None:
    """Staff (the demo) confirm the older invoices' payments, audited as the console does."""
    if not demos:
        return
    with app.app_context(), database.db().transaction() as session:
        ids = session.scalars(
            select(Payment.id).join(PaymentAttempt, PaymentAttempt.id == Payment.attempt_id)
            .join(Allocation, Allocation.attempt_id == PaymentAttempt.id)
            .where(Allocation.invoice_id.in_([d.invoice_id for d in demos]),
                   Payment.status == "succeeded", Payment.confirmed_at.is_(None))).all()
        done = queue.confirm(session, ids, ACTOR.label)
        for item in done.confirmed:
            audit.record(session, ACTOR, "payment.confirm", ("payment", item.payment_id),
                         item.before, item.after)
