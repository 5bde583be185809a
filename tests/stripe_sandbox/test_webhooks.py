"""Webhook delivery: Stripe's signature scheme (checked with the official SDK), creation
order, retries with exponential backoff, and every fault-injection mode."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.stripe_sandbox.conftest import Receiver, Sandbox, serve, wait_for

CARD = {"method": "card", "number": "4242424242424242"}
CARD_EVENTS = ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded",
               "checkout.session.completed"]


def pay_card(sandbox: Sandbox, new_session: Any) -> Any:
    session = new_session()
    sandbox.control(f"checkout/sessions/{session.id}/pay", CARD)
    return session


def settled(sandbox: Sandbox) -> bool:
    return not sandbox.get("deliveries", status="pending")["data"]


def test_signed_like_stripe_and_in_order(hook: str, sandbox: Sandbox, receiver: Receiver,
                                         new_session: Any) -> None:
    pay_card(sandbox, new_session)
    wait_for(lambda: len(receiver.events()) == 5)
    assert receiver.types() == ["customer.created"] + CARD_EVENTS
    assert receiver.types() == sandbox.event_types()
    for delivery in receiver.deliveries:
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", delivery["signature"])
        event = stripe.Webhook.construct_event(delivery["body"], delivery["signature"], hook)
        assert event.id == delivery["event"]["id"]
        assert sandbox.client.construct_event(delivery["body"], delivery["signature"],
                                              hook).type == event.type
    first = receiver.deliveries[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(first["body"].replace("Acme", "Evil"),
                                       first["signature"], hook)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(first["body"], first["signature"], "whsec_wrong")
    wait_for(lambda: settled(sandbox))
    event = sandbox.client.v1.events.retrieve(receiver.events()[-1]["id"])
    assert event.pending_webhooks == 0


def test_retries_with_exponential_backoff(hook: str, sandbox: Sandbox,
                                          receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    sandbox.client.v1.customers.create(params={"name": "Retry"})
    wait_for(lambda: receiver.events())
    arrivals = [d["at"] for d in receiver.deliveries]
    assert [d["status"] for d in receiver.deliveries] == [500, 503, 200]
    assert arrivals[1] - arrivals[0] >= 0.045  # SANDBOX_RETRY_BASE 0.05
    assert arrivals[2] - arrivals[1] >= 0.095  # doubled
    log = wait_for(lambda: sandbox.get("deliveries", status="delivered")["data"])
    assert [a["status"] for a in log[0]["attempts"]] == [500, 503, 200]


def test_connection_errors_are_retried(sandbox: Sandbox) -> None:
    sandbox.control("webhook_endpoints", {"url": "http://127.0.0.1:9/closed"})
    sandbox.client.v1.customers.create(params={"name": "Nobody home"})
    failed = wait_for(lambda: sandbox.get("deliveries", status="failed")["data"])
    assert len(failed[0]["attempts"]) == 4  # SANDBOX_MAX_ATTEMPTS
    assert all(a["status"] is None and a["error"] for a in failed[0]["attempts"])


def test_outage_then_recovery(hook: str, sandbox: Sandbox, receiver: Receiver) -> None:
    sandbox.control("faults", {"outage": True})
    sandbox.client.v1.customers.create(params={"name": "During outage"})
    wait_for(lambda: sandbox.get("deliveries")["data"][0]["attempts"])
    assert receiver.deliveries == []
    sandbox.control("faults", {"outage": False})
    wait_for(lambda: receiver.events())
    record = sandbox.get("deliveries")["data"][0]
    assert record["status"] == "delivered"
    assert record["attempts"][0]["error"].startswith("connection refused")


def test_outage_longer_than_retries_drops_events_but_api_keeps_them(
        hook: str, sandbox: Sandbox, receiver: Receiver, new_session: Any) -> None:
    wait_for(lambda: receiver.events())  # customer.created
    sandbox.control("faults", {"outage": True})
    pay_card(sandbox, new_session)
    failed = wait_for(lambda: len(sandbox.get("deliveries", status="failed")["data"]) == 4
                      and sandbox.get("deliveries", status="failed")["data"])
    assert {record["type"] for record in failed} == set(CARD_EVENTS)
    sandbox.control("faults", {"outage": False})
    time.sleep(0.1)
    assert receiver.types() == ["customer.created"]
    recovered = sandbox.event_types(types=CARD_EVENTS)
    assert recovered == CARD_EVENTS  # what `portal stripe sync` reads back
    assert all(sandbox.client.v1.events.retrieve(r["event"]).pending_webhooks == 0
               for r in failed)
    undelivered = sandbox.client.v1.events.list(params={"delivery_success": False})
    assert sorted(e.type for e in undelivered.data) == sorted(CARD_EVENTS)
    delivered = sandbox.client.v1.events.list(params={"delivery_success": True})
    assert [e.type for e in delivered.data] == ["customer.created"]


def test_duplicate_delivery(hook: str, sandbox: Sandbox, receiver: Receiver) -> None:
    sandbox.control("faults", {"duplicate": True})
    sandbox.client.v1.customers.create(params={"name": "Twice"})
    events = wait_for(lambda: len(receiver.events()) == 2 and receiver.events())
    assert events[0]["id"] == events[1]["id"]
    assert [r["duplicate"] for r in sandbox.get("deliveries")["data"]] == [False, True]


def test_shuffled_order(hook: str, sandbox: Sandbox, receiver: Receiver,
                        new_session: Any) -> None:
    wait_for(lambda: receiver.events())
    sandbox.control("faults", {"shuffle_window": 4, "seed": 3})
    pay_card(sandbox, new_session)
    wait_for(lambda: len(receiver.events()) == 5)
    arrived = receiver.types()[1:]
    assert sorted(arrived) == sorted(CARD_EVENTS)
    assert arrived != CARD_EVENTS


def test_shuffle_window_flushes_when_not_full(hook: str, sandbox: Sandbox,
                                              receiver: Receiver) -> None:
    sandbox.control("faults", {"shuffle_window": 10, "shuffle_hold": 0.1})
    sandbox.client.v1.customers.create(params={"name": "Alone"})
    wait_for(lambda: receiver.events(), timeout=2)


def test_delay(hook: str, sandbox: Sandbox, receiver: Receiver) -> None:
    sandbox.control("faults", {"delay": 0.3})
    started = time.monotonic()
    sandbox.client.v1.customers.create(params={"name": "Late"})
    wait_for(lambda: receiver.events())
    assert receiver.deliveries[0]["at"] - started >= 0.3


def test_drop_next(hook: str, sandbox: Sandbox, receiver: Receiver, new_session: Any) -> None:
    wait_for(lambda: receiver.events())
    sandbox.control("faults", {"drop_next": 2})
    pay_card(sandbox, new_session)
    wait_for(lambda: len(receiver.events()) == 3)
    assert receiver.types()[1:] == CARD_EVENTS[2:]
    dropped = sandbox.get("deliveries", status="dropped")["data"]
    assert [r["type"] for r in dropped] == CARD_EVENTS[:2]
    assert sandbox.get("faults")["drop_next"] == 0


@pytest.mark.parametrize(("probability", "expected"), [(1.0, 0), (0.0, 4)])
def test_drop_probability(hook: str, sandbox: Sandbox, receiver: Receiver, new_session: Any,
                          probability: float, expected: int) -> None:
    wait_for(lambda: receiver.events())
    sandbox.control("faults", {"drop_probability": probability})
    pay_card(sandbox, new_session)
    wait_for(lambda: settled(sandbox))
    time.sleep(0.05)
    assert len(receiver.events()) - 1 == expected


def test_fault_validation_and_clearing(sandbox: Sandbox) -> None:
    sandbox.control("faults", {"drop_probability": 2}, expect=400)
    sandbox.control("faults", {"outage": "yes"}, expect=400)
    sandbox.control("faults", {"explode": True}, expect=400)
    sandbox.control("faults", {"duplicate": True, "delay": 1})
    response = sandbox.http.delete(f"{sandbox.url}/_sandbox/faults")
    assert response.json()["duplicate"] is False and response.json()["delay"] == 0


def test_enabled_events_disabled_and_deleted_endpoints(sandbox: Sandbox, receiver: Receiver,
                                                       new_session: Any) -> None:
    only = sandbox.client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["checkout.session.completed"]})
    pay_card(sandbox, new_session)
    wait_for(lambda: receiver.events())
    assert receiver.types() == ["checkout.session.completed"]
    sandbox.client.v1.webhook_endpoints.update(only.id, params={"disabled": True})
    pay_card(sandbox, new_session)
    sandbox.client.v1.webhook_endpoints.delete(only.id)
    pay_card(sandbox, new_session)
    time.sleep(0.1)
    assert receiver.types() == ["checkout.session.completed"]


SECRET = "whsec_configured0123456789"


@pytest.fixture
def configured(receiver: Receiver) -> Iterator[Sandbox]:
    """A sandbox started with the receiver as a configured endpoint."""
    yield from serve({"SANDBOX_WEBHOOKS": [{"url": receiver.url, "secret": SECRET}]})


def test_configured_endpoint_survives_reset(configured: Sandbox, receiver: Receiver) -> None:
    configured.client.v1.customers.create(params={"name": "Before"})
    wait_for(lambda: receiver.events())
    configured.control("reset")
    assert configured.client.v1.customers.list().data == []
    assert configured.get("deliveries")["data"] == []
    configured.client.v1.customers.create(params={"name": "After"})
    wait_for(lambda: len(receiver.events()) == 2)
    last = receiver.deliveries[-1]
    assert stripe.Webhook.construct_event(last["body"], last["signature"], SECRET)


def test_control_endpoint_registration(sandbox: Sandbox, receiver: Receiver) -> None:
    created = sandbox.control("webhook_endpoints", {"url": receiver.url,
                                                    "secret": "whsec_mine"})
    assert created["secret"] == "whsec_mine"
    sandbox.control("webhook_endpoints", {"url": receiver.url, "secret": "nope"}, expect=400)
    sandbox.client.v1.customers.create(params={"name": "Mine"})
    wait_for(lambda: receiver.events())
    delivery = receiver.deliveries[0]
    stripe.Webhook.construct_event(delivery["body"], delivery["signature"], "whsec_mine")
