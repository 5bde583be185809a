"""Bench data for ``bench/webhooks.py``: real payments made in the sandbox, the portal rows they
belong to, and a realistic stream of 10,000 signed events built from them."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

import stripe
import urllib3
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from payments.checkout.models import Allocation, PaymentAttempt
from payments.invoicing.models import Customer, Invoice, InvoiceLine

AMOUNT = 12_500
_HTTP = urllib3.PoolManager()


def reference(i: int) -> str:
    """The attempt reference of bench payment ``i`` (the same in every database)."""
    return f"pa_bench_{i:06d}"


def seed_portal(engine: Engine, payments: int) -> None:
    """One customer, invoice and open attempt per bench payment."""
    today = date.today()
    with Session(engine) as session, session.begin():
        for i in range(payments):
            customer = Customer(external_id=f"BC-{i}", name=f"Bench customer {i}",
                                email=f"ap{i}@bench.example")
            invoice = Invoice(external_id=f"BI-{i}", number=f"B-{i:06d}", currency="USD",
                              issue_date=today - timedelta(days=5), due_date=today + timedelta(25),
                              subtotal=AMOUNT, tax_amount=0, total=AMOUNT, content_hash="0" * 64,
                              customer=customer, lines=[InvoiceLine(
                                  position=1, description="Bench work", amount=AMOUNT)])
            session.add_all([customer, invoice])
            session.flush()
            session.add(PaymentAttempt(
                reference=reference(i), customer_id=customer.id, currency="USD", amount=AMOUNT,
                fingerprint="0" * 64, status="open",
                allocations=[Allocation(invoice_id=invoice.id, amount=AMOUNT)]))


def make_payments(sandbox_url: str, payments: int, seed: int = 7) -> None:
    """Pay ``payments`` Checkout Sessions in the sandbox: mostly cards, some ACH (cleared or
    returned), some refunded: the event types a portal really receives."""
    client = stripe.StripeClient("sk_test_bench", base_addresses={"api": sandbox_url},
                                 max_network_retries=0)
    rng = random.Random(seed)
    for i in range(payments):
        metadata = {"portal_attempt": reference(i)}
        session = client.v1.checkout.sessions.create({
            "mode": "payment", "success_url": "http://127.0.0.1/ok", "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "payment_method_types": ["card", "us_bank_account"],
            "line_items": [{"quantity": 1, "price_data": {
                "currency": "usd", "unit_amount": AMOUNT,
                "product_data": {"name": f"Invoice B-{i:06d}"}}}]})
        ach = rng.random() < 0.2
        body = ({"method": "us_bank_account", "account_number": "000123456789"} if ach
                else {"method": "card", "number": "4242424242424242"})
        paid = _control(sandbox_url, f"checkout/sessions/{session.id}/pay", body)
        intent = paid["payment_intent"]["id"]
        if ach:
            _control(sandbox_url, f"payment_intents/{intent}/"
                     f"{'settle' if rng.random() < 0.7 else 'fail'}", {})
        elif rng.random() < 0.1:
            client.v1.refunds.create({"payment_intent": intent, "amount": AMOUNT // 5})


def _control(base: str, path: str, body: dict) -> dict:
    response = _HTTP.request("POST", f"{base}/_sandbox/{path}", body=json.dumps(body),
                             headers={"Content-Type": "application/json"})
    if response.status != 200:
        raise RuntimeError(f"sandbox {path}: {response.status} {response.data[:300]!r}")
    return json.loads(response.data)


def all_events(sandbox_url: str) -> list[dict]:
    """Every event the sandbox has, oldest first."""
    client = stripe.StripeClient("sk_test_bench", base_addresses={"api": sandbox_url})
    listed = client.v1.events.list({"limit": 100}).auto_paging_iter()
    return [event.to_dict() for event in listed][::-1]


def stream(real: list[dict], total: int, seed: int = 11) -> list[dict]:
    """``total`` events: every real one, 15 % redeliveries, the rest events of types and
    objects the portal does not handle (Stripe sends plenty), shuffled lightly."""
    rng = random.Random(seed)
    duplicates = [rng.choice(real) for _ in range(min(int(total * 0.15), total - len(real)))]
    filler = [{"id": f"evt_bench_other_{n}", "object": "event", "type": "customer.updated",
               "created": real[-1]["created"], "api_version": "2024-06-20",
               "data": {"object": {"id": f"cus_other_{n}", "object": "customer"}}}
              for n in range(total - len(real) - len(duplicates))]
    events = real + duplicates + filler
    # Stripe does not promise order: shuffle within small windows, as retries do.
    for start in range(0, len(events), 8):
        window = events[start:start + 8]
        rng.shuffle(window)
        events[start:start + 8] = window
    return events
