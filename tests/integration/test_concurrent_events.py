"""All of a payment's events arriving at the same moment (Stripe sends them in parallel, and a
recovered outage redelivers them in bursts) record the payment once, and on PostgreSQL never
deadlock: the handlers take their row locks in one order (attempt, payment, invoices)."""

from __future__ import annotations

import json
import threading
from collections import defaultdict

import requests
from sqlalchemy import func, select, text

from payments.events import event_store
from payments.events.models import EventFailure
from payments.ledger.models import Payment
from payments.stripe.facts import intent_of
from tests.integration.conftest import WEBHOOK_SECRET, session_id

PAYMENTS = 4


def _deadlocks(db) -> int | None:
    if db.is_sqlite:
        return None  # one writer at a time: nothing to deadlock
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT deadlocks FROM pg_stat_database "
                                 "WHERE datname = current_database()")).scalar()


def _deliver_together(url: str, burst: list[dict]) -> list[int]:
    """POST every event of ``burst`` at once (one thread each, released together)."""
    barrier = threading.Barrier(len(burst))
    statuses: list[int] = []

    def post(event: dict) -> None:
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json",
                   "Stripe-Signature": event_store.sign(body, WEBHOOK_SECRET)}
        barrier.wait()
        statuses.append(requests.post(f"{url}/stripe/webhook", data=body, headers=headers,
                                      timeout=30).status_code)

    threads = [threading.Thread(target=post, args=(event,)) for event in burst]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_a_payments_events_delivered_at_once_record_it_once(stack, customer):
    stack.sandbox.control("faults", {"outage": True})  # the portal hears nothing, yet
    invoices = [stack.create_invoice(external_id=f"ERP-C{n}", number=f"INV-C{n}")
                for n in range(PAYMENTS)]
    for inv in invoices:
        checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
        stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                              {"method": "card", "number": "4242424242424242"})
    listed = stack.sandbox.client.v1.events.list(params={"limit": 100})
    by_intent: dict[str, list[dict]] = defaultdict(list)
    for event in listed.data:
        payload = event.to_dict()
        if pi := intent_of(payload["data"]["object"]):
            by_intent[pi].append(payload)
    assert len(by_intent) == PAYMENTS
    db = stack.app.extensions["portal.db"]
    deadlocks_before = _deadlocks(db)

    for burst in by_intent.values():  # every event twice, all of one payment's at once
        assert set(_deliver_together(stack.url, burst + burst)) == {200}

    for inv in invoices:
        shown = stack.invoice(inv["id"])
        assert (shown["status"], shown["amount_paid"], shown["amount_pending"]) == \
            ("paid", 3850, 0)
    with db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == PAYMENTS
        assert session.scalar(select(func.count()).select_from(EventFailure)) == 0
    assert _deadlocks(db) == deadlocks_before
