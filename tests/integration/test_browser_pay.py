"""A real browser (Debian's chromium via Playwright) pays through the sandbox's Checkout page.

Screenshots of every step are kept in test-artifacts/<test name>/.
"""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import session_id

PAID_TEXT = "your payment was received"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 900})
    yield context.new_page()
    context.close()


def _to_checkout(page, shot, pay_url: str) -> None:
    page.goto(pay_url)
    shot(page, "1-invoice")
    page.click("form.pay button[type=submit]")
    page.wait_for_url(re.compile(r".*/checkout/cs_test_.*"))
    shot(page, "2-checkout")


def test_pay_in_full_by_card_and_see_it_paid(stack, page, shot):
    inv = stack.create_invoice()
    _to_checkout(page, shot, inv["pay_url"])
    page.fill("#number", "4242 4242 4242 4242")
    page.click("#pay-card")
    page.wait_for_url(re.compile(r".*/return\?attempt=pa_.*"))
    shot(page, "3-back-from-checkout")
    assert PAID_TEXT in page.inner_text("main")
    stack.settled(inv["id"], status="paid")
    page.goto(inv["pay_url"])
    shot(page, "4-invoice-paid")
    assert "Paid in full" in page.inner_text("main")
    assert page.locator("form.pay").count() == 0


def test_pay_by_ach_see_processing_then_paid_after_it_settles(stack, page, shot):
    inv = stack.create_invoice()
    _to_checkout(page, shot, inv["pay_url"])
    page.fill("#account", "000123456789")
    page.click("#pay-bank")
    page.wait_for_url(re.compile(r".*/return\?attempt=pa_.*"))
    shot(page, "3-ach-processing")
    assert "bank payment is on its way" in page.inner_text("main")
    page.goto(inv["pay_url"])
    shot(page, "4-invoice-pending")
    assert "is on its way" in page.inner_text("main")
    intent = stack.invoice(inv["id"])  # pending, not paid
    assert (intent["amount_pending"], intent["amount_paid"]) == (3850, 0)
    pi = stack.sandbox.client.v1.checkout.sessions.list().data[0].payment_intent
    stack.sandbox.control(f"payment_intents/{pi}/settle")
    stack.settled(inv["id"], status="paid")
    page.reload()
    shot(page, "5-invoice-paid")
    assert "Paid in full" in page.inner_text("main")


def test_a_declined_card_leaves_the_invoice_open(stack, page, shot):
    inv = stack.create_invoice()
    _to_checkout(page, shot, inv["pay_url"])
    page.fill("#number", "4000 0000 0000 0002")
    page.click("#pay-card")
    page.wait_for_load_state()
    shot(page, "3-declined")
    assert "declined" in page.inner_text("body").lower()
    checkout_session = session_id(page.url) if "cs_test_" in page.url else None
    assert checkout_session is None or stack.sandbox.client.v1.checkout.sessions.retrieve(
        checkout_session).status == "open"
    page.goto(inv["pay_url"])
    shot(page, "4-invoice-still-open")
    assert stack.invoice(inv["id"])["status"] == "open"
    assert page.locator("form.pay").count() == 1
