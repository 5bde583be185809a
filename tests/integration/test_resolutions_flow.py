"""Resolving exceptions with real payments: refunds sent through the Stripe boundary to the
sandbox, whose own events then reconcile the ledger; confirmation and export of real payments."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from payments.confirmations import export, queue
from payments.ledger import ledger
from payments.ledger.models import LedgerEntry, Payment, ReconciliationException
from payments.resolutions import actions, refunds
from payments.stripe.gateway import StripeGateway
from tests.integration.conftest import session_id, wait_for

CARD = {"method": "card", "number": "4242424242424242"}
CLERK = "clerk@acme.example"


def _db(stack):
    return stack.app.extensions["portal.db"]


def _gateway(stack) -> StripeGateway:
    return stack.app.extensions["portal.stripe"]


def _open(stack, kind: str) -> ReconciliationException:
    def found():
        with _db(stack).reader() as session:
            return session.scalar(select(ReconciliationException).where(
                ReconciliationException.kind == kind,
                ReconciliationException.resolved_at.is_(None)))
    return wait_for(found, timeout=10)


def _refunds_at_stripe(stack, payment_intent_id: str) -> list[int]:
    listed = stack.sandbox.client.v1.refunds.list({"payment_intent": payment_intent_id})
    return [refund.amount for refund in listed.data]


def _verify(stack) -> None:
    with _db(stack).reader() as session:
        assert ledger.verify(session) == []


def _overpaid(stack, customer) -> tuple[dict, ReconciliationException]:
    """An invoice of 38.50 paid in full in one tab and 20.00 in another."""
    inv = stack.create_invoice(allow_partial=True, min_partial_amount=1000)
    stack.sandbox.control("faults", {"outage": True})
    first = session_id(customer.pay(inv["pay_url"]).headers["Location"])
    stack.sandbox.control(f"checkout/sessions/{first}/pay", CARD)
    second = customer.pay(inv["pay_url"], choice="other", amount="20.00").headers["Location"]
    stack.sandbox.control(f"checkout/sessions/{session_id(second)}/pay", CARD)
    stack.sandbox.control("faults", {"outage": False})
    stack.settled(inv["id"], amount_paid=5850)
    return inv, _open(stack, "overpayment")


def _unmatched(stack, amount: int = 3850) -> tuple[str, ReconciliationException]:
    """A payment taken in Stripe directly, without the portal's metadata."""
    created = stack.sandbox.client.v1.checkout.sessions.create({
        "mode": "payment", "success_url": "https://example.com/ok",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "usd", "unit_amount": amount,
            "product_data": {"name": "Payment"}}}]})
    paid = stack.sandbox.control(f"checkout/sessions/{created.id}/pay", CARD)
    return paid["payment_intent"]["id"], _open(stack, "unmatched_payment")


def test_an_overpayment_refunded_through_stripe_reopens_nothing(stack, customer):
    inv, exc = _overpaid(stack, customer)
    with _db(stack).reader() as session:
        intent = session.get(Payment, exc.payment_id).payment_intent_id
    done = refunds.refund(_db(stack).writer, _gateway(stack), exc.id, 2000, CLERK)
    refund_id = done.after["resolution"]["refund_id"]
    assert refund_id.startswith("re_") and done.after["resolved_by"] == CLERK
    stack.settled(inv["id"], amount_paid=3850, status="paid")
    with pytest.raises(actions.AlreadyResolved):  # a double submit
        refunds.refund(_db(stack).writer, _gateway(stack), exc.id, 2000, CLERK)
    assert _refunds_at_stripe(stack, intent) == [2000]
    with _db(stack).reader() as session:
        assert session.get(ReconciliationException, exc.id).refund_id == refund_id
        entry = session.scalar(select(LedgerEntry).where(LedgerEntry.cause == refund_id))
        assert (entry.invoice_id, entry.kind, entry.paid_delta) == (inv["id"], "refund", -2000)
    _verify(stack)


def test_an_unmatched_payment_refunded_in_full(stack):
    inv = stack.create_invoice()
    intent, exc = _unmatched(stack)
    refunds.refund(_db(stack).writer, _gateway(stack), exc.id, 3850, CLERK)

    def refunded():
        with _db(stack).reader() as session:
            return session.get(Payment, exc.payment_id).amount_refunded == 3850
    wait_for(refunded, timeout=10)
    assert stack.invoice(inv["id"])["amount_paid"] == 0
    assert _refunds_at_stripe(stack, intent) == [3850]
    _verify(stack)


