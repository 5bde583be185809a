"""Money taken back reopens what it paid; several invoices at once; bank transfers; races."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from payments.ledger.models import LedgerEntry, Payment, ReconciliationException
from tests.factories import lines_totalling
from tests.integration.conftest import session_id

CARD = {"method": "card", "number": "4242424242424242"}


def _paid_by_card(stack, customer, inv) -> dict:
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    paid = stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay", CARD)
    stack.settled(inv["id"], status="paid")
    return paid["payment_intent"]


def test_two_partial_refunds_then_the_rest(stack, customer):
    inv = stack.create_invoice()
    intent = _paid_by_card(stack, customer, inv)
    for amount, paid_after in ((1000, 2850), (850, 2000), (None, 0)):
        params = {"payment_intent": intent["id"], **({"amount": amount} if amount else {})}
        stack.sandbox.client.v1.refunds.create(params)
        stack.settled(inv["id"], amount_paid=paid_after)
    assert stack.invoice(inv["id"])["status"] == "open"


def test_every_refund_is_read_however_many_pages_stripe_lists_them_on(stack, customer):
    inv = stack.create_invoice()
    intent = _paid_by_card(stack, customer, inv)
    for amount in (1000, 850, 300):
        stack.sandbox.client.v1.refunds.create({"payment_intent": intent["id"], "amount": amount})
    gateway = stack.app.extensions["portal.stripe"]
    gateway.page_size = 2  # an instance attribute: only this app's gateway pages by two
    _intent, facts = gateway.payment_facts(intent["id"])
    assert sorted(r.amount for r in facts.reductions) == [300, 850, 1000]


def test_a_lost_dispute_reopens_the_invoice_and_a_won_one_restores_it(stack, customer):
    lost, won = (stack.create_invoice(external_id=e, number=e) for e in ("LOST", "WON"))
    for inv, verdict in ((lost, "lose"), (won, "win")):
        intent = _paid_by_card(stack, customer, inv)
        dispute = stack.sandbox.control(f"charges/{intent['latest_charge']}/dispute")
        stack.settled(inv["id"], amount_paid=0, status="open")
        stack.sandbox.control(f"disputes/{dispute['id']}/{verdict}")
    stack.settled(won["id"], amount_paid=3850, status="paid")
    assert stack.invoice(lost["id"])["status"] == "open"


def test_a_statement_pays_the_chosen_invoices_in_one_checkout(stack, customer):
    invoices = [stack.create_invoice(external_id=f"S{i}", number=f"S-{i}",
                                     **lines_totalling(1, 1000 * i)) for i in (1, 2, 3)]
    statement = invoices[0]["customer"]["statement_url"]
    response = customer.submit(statement, statement + "/pay",
                               invoice=[str(invoices[0]["id"]), str(invoices[2]["id"])])
    assert response.status_code == 303
    sid = session_id(response.headers["Location"])
    session = stack.sandbox.client.v1.checkout.sessions.retrieve(sid)
    assert session.amount_total == 4000
    stack.sandbox.control(f"checkout/sessions/{sid}/pay", CARD)
    stack.settled(invoices[0]["id"], status="paid")
    stack.settled(invoices[2]["id"], status="paid")
    assert stack.invoice(invoices[1]["id"])["status"] == "open"


def test_a_bank_transfer_shows_instructions_until_funded(stack, customer):
    stack.app.config["PORTAL_BANK_TRANSFERS"] = True
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    paid = stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                                 {"method": "customer_balance"})
    result = customer.get(customer.get(paid["redirect"]).headers["Location"]).text
    assert "Please send your bank transfer" in result and "Reference" in result
    assert stack.invoice(inv["id"])["amount_paid"] == 0
    stripe_customer = paid["payment_intent"]["customer"]
    stack.sandbox.control(f"customers/{stripe_customer}/fund", {"amount": 3850})
    stack.settled(inv["id"], status="paid")


def test_the_return_page_and_the_webhook_racing_record_the_payment_once(stack, customer):
    stack.sandbox.control("faults", {"delay": 0.2})  # the webhook lands while we come back
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    paid = stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay", CARD)
    returns = [threading.Thread(target=type(customer)().get, args=(paid["redirect"],))
               for _ in range(3)]
    for thread in returns:
        thread.start()
    for thread in returns:
        thread.join(10)
    stack.settled(inv["id"], status="paid", amount_paid=3850)
    with stack.app.extensions["portal.db"].reader() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1


def test_two_sessions_both_paid_raise_an_overpayment(stack, customer):
    inv = stack.create_invoice(allow_partial=True, min_partial_amount=1000)
    stack.sandbox.control("faults", {"outage": True})  # the portal hears nothing for now
    first = session_id(customer.pay(inv["pay_url"]).headers["Location"])
    stack.sandbox.control(f"checkout/sessions/{first}/pay", CARD)
    # Another tab, another amount: the old session can no longer be expired (it was paid).
    second = customer.pay(inv["pay_url"], choice="other", amount="20.00").headers["Location"]
    stack.sandbox.control(f"checkout/sessions/{session_id(second)}/pay", CARD)
    stack.sandbox.control("faults", {"outage": False})
    stack.settled(inv["id"], amount_paid=5850)
    with stack.app.extensions["portal.db"].reader() as session:
        kinds = session.scalars(select(ReconciliationException.kind)).all()
    assert kinds == ["overpayment"]


def test_a_failed_refund_gives_the_payment_back_to_the_invoice(stack, customer):
    inv = stack.create_invoice()
    intent = _paid_by_card(stack, customer, inv)
    refund = stack.sandbox.client.v1.refunds.create({"payment_intent": intent["id"],
                                                     "amount": 1000})
    stack.settled(inv["id"], amount_paid=2850)
    stack.sandbox.control(f"refunds/{refund.id}/fail", {"failure_reason": "lost_or_stolen_card"})
    stack.settled(inv["id"], amount_paid=3850, status="paid")
