"""Stripe events: signature verification and the store-once, handle-in-the-same-transaction rule."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from payments.events import event_store
from payments.events.models import EventFailure, StripeEvent
from payments.invoicing.models import Customer

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"


def _event(event_id: str = "evt_1", type_: str = "payment_intent.succeeded") -> dict:
    return {"id": event_id, "object": "event", "type": type_, "created": int(time.time()),
            "data": {"object": {"id": "pi_1", "object": "payment_intent"}}}


def _payload(event: dict) -> bytes:
    return json.dumps(event).encode()


def test_a_genuine_event_verifies_with_either_rotated_secret():
    body = _payload(_event())
    for secret in (SECRET, OLD_SECRET):
        header = event_store.sign(body, secret)
        assert event_store.verify(body, header, [SECRET, OLD_SECRET])["id"] == "evt_1"


@pytest.mark.parametrize("case", ["wrong secret", "tampered", "too old", "in the future",
                                  "no header", "no v1", "garbage header", "no secret set",
                                  "not an event"])
def test_anything_else_is_refused(case):
    event = _event()
    body = _payload(event)
    now = int(time.time())
    header = event_store.sign(body, SECRET, now)
    secrets = [SECRET]
    if case == "wrong secret":
        header = event_store.sign(body, "whsec_attacker", now)
    elif case == "tampered":
        body = body.replace(b"pi_1", b"pi_2")
    elif case == "too old":
        header = event_store.sign(body, SECRET, now - 301)
    elif case == "in the future":
        header = event_store.sign(body, SECRET, now + 301)
    elif case == "no header":
        header = None
    elif case == "no v1":
        header = f"t={now},v0=abc"
    elif case == "garbage header":
        header = "hello"
    elif case == "no secret set":
        secrets = []
    elif case == "not an event":
        body = b"[1, 2]"
        header = event_store.sign(body, SECRET, now)
    with pytest.raises(event_store.SignatureError):
        event_store.verify(body, header, secrets)


def _counting_handler(calls: list[str]):
    def handle(session, event):
        calls.append(event["id"])
        session.add(Customer(external_id=f"from-{event['id']}", name="x"))
    return handle


def _count(db, model) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_an_event_is_stored_and_handled_once(db):
    calls: list[str] = []
    handler = _counting_handler(calls)
    assert event_store.ingest(db, _event(), handler, "webhook").outcome == "applied"
    assert event_store.ingest(db, _event(), handler, "webhook").outcome == "duplicate"
    assert calls == ["evt_1"]
    assert _count(db, StripeEvent) == 1 and _count(db, Customer) == 1


def test_a_failing_handler_leaves_nothing_and_the_redelivery_applies_once(db):
    def broken(session, event):
        session.add(Customer(external_id="half-written", name="x"))
        session.flush()
        raise RuntimeError("database went away")

    for attempt in (1, 2):
        result = event_store.ingest(db, _event(), broken, "webhook")
        assert result.outcome == "failed"
        assert _count(db, StripeEvent) == 0 and _count(db, Customer) == 0
        with db.reader() as session:
            failure = session.get(EventFailure, "evt_1")
            assert (failure.attempts, failure.error_type) == (attempt, "RuntimeError")
            assert "database went away" in failure.error_message
    calls: list[str] = []
    handler = _counting_handler(calls)
    assert event_store.ingest(db, _event(), handler, "webhook").outcome == "applied"
    with db.reader() as session:
        assert session.get(EventFailure, "evt_1").resolved_at is not None
    assert calls == ["evt_1"] and _count(db, Customer) == 1


def test_twenty_concurrent_deliveries_apply_once(db):
    calls: list[str] = []
    handler = _counting_handler(calls)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def deliver():
        barrier.wait()
        outcomes.append(event_store.ingest(db, _event(), handler, "webhook").outcome)

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * 19
    assert _count(db, StripeEvent) == 1 and _count(db, Customer) == 1
