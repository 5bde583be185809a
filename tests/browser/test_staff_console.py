"""A clerk in a real browser (Debian's chromium, JavaScript off: the console needs none) works
the queues on real payments made through the Stripe sandbox: bulk-confirms two payments, then
refunds an overpayment through Stripe and confirms the payment it held back.

Screenshots of every step are kept in test-artifacts/<test name>/.
"""

from __future__ import annotations

import re

import pytest

from tests.integration import conftest as integration
from tests.integration.conftest import session_id
from tests.staff_helpers import PASSWORD, make_staff

# The portal and the sandbox on real HTTP, and a customer's browser (tests/integration).
stack = integration.stack
customer = integration.customer
CARD = {"method": "card", "number": "4242424242424242"}
CLERK = "clerk@acme.example"
pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  java_script_enabled=False)
    yield context.new_page()
    context.close()


def _paid(stack, customer, number: str) -> dict:
    inv = stack.create_invoice(external_id=f"ERP-{number}", number=number)
    checkout = customer.pay(inv["pay_url"]).headers["Location"]
    stack.sandbox.control(f"checkout/sessions/{session_id(checkout)}/pay", CARD)
    return inv


def _overpaid(stack, customer) -> dict:
    """INV-3 (38.50) paid in full in one tab and 20.00 more in another, while the webhooks
    were held back, so the second checkout opened before the first payment was heard of."""
    inv = stack.create_invoice(external_id="ERP-3", number="INV-3", allow_partial=True,
                               min_partial_amount=1000)
    stack.sandbox.control("faults", {"outage": True})
    first = customer.pay(inv["pay_url"]).headers["Location"]
    stack.sandbox.control(f"checkout/sessions/{session_id(first)}/pay", CARD)
    second = customer.pay(inv["pay_url"], choice="other", amount="20.00").headers["Location"]
    stack.sandbox.control(f"checkout/sessions/{session_id(second)}/pay", CARD)
    stack.sandbox.control("faults", {"outage": False})
    return inv


def _flashes(page) -> str:
    return page.inner_text("ul.flashes")


def test_a_clerk_confirms_two_payments_and_refunds_an_overpayment(stack, customer, page, shot):
    one, two = _paid(stack, customer, "INV-1"), _paid(stack, customer, "INV-2")
    three = _overpaid(stack, customer)
    for inv in (one, two):
        stack.settled(inv["id"], status="paid")
    stack.settled(three["id"], amount_paid=5850)
    make_staff(stack.app.extensions["portal.db"], CLERK, "clerk")

    page.goto(f"{stack.url}/staff/login?next=/staff/payments/confirm")
    page.fill("input[name=email]", CLERK)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/payments/confirm$"))
    shot(page, "1-queue")
    queue = page.locator("table.queue tbody tr")
    assert queue.count() == 4
    blocked = queue.filter(has_text="overpayment")
    assert blocked.count() == 1 and blocked.locator("input[type=checkbox]").count() == 0
    held_back = blocked.get_attribute("id")  # payment-<id>

    for number in ("INV-1", "INV-2"):
        queue.filter(has_text=number).locator("input[type=checkbox]").check()
    shot(page, "2-two-ticked")
    page.click("text=Confirm selected")
    page.wait_for_load_state()
    shot(page, "3-two-confirmed")
    assert re.search(r"Confirmed 2 payments: #\d+, #\d+\.", _flashes(page))
    assert page.locator("table.queue tbody tr").count() == 2
    for inv in (one, two):
        assert [p["confirmed_by"] for p in _payments_of(stack, inv["id"])] == [CLERK]

    page.click("a:has-text('overpayment')")
    page.wait_for_url(re.compile(r".*/staff/exceptions/\d+$"))
    shot(page, "4-overpayment")
    assert "Exception #" in page.inner_text("h1") and "overpayment" in page.inner_text("h1")
    assert page.input_value("#refund input[name=amount]") == "20.00"  # default: the excess
    page.click("#refund button[type=submit]")
    page.wait_for_load_state()
    shot(page, "5-refunded")
    assert "resolved: refund." in _flashes(page)
    resolution = page.inner_text("dd.resolution")
    assert re.search(r"refund by clerk@acme\.example on .* refund re_\w+ of \$20\.00", resolution)
    stack.settled(three["id"], amount_paid=3850, status="paid")  # the refund's own events

    page.goto(f"{stack.url}/staff/payments/confirm")
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == 2 and rows.locator("input[type=checkbox]").count() == 2
    page.click(f"#{held_back} button:has-text('Confirm')")
    page.wait_for_load_state()
    shot(page, "6-refunded-payment-confirmed")
    assert f"Confirmed 1 payment: #{held_back.removeprefix('payment-')}." in _flashes(page)
    refunds = stack.sandbox.client.v1.refunds.list({"limit": 10}).data
    assert [r.amount for r in refunds] == [2000]


def _payments_of(stack, invoice_id: int) -> list[dict]:
    """The invoice's payments as the API lists them."""
    response = stack.app.test_client().get(
        "/api/v1/payments", headers={"Authorization": f"Bearer {stack.api_key}"})
    return [p for p in response.get_json()["data"]
            if any(a["invoice_id"] == invoice_id for a in p["allocations"])]
