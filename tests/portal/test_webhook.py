"""``POST /stripe/webhook`` answers as Stripe expects and never applies an unverified event."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select, text

from payments.events import event_store
from payments.events.models import EventFailure, StripeEvent

SECRET = "whsec_test_webhook"


def _post(client, event: dict, secret: str = SECRET, timestamp: int | None = None):
    body = json.dumps(event).encode()
    return client.post("/stripe/webhook", data=body, content_type="application/json",
                       headers={"Stripe-Signature": event_store.sign(body, secret, timestamp)})


def _event(type_: str = "invoice.created", event_id: str = "evt_w1") -> dict:
    return {"id": event_id, "object": "event", "type": type_, "created": int(time.time()),
            "data": {"object": {"id": "in_1", "object": "invoice"}}}


def _stored(db) -> int:
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(StripeEvent))


def test_unknown_event_types_are_stored_and_acknowledged_once(app_factory):
    app = app_factory(STRIPE_WEBHOOK_SECRET=f"whsec_old, {SECRET}")
    client, db = app.test_client(), app.extensions["portal.db"]
    first, again = _post(client, _event()), _post(client, _event())
    assert (first.status_code, first.get_json()["outcome"]) == (200, "queued")
    assert (again.status_code, again.get_json()["outcome"]) == (200, "duplicate")
    assert _post(client, _event(event_id="evt_w2"), secret="whsec_old").status_code == 200
    assert _stored(db) == 2


def test_bad_signatures_and_stale_timestamps_get_400_and_change_nothing(app_factory):
    app = app_factory(STRIPE_WEBHOOK_SECRET=SECRET)
    client = app.test_client()
    assert _post(client, _event(), secret="whsec_wrong").status_code == 400
    assert _post(client, _event(), timestamp=int(time.time()) - 600).status_code == 400
    assert _post(client, _event(), timestamp=int(time.time()) + 600).status_code == 400
    unsigned = client.post("/stripe/webhook", data=json.dumps(_event()),
                           content_type="application/json")
    assert unsigned.status_code == 400
    assert _stored(app.extensions["portal.db"]) == 0


def test_without_a_secret_every_event_is_refused(app_factory):
    app = app_factory()
    response = _post(app.test_client(), _event())
    assert response.status_code == 503
    assert "STRIPE_WEBHOOK_SECRET" in response.get_json()["error"]
    assert _stored(app.extensions["portal.db"]) == 0


def test_a_failing_handler_is_retried_by_the_portal_not_by_stripe(app_factory):
    # No STRIPE_SECRET_KEY: the handler cannot reach Stripe, as during an outage. The event is
    # kept and answered; its failure is counted and it is due again after a backoff.
    app = app_factory(STRIPE_WEBHOOK_SECRET=SECRET)
    response = _post(app.test_client(), _event("payment_intent.succeeded", "evt_fail"))
    assert (response.status_code, response.get_json()["outcome"]) == (200, "queued")
    db = app.extensions["portal.db"]
    assert _stored(db) == 1
    with db.reader() as session:
        failure = session.get(EventFailure, "evt_fail")
        assert failure.attempts == 1 and failure.next_attempt_at > failure.last_failed_at
        assert session.get(StripeEvent, "evt_fail").processed_at is None


def test_a_database_that_cannot_store_the_event_answers_500_and_stripe_retries(app_factory):
    app = app_factory(STRIPE_WEBHOOK_SECRET=SECRET)
    db, client = app.extensions["portal.db"], app.test_client()
    with db.engine.begin() as conn:  # the table is gone, as with a database being restored
        conn.execute(text("ALTER TABLE stripe_events RENAME TO stripe_events_away"))
    try:
        assert _post(client, _event()).status_code == 500
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE stripe_events_away RENAME TO stripe_events"))
    assert _stored(db) == 0
    retried = _post(client, _event())  # Stripe's redelivery
    assert (retried.status_code, retried.get_json()["outcome"]) == (200, "queued")
    assert _stored(db) == 1


def _signed_raw(client, body: bytes):
    return client.post("/stripe/webhook", data=body, content_type="application/json",
                       headers={"Stripe-Signature": event_store.sign(body, SECRET)})


@pytest.mark.parametrize("body", [
    b"not json at all",
    b"[1, 2, 3]",
    b'"evt_1"',
    b'{"id": "evt_deep", "type": "x", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    json.dumps({**_event(), "id": 42}).encode(),
    json.dumps({**_event(), "id": "evt_" + "x" * 300}).encode(),
    json.dumps({**_event(), "type": ["payment_intent.succeeded"]}).encode(),
    json.dumps({**_event(), "type": "t" * 200}).encode(),
    json.dumps({**_event(), "created": "yesterday"}).encode(),
    json.dumps({**_event(), "created": True}).encode(),
    json.dumps({**_event(), "data": ["not", "an", "object"]}).encode(),
    json.dumps({**_event(), "data": {"object": "pi_1"}}).encode(),
    json.dumps({**_event(), "data": {"object": {"object": "payment_intent",
                                                 "id": "pi_" + "x" * 300}}}).encode(),
], ids=["not-json", "array", "string", "deep-nesting", "id-int", "id-too-long", "type-list",
        "type-too-long", "created-string", "created-bool", "data-list", "object-string",
        "ref-too-long"])
def test_a_signed_body_that_is_no_stripe_event_is_refused_and_nothing_stored(app_factory,
                                                                                body):
    # Signed with the real secret: the worst case, as only the signature stands in front.
    app = app_factory(STRIPE_WEBHOOK_SECRET=SECRET, PROPAGATE_EXCEPTIONS=False)
    response = _signed_raw(app.test_client(), body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "error" in response.get_json()
    assert _stored(app.extensions["portal.db"]) == 0


def test_a_body_over_the_size_limit_is_refused_before_it_is_read(app_factory):
    app = app_factory(STRIPE_WEBHOOK_SECRET=SECRET, PROPAGATE_EXCEPTIONS=False)
    huge = json.dumps({**_event(), "padding": "x" * (10 * 1024 * 1024)}).encode()
    assert _signed_raw(app.test_client(), huge).status_code == 413
    assert _stored(app.extensions["portal.db"]) == 0