def test_a_refund_stripe_refuses_leaves_the_exception_to_resolve_otherwise(stack):
    intent, exc = _unmatched(stack)
    stack.sandbox.control("faults", {"outage": True})  # refunded in the dashboard, unheard
    stack.sandbox.client.v1.refunds.create({"payment_intent": intent})
    with pytest.raises(actions.RefundFailed, match="Stripe refused the refund"):
        refunds.refund(_db(stack).writer, _gateway(stack), exc.id, 3850, CLERK)
    with _db(stack).reader() as session:
        found = session.get(ReconciliationException, exc.id)
        assert (found.resolved_at, found.resolution) == (None, None)
    stack.sandbox.control("faults", {"outage": False})

    def heard():
        with _db(stack).reader() as session:
            return session.get(Payment, exc.payment_id).amount_refunded == 3850
    wait_for(heard, timeout=10)
    with pytest.raises(actions.ResolutionError, match="nothing is left"), \
            _db(stack).transaction() as session:
        actions.keep_as_credit(session, exc.id, CLERK)
    with _db(stack).transaction() as session:
        actions.dismiss(session, exc.id, "refunded from the Stripe dashboard", CLERK)


def test_stripe_unreachable_keeps_the_refund_to_retry(stack):
    intent, exc = _unmatched(stack)
    unreachable = StripeGateway("sk_test_portal", "http://127.0.0.1:9", max_network_retries=0)
    with pytest.raises(actions.RefundFailed, match="could not be reached"):
        refunds.refund(_db(stack).writer, unreachable, exc.id, 1000, CLERK)
    with pytest.raises(actions.RefundInProgress), _db(stack).transaction() as session:
        actions.dismiss(session, exc.id, "changed my mind", CLERK)
    with pytest.raises(actions.RefundInProgress):
        refunds.refund(_db(stack).writer, _gateway(stack), exc.id, 2000, CLERK)
    done = refunds.refund(_db(stack).writer, _gateway(stack), exc.id, 1000, CLERK)
    assert done.follow_up_id is not None  # 28.50 is still to deal with
    assert _refunds_at_stripe(stack, intent) == [1000]
    follow = _open(stack, "unmatched_payment")
    assert (follow.id, follow.amount) == (done.follow_up_id, 2850)


def test_a_refund_staff_sent_is_no_exception_after_confirmation(stack, customer):
    inv, exc = _overpaid(stack, customer)
    stack.sandbox.control("faults", {"outage": True})  # its events arrive after confirming
    refunds.refund(_db(stack).writer, _gateway(stack), exc.id, 2000, CLERK)
    with _db(stack).transaction() as session:
        ids = session.scalars(select(Payment.id)).all()
        assert len(queue.confirm(session, ids, CLERK).confirmed) == 2
    stack.sandbox.control("faults", {"outage": False})
    stack.settled(inv["id"], amount_paid=3850)
    with _db(stack).reader() as session:
        kinds = session.scalars(select(ReconciliationException.kind).where(
            ReconciliationException.resolved_at.is_(None))).all()
    assert kinds == []
    _verify(stack)


def test_a_confirmed_card_payment_exports_and_a_later_refund_comes_back(stack, customer):
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    paid = stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay", CARD)
    stack.settled(inv["id"], status="paid")
    intent = paid["payment_intent"]
    with _db(stack).transaction() as session:
        page = queue.queue(session)
        assert [d.match_reason for d in page.items] == ["attempt_reference"]
        done = queue.confirm(session, [page.items[0].payment.id], CLERK)
    assert len(done.confirmed) == 1
    stack.sandbox.client.v1.refunds.create({"payment_intent": intent["id"], "amount": 850})
    found = _open(stack, "reversal_after_confirmation")
    assert (found.amount, json.loads(found.details)["kind"]) == (850, "refund")
    with _db(stack).reader() as session:
        rows = list(export.export_confirmed(session))
    assert [(r.invoice_external_id, r.amount, r.net_amount, r.method, r.payment_intent_id,
             r.charge_id) for r in rows] == [
        (inv["external_id"], 3850, 3000, "card", intent["id"], intent["latest_charge"])]


def test_a_refund_sent_but_never_recorded_is_found_again_not_repeated(stack):
    intent, exc = _unmatched(stack)
    with _db(stack).transaction() as session:
        request = refunds.request_refund(session, exc.id, 3850, CLERK)
    sent = refunds.send_refund(_gateway(stack), request)  # then the process died
    done = refunds.refund(_db(stack).writer, _gateway(stack), exc.id, 3850, CLERK)
    assert done.after["resolution"]["refund_id"] == sent["id"]
    assert _refunds_at_stripe(stack, intent) == [3850]
