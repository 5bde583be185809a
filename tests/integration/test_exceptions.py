"""What reconciliation cannot settle alone becomes an exception for staff, raised once."""

from __future__ import annotations

import json

from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select, update

from payments.clock import utcnow
from payments.invoicing.models import Invoice
from payments.ledger.models import Payment, ReconciliationException
from portal.cli import cli
from tests.integration.conftest import session_id, wait_for

CARD = {"method": "card", "number": "4242424242424242"}


def _exceptions(stack) -> list[ReconciliationException]:
    with stack.app.extensions["portal.db"].reader() as session:
        return session.scalars(select(ReconciliationException)
                               .order_by(ReconciliationException.id)).all()


def test_a_payment_without_portal_metadata_is_unmatched_with_suggestions(stack):
    inv = stack.create_invoice(number="INV-77")
    # Someone took a payment in Stripe directly, outside the portal.
    session = stack.sandbox.client.v1.checkout.sessions.create({
        "mode": "payment", "success_url": "https://example.com/ok",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "usd", "unit_amount": 3850,
            "product_data": {"name": "Payment for INV-77"}}}]})
    stack.sandbox.control(f"checkout/sessions/{session.id}/pay", CARD)
    found = wait_for(lambda: _exceptions(stack), timeout=10)
    assert [e.kind for e in found] == ["unmatched_payment"]
    suggestions = json.loads(found[0].details)["suggestions"]
    assert suggestions[0]["invoice_id"] == inv["id"]
    assert stack.invoice(inv["id"])["amount_paid"] == 0  # never applied without a human


def test_a_payment_for_an_invoice_voided_meanwhile(stack, customer):
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    voided = stack.app.test_client().post(
        f"/api/v1/invoices/{inv['id']}/void",
        headers={"Authorization": f"Bearer {stack.api_key}"})
    assert voided.status_code == 200
    stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay", CARD)
    found = wait_for(lambda: _exceptions(stack), timeout=10)
    assert [e.kind for e in found] == ["voided_invoice"]
    assert found[0].invoice_id == inv["id"]


def test_a_currency_changed_after_checkout_opened_is_not_applied(stack, customer):
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    stack.create_invoice(currency="EUR")  # the ERP corrected the currency; no money yet
    stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay", CARD)
    found = wait_for(lambda: _exceptions(stack), timeout=10)
    assert [e.kind for e in found] == ["currency_mismatch"]
    assert stack.invoice(inv["id"])["amount_paid"] == 0


def test_a_refund_after_staff_confirmed_the_payment_comes_back(stack, customer):
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    paid = stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay", CARD)
    stack.settled(inv["id"], status="paid")
    with stack.app.extensions["portal.db"].transaction() as session:
        session.execute(update(Payment).values(confirmed_at=utcnow()))
    stack.sandbox.client.v1.refunds.create({"payment_intent": paid["payment_intent"]["id"],
                                            "amount": 1000})
    found = wait_for(lambda: _exceptions(stack), timeout=10)
    assert [(e.kind, e.amount) for e in found] == [("reversal_after_confirmation", 1000)]


def test_ledger_verify_reports_a_tampered_balance(stack):
    inv = stack.create_invoice()
    with stack.app.extensions["portal.db"].transaction() as session:
        session.execute(update(Invoice).where(Invoice.id == inv["id"]).values(amount_paid=5))
    result = CliRunner().invoke(cli, ["ledger", "verify"],
                                obj=ScriptInfo(create_app=lambda: stack.app))
    assert result.exit_code == 1
    assert f"invoice {inv['id']}: stored paid/pending 5/0, ledger says 0/0" in result.output
