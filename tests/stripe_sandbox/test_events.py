"""The Events API: newest first, Stripe's cursors, filters, 30-day retention, and what each
event carries."""

from __future__ import annotations

import pytest
import stripe

from tests.stripe_sandbox.conftest import Sandbox


def make_events(sandbox: Sandbox, count: int) -> list[str]:
    """``count`` customer.created events; their ids oldest first."""
    for index in range(count):
        sandbox.client.v1.customers.create(params={"name": f"C{index}"})
    return [e.id for e in reversed(sandbox.client.v1.events.list(params={"limit": 100}).data)]


def ids(page: stripe.ListObject) -> list[str]:
    return [event.id for event in page.data]


def test_newest_first_with_cursors(sandbox: Sandbox) -> None:
    oldest_first = make_events(sandbox, 7)
    newest_first = list(reversed(oldest_first))
    first = sandbox.client.v1.events.list(params={"limit": 3})
    assert ids(first) == newest_first[:3] and first.has_more
    second = sandbox.client.v1.events.list(params={"limit": 3, "starting_after": first.data[-1].id})
    assert ids(second) == newest_first[3:6] and second.has_more
    last = sandbox.client.v1.events.list(params={"limit": 3, "starting_after": second.data[-1].id})
    assert ids(last) == newest_first[6:] and not last.has_more
    before = sandbox.client.v1.events.list(params={"limit": 2, "ending_before": newest_first[4]})
    assert ids(before) == newest_first[2:4] and before.has_more
    top = sandbox.client.v1.events.list(params={"limit": 5, "ending_before": newest_first[2]})
    assert ids(top) == newest_first[:2] and not top.has_more
    walked = [event.id for event in sandbox.client.v1.events.list(
        params={"limit": 2}).auto_paging_iter()]
    assert walked == newest_first


def test_cursor_errors(sandbox: Sandbox) -> None:
    make_events(sandbox, 2)
    with pytest.raises(stripe.InvalidRequestError) as error:
        sandbox.client.v1.events.list(params={"starting_after": "evt_missing"})
    assert error.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError):
        sandbox.client.v1.events.list(params={"limit": 0})
    with pytest.raises(stripe.InvalidRequestError):
        sandbox.client.v1.events.list(params={"starting_after": "a", "ending_before": "b"})


def test_type_and_created_filters(sandbox: Sandbox, new_session) -> None:
    session = new_session()
    sandbox.control(f"checkout/sessions/{session.id}/pay",
                    {"method": "card", "number": "4242424242424242"})
    chosen = sandbox.client.v1.events.list(
        params={"types": ["charge.succeeded", "checkout.session.completed"]})
    assert [e.type for e in chosen.data] == ["checkout.session.completed", "charge.succeeded"]
    wildcard = sandbox.client.v1.events.list(params={"type": "payment_intent.*"})
    assert [e.type for e in wildcard.data] == ["payment_intent.succeeded",
                                               "payment_intent.created"]
    now = sandbox.store.now()
    sandbox.control("clock", {"advance": 100})
    sandbox.client.v1.customers.create(params={"name": "Later"})
    recent = sandbox.client.v1.events.list(params={"created": {"gte": now + 100}})
    assert [e.type for e in recent.data] == ["customer.created"]
    older = sandbox.client.v1.events.list(params={"created": {"lt": now + 100}})
    assert "customer.created" in [e.type for e in older.data]
    assert len(older.data) == len(sandbox.client.v1.events.list(params={"limit": 100}).data) - 1


def test_events_older_than_30_days_are_gone(sandbox: Sandbox) -> None:
    old = make_events(sandbox, 1)[0]
    sandbox.control("clock", {"advance": 29 * 24 * 3600})
    assert ids(sandbox.client.v1.events.list()) == [old]
    sandbox.control("clock", {"advance": 2 * 24 * 3600})
    assert sandbox.client.v1.events.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as error:
        sandbox.client.v1.events.retrieve(old)
    assert error.value.http_status == 404


def test_event_envelope(sandbox: Sandbox) -> None:
    sandbox.client.v1.customers.create(params={"name": "Env"},
                                       options={"idempotency_key": "cust-env"})
    event = sandbox.client.v1.events.list().data[0]
    assert event.id.startswith("evt_") and event.object == "event"
    assert event.api_version == sandbox.app.config["SANDBOX_API_VERSION"]
    assert event.request.id.startswith("req_")
    assert event.request.idempotency_key == "cust-env"
    assert event.pending_webhooks == 0 and event.livemode is False
    assert event.data.object.name == "Env"
    assert sandbox.client.v1.events.retrieve(event.id).id == event.id


def test_snapshot_not_live_object(sandbox: Sandbox, new_session) -> None:
    session = new_session()
    sandbox.control(f"checkout/sessions/{session.id}/pay",
                    {"method": "us_bank_account", "account_number": "000123456789"})
    intent_id = sandbox.client.v1.checkout.sessions.retrieve(session.id).payment_intent
    sandbox.control(f"payment_intents/{intent_id}/settle")
    processing = sandbox.client.v1.events.list(params={"type": "payment_intent.processing"})
    assert processing.data[0].data.object.status == "processing"
    created = sandbox.client.v1.events.list(params={"type": "payment_intent.created"})
    assert created.data[0].data.object.status == "requires_payment_method"
    assert created.data[0].request.id is None  # caused by the payer, not an API request
