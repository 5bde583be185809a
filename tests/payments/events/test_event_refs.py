"""Stored Stripe events are filed under the PaymentIntent (or Checkout Session) their object
belongs to, as they arrive and, by migration 0005, for events stored before it."""

from __future__ import annotations

import json

from sqlalchemy import select, text

from payments.db import make_engine
from payments.events import event_store
from payments.events.models import StripeEvent
from payments.migrate import upgrade
from tests.conftest import PG_URL


def store_event(db, event_id: str, kind: str, obj: dict, created: int, source="webhook"):
    """Store a Stripe event through the event store (its handler does nothing here)."""
    event = {"id": event_id, "object": "event", "type": kind, "created": created,
             "data": {"object": obj}}
    assert event_store.ingest(db, event, lambda session, ev: None, source).outcome == "applied"


def test_events_are_filed_under_their_payment_intent_or_checkout_session(db):
    t0 = 1_767_225_600
    cases = [
        ("payment_intent.succeeded", {"object": "payment_intent", "id": "pi_1"}, "pi_1"),
        ("charge.refunded", {"object": "charge", "id": "ch_1", "payment_intent": "pi_2"}, "pi_2"),
        ("charge.dispute.created", {"object": "dispute", "id": "du_1",
                                    "payment_intent": {"id": "pi_3"}}, "pi_3"),
        ("checkout.session.expired", {"object": "checkout.session", "id": "cs_1",
                                      "payment_intent": None}, "cs_1"),
        ("checkout.session.completed", {"object": "checkout.session", "id": "cs_2",
                                        "payment_intent": "pi_4"}, "pi_4"),
        ("customer_cash_balance_transaction.created",
         {"object": "customer_cash_balance_transaction", "id": "ccsbtxn_1",
          "applied_to_payment": {"payment_intent": "pi_5"}}, "pi_5"),
        ("customer.created", {"object": "customer", "id": "cus_1"}, None),
    ]
    for n, (kind, obj, _ref) in enumerate(cases):
        store_event(db, f"evt_{n}", kind, obj, t0 + n)
    with db.reader() as session:
        refs = dict(session.execute(select(StripeEvent.id, StripeEvent.payment_ref)).all())
    assert refs == {f"evt_{n}": ref for n, (_k, _o, ref) in enumerate(cases)}


def test_migration_0005_files_the_events_already_stored(tmp_path):
    if PG_URL:  # a schema of its own, so the test database is left as it is
        engine = make_engine(PG_URL, connect_args={"options": "-csearch_path=mig0005"})
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS mig0005 CASCADE"))
            conn.execute(text("CREATE SCHEMA mig0005"))
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine, "0004")
        payloads = {
            "evt_pi": ({"object": "payment_intent", "id": "pi_1"}, "pi_1"),
            "evt_ch": ({"object": "charge", "id": "ch_1", "payment_intent": "pi_2"}, "pi_2"),
            "evt_du": ({"object": "dispute", "id": "du_1", "payment_intent": {"id": "pi_3"}},
                       "pi_3"),
            "evt_cs": ({"object": "checkout.session", "id": "cs_1", "payment_intent": None},
                       "cs_1"),
            "evt_cb": ({"object": "customer_cash_balance_transaction", "id": "cb_1",
                        "applied_to_payment": {"payment_intent": "pi_5"}}, "pi_5"),
            "evt_cu": ({"object": "customer", "id": "cus_1"}, None),
        }
        with engine.begin() as conn:
            for event_id, (obj, _ref) in payloads.items():
                conn.execute(text(
                    "INSERT INTO stripe_events (id, type, created, payload, source, received_at)"
                    " VALUES (:id, 'x', 1, :payload, 'webhook', CURRENT_TIMESTAMP)"),
                    {"id": event_id, "payload": json.dumps({"id": event_id,
                                                            "data": {"object": obj}})})
        upgrade(engine)
        with engine.connect() as conn:
            refs = dict(conn.execute(text("SELECT id, payment_ref FROM stripe_events")).all())
        assert refs == {event_id: ref for event_id, (_obj, ref) in payloads.items()}
    finally:
        if PG_URL:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA mig0005 CASCADE"))
        engine.dispose()
