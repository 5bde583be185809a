"""Refunds (partial, full, pending, failed) and disputes (won, lost, accepted)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.stripe_sandbox.conftest import Sandbox


def paid_by(sandbox: Sandbox, new_session: Any, **body: Any) -> dict[str, Any]:
    session = new_session()
    result = sandbox.control(f"checkout/sessions/{session.id}/pay", body)
    intent = result["payment_intent"]
    if result["status"] == "processing":
        intent = sandbox.control(f"payment_intents/{intent['id']}/settle")
    return intent


def since(sandbox: Sandbox, marker: int) -> list[str]:
    return sandbox.event_types()[marker:]


def test_partial_then_full_refund(sandbox: Sandbox, new_session: Any) -> None:
    intent = paid_by(sandbox, new_session, method="card", number="4242424242424242")
    marker = len(sandbox.event_types())
    first = sandbox.client.v1.refunds.create(params={"payment_intent": intent["id"],
                                                     "amount": 5050,
                                                     "reason": "requested_by_customer"})
    assert first.id.startswith("re_") and first.status == "succeeded"
    assert (first.amount, first.charge, first.payment_intent) == (
        5050, intent["latest_charge"], intent["id"])
    assert since(sandbox, marker) == ["charge.refunded", "refund.created"]
    refunded = sandbox.client.v1.events.list(params={"type": "charge.refunded"}).data[0]
    assert refunded.data.object.amount_refunded == 5050
    assert refunded.data.previous_attributes.amount_refunded == 0
    charge = sandbox.client.v1.charges.retrieve(intent["latest_charge"])
    assert (charge.amount_refunded, charge.refunded) == (5050, False)
    assert [r.id for r in charge.refunds.data] == [first.id]

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        sandbox.client.v1.refunds.create(params={"charge": charge.id, "amount": 20000})
    assert too_much.value.code == "amount_too_large"
    rest = sandbox.client.v1.refunds.create(params={"charge": charge.id})
    assert rest.amount == 10000
    charge = sandbox.client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (15050, True)
    with pytest.raises(stripe.InvalidRequestError) as again:
        sandbox.client.v1.refunds.create(params={"charge": charge.id})
    assert again.value.code == "charge_already_refunded"
    listed = sandbox.client.v1.refunds.list(params={"payment_intent": intent["id"]})
    assert [r.id for r in listed.data] == [rest.id, first.id]


def test_refund_needs_a_succeeded_payment(sandbox: Sandbox, new_session: Any) -> None:
    session = new_session()
    pending = sandbox.control(f"checkout/sessions/{session.id}/pay",
                              {"method": "us_bank_account", "account_number": "000123456789"})
    with pytest.raises(stripe.InvalidRequestError) as error:
        sandbox.client.v1.refunds.create(
            params={"payment_intent": pending["payment_intent"]["id"]})
    assert error.value.code == "charge_not_refundable"
    with pytest.raises(stripe.InvalidRequestError) as error:
        sandbox.client.v1.refunds.create(params={})
    assert error.value.param == "charge"
    with pytest.raises(stripe.InvalidRequestError) as error:
        sandbox.client.v1.refunds.create(params={"charge": "ch_nope"})
    assert (error.value.code, error.value.http_status) == ("resource_missing", 400)


def test_ach_refund_pending_then_succeeds(sandbox: Sandbox, new_session: Any) -> None:
    intent = paid_by(sandbox, new_session, method="us_bank_account",
                     account_number="000123456789")
    refund = sandbox.client.v1.refunds.create(params={"payment_intent": intent["id"]})
    assert refund.status == "pending"
    marker = len(sandbox.event_types())
    sandbox.control(f"refunds/{refund.id}/succeed")
    assert since(sandbox, marker) == ["charge.refund.updated", "refund.updated"]
    updated = sandbox.client.v1.events.list(params={"type": "refund.updated"}).data[0]
    assert updated.data.object.status == "succeeded"
    assert updated.data.previous_attributes.status == "pending"


def test_refund_fails_later(sandbox: Sandbox, new_session: Any) -> None:
    intent = paid_by(sandbox, new_session, method="card", number="4242424242424242")
    refund = sandbox.client.v1.refunds.create(params={"payment_intent": intent["id"]})
    marker = len(sandbox.event_types())
    failed = sandbox.control(f"refunds/{refund.id}/fail")
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "expired_or_canceled_card"
    assert since(sandbox, marker) == ["charge.refund.updated", "refund.updated", "refund.failed"]
    charge = sandbox.client.v1.charges.retrieve(intent["latest_charge"])
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    sandbox.control(f"refunds/{refund.id}/fail", expect=400)


def test_dispute_won(sandbox: Sandbox, new_session: Any) -> None:
    intent = paid_by(sandbox, new_session, method="card", number="4242424242424242")
    marker = len(sandbox.event_types())
    dispute = sandbox.control(f"charges/{intent['latest_charge']}/dispute",
                              {"reason": "product_not_received"})
    assert dispute["id"].startswith("du_") and dispute["status"] == "needs_response"
    assert since(sandbox, marker) == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    assert sandbox.client.v1.charges.retrieve(intent["latest_charge"]).disputed
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sandbox.client.v1.refunds.create(params={"payment_intent": intent["id"]})
    assert refused.value.code == "charge_disputed"
    sandbox.control(f"charges/{intent['latest_charge']}/dispute", expect=400)
    won = sandbox.control(f"disputes/{dispute['id']}/win")
    assert won["status"] == "won"
    assert [t["amount"] for t in won["balance_transactions"]] == [-15050, 15050]
    assert since(sandbox, marker)[2:] == ["charge.dispute.funds_reinstated",
                                          "charge.dispute.closed"]
    closed = sandbox.client.v1.events.list(params={"type": "charge.dispute.closed"}).data[0]
    assert closed.data.object.status == "won"
    assert closed.data.previous_attributes.status == "needs_response"
    sandbox.control(f"disputes/{dispute['id']}/lose", expect=400)


def test_dispute_lost_and_accepted(sandbox: Sandbox, new_session: Any) -> None:
    first = paid_by(sandbox, new_session, method="card", number="4242424242424242")
    dispute = sandbox.control(f"charges/{first['latest_charge']}/dispute")
    marker = len(sandbox.event_types())
    assert sandbox.control(f"disputes/{dispute['id']}/lose")["status"] == "lost"
    assert since(sandbox, marker) == ["charge.dispute.closed"]
    second = paid_by(sandbox, new_session, method="card", number="4242424242424242")
    other = sandbox.control(f"charges/{second['latest_charge']}/dispute", {"amount": 1000})
    accepted = sandbox.client.v1.disputes.close(other["id"])
    assert (accepted.status, accepted.amount) == ("lost", 1000)
    listed = sandbox.client.v1.disputes.list(params={"payment_intent": second["id"]})
    assert [d.id for d in listed.data] == [other["id"]]


def test_dispute_test_card(sandbox: Sandbox, new_session: Any) -> None:
    paid_by(sandbox, new_session, method="card", number="4000000000000259")
    assert sandbox.event_types()[-2:] == ["charge.dispute.created",
                                          "charge.dispute.funds_withdrawn"]
    dispute = sandbox.client.v1.disputes.list().data[0]
    assert dispute.reason == "fraudulent"
    assert dispute.payment_method_details.card.brand == "visa"
