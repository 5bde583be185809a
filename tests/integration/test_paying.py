"""Paying an invoice end to end: portal → sandbox Checkout → signed webhooks → ledger."""

from __future__ import annotations

from tests.factories import lines_totalling
from tests.integration.conftest import session_id


def _open_sessions(stack) -> list[str]:
    listed = stack.sandbox.client.v1.checkout.sessions.list({"limit": 100})
    return [s.id for s in listed.data if s.status == "open"]


def test_card_payment_marks_the_invoice_paid_once_the_webhook_lands(stack, customer):
    inv = stack.create_invoice()
    response = customer.pay(inv["pay_url"])
    assert response.status_code == 303
    checkout_url = response.headers["Location"]
    assert checkout_url.startswith(stack.sandbox.url)
    paid = stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                                 {"method": "card", "number": "4242424242424242"})
    assert paid["status"] == "succeeded"
    after = stack.settled(inv["id"], status="paid")
    assert (after["amount_paid"], after["amount_pending"], after["amount_due"]) == (3850, 0, 0)
    # Coming back from Checkout: the browser is sent to the invoice's own return page.
    back = customer.get(paid["redirect"])
    assert back.status_code == 303 and "/return?attempt=" in back.headers["Location"]
    page = customer.get(back.headers["Location"])
    assert "your payment was received" in page.text


def test_the_session_carries_exactly_what_the_portal_computed(stack, customer):
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    session = stack.sandbox.client.v1.checkout.sessions.retrieve(session_id(checkout_url))
    assert session.amount_total == 3850 and session.currency == "usd"
    assert session.metadata["portal_attempt"].startswith("pa_")
    assert session.client_reference_id == session.metadata["portal_attempt"]
    assert set(session.payment_method_types) == {"card", "us_bank_account"}
    # The pay token never reaches Stripe: success and cancel URLs carry only the attempt.
    token = inv["pay_url"].rsplit("/", 1)[1]
    assert token not in session.success_url and token not in session.cancel_url


def test_double_click_reuses_the_session_and_a_new_amount_expires_it(stack, customer):
    inv = stack.create_invoice(allow_partial=True, min_partial_amount=1000)
    first = customer.pay(inv["pay_url"]).headers["Location"]
    second = customer.pay(inv["pay_url"]).headers["Location"]
    other_tab = type(customer)().pay(inv["pay_url"]).headers["Location"]
    assert first == second == other_tab
    partial = customer.pay(inv["pay_url"], choice="other", amount="15.00").headers["Location"]
    assert partial != first
    assert _open_sessions(stack) == [session_id(partial)]


def test_bad_amounts_are_refused_and_nothing_reaches_stripe(stack, customer):
    inv = stack.create_invoice(allow_partial=True, min_partial_amount=1000)
    for typed in ("0", "-5", "12.345", "38.51", "9.99", "abc", ""):
        response = customer.pay(inv["pay_url"], choice="other", amount=typed)
        assert response.status_code == 422, typed
        assert 'class="error"' in response.text
    full_only = stack.create_invoice(external_id="FULL", number="FULL", **lines_totalling(1, 5000))
    response = customer.pay(full_only["pay_url"], choice="other", amount="10.00")
    assert response.status_code == 422 and "paid in full" in response.text
    assert stack.sandbox.client.v1.checkout.sessions.list().data == []
    assert stack.sandbox.client.v1.customers.list().data == []


def test_ach_is_pending_until_it_clears(stack, customer):
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    paid = stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                                 {"method": "us_bank_account", "account_number": "000123456789"})
    pending = stack.settled(inv["id"], amount_pending=3850)
    assert pending["amount_paid"] == 0 and pending["status"] == "open"
    page = customer.get(inv["pay_url"]).text
    assert "is on its way" in page and ">Pay" not in page  # nothing left to pay while clearing
    result = customer.get(customer.get(paid["redirect"]).headers["Location"]).text
    assert "bank payment is on its way" in result
    stack.sandbox.control(f"payment_intents/{paid['payment_intent']['id']}/settle")
    stack.settled(inv["id"], status="paid", amount_pending=0, amount_paid=3850)


def test_a_returned_ach_debit_reopens_the_invoice_and_it_can_be_paid_again(stack, customer):
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    paid = stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                                 {"method": "us_bank_account", "account_number": "000123456789"})
    stack.settled(inv["id"], amount_pending=3850)
    stack.sandbox.control(f"payment_intents/{paid['payment_intent']['id']}/fail",
                          {"return_code": "R01"})
    stack.settled(inv["id"], amount_pending=0, amount_paid=0, status="open")
    again = customer.pay(inv["pay_url"])
    assert again.status_code == 303 and again.headers["Location"] != checkout_url


def test_a_declined_card_leaves_the_invoice_open(stack, customer):
    inv = stack.create_invoice()
    checkout_url = customer.pay(inv["pay_url"]).headers["Location"]
    declined = stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                                     {"method": "card", "number": "4000000000000002"})
    assert declined["error"] and declined["session"]["status"] == "open"
    stack.sandbox.control(f"checkout/sessions/{session_id(checkout_url)}/pay",
                          {"method": "card", "number": "4242424242424242"})
    stack.settled(inv["id"], status="paid")
