"""A dispute from start to end in a real browser (Debian's chromium), on the running portal
and the Stripe sandbox: the customer disputes two lines with a photo and pays the rest by
card; a clerk credits one line in the console; the customer sees the outcome, downloads the
credit note and pays the remainder. The ledger verifies clean after every step.

Screenshots of every step are kept in test-artifacts/<test name>/.
"""

from __future__ import annotations

import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from payments.disputes.models import Dispute
from payments.ledger import ledger
from payments.outbox.models import OutboxEmail
from tests.integration.conftest import session_id
from tests.staff_helpers import PASSWORD, make_staff

CLERK = "clerk@acme.example"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LINES = {"lines": [{"description": "Oak boards", "amount": 2000},
                   {"description": "Brass hinges", "amount": 1000},
                   {"description": "Delivery", "amount": 500}],
         "tax_amount": 0, "total": 3500}
pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def customer_page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def clerk_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def verified(stack) -> None:
    with stack.app.extensions["portal.db"].reader() as session:
        assert ledger.verify(session) == []


def pay_by_card(page, shot, step: str) -> None:
    page.click("form.pay button[type=submit]")
    page.wait_for_url(re.compile(r".*/checkout/cs_test_.*"))
    page.fill("#number", "4242 4242 4242 4242")
    page.click("#pay-card")
    page.wait_for_url(re.compile(r".*/return\?attempt=pa_.*"))
    shot(page, step)


def raise_on_two_lines(page, shot, pay_url: str) -> None:
    page.goto(pay_url)
    page.click("details.raise summary")
    page.select_option("#dispute-reason", "damaged")
    page.check("input[name=line][value='2']")
    page.check("input[name=line][value='3']")
    page.fill("#dispute-message", "Half the hinges arrived bent; delivery was a day late.")
    page.set_input_files("#dispute-files", files=[
        {"name": "hinges.png", "mimeType": "image/png", "buffer": PNG}])
    shot(page, "1-dispute-form")
    page.click("form.dispute-form button[type=submit]")
    page.wait_for_url(re.compile(r".*raised=1.*"))
    shot(page, "2-dispute-raised")


def credit_one_line(page, shot, base: str, dispute_id: int) -> None:
    page.goto(f"{base}/staff/login?next=/staff/disputes/{dispute_id}")
    page.fill("input[name=email]", CLERK)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(re.compile(rf".*/staff/disputes/{dispute_id}$"))
    assert "Half the hinges arrived bent" in page.inner_text("main")
    assert "hinges.png" in page.inner_text("main")
    credit = page.locator("form[action$='/credit']")
    credit.locator("input[name=line][value='3']").check()
    credit.locator("[name=note]").fill("Delivery was late: we credit it.")
    shot(page, "4-staff-credit")
    credit.locator("button[type=submit]").click()
    page.wait_for_load_state()
    shot(page, "5-staff-credited")
    assert "CN-000001" in page.inner_text("main")


def test_dispute_two_lines_pay_the_rest_credit_one_pay_the_remainder(
        stack, customer_page, clerk_page, shot):
    inv = stack.create_invoice(**LINES)
    raise_on_two_lines(customer_page, shot, inv["pay_url"])
    text = customer_page.inner_text("main")
    assert "$15.00 of this invoice is in dispute" in text
    assert "Pay the undisputed $20.00" in text

    pay_by_card(customer_page, shot, "3-paid-the-rest")
    stack.settled(inv["id"], amount_paid=2000, amount_due=1500)
    verified(stack)

    make_staff(stack.app.extensions["portal.db"], CLERK, "clerk")
    with stack.app.extensions["portal.db"].reader() as session:
        dispute_id = session.scalar(select(Dispute.id))
    credit_one_line(clerk_page, shot, stack.url, dispute_id)
    stack.settled(inv["id"], amount_due=1000)
    verified(stack)

    customer_page.goto(inv["pay_url"])
    shot(customer_page, "6-customer-sees-outcome")
    text = customer_page.inner_text("main")
    assert "Resolved: credited" in text
    assert "We issued credit note CN-000001 for $5.00" in text
    assert "Delivery was late: we credit it." in text
    assert "Credit notes and adjustments $5.00" in " ".join(text.split())
    assert "Amount paid $20.00" in " ".join(text.split())  # money, apart from the credit
    with customer_page.expect_download() as download:
        customer_page.click("text=Download credit note CN-000001 (PDF)")
    assert download.value.suggested_filename == "credit-note-CN-000001.pdf"
    pdf_text = " ".join(PdfReader(download.value.path()).pages[0].extract_text().split())
    assert "Credit note CN-000001" in pdf_text and "Delivery $5.00" in pdf_text
    assert "Amount due on the invoice after this credit $10.00" in pdf_text

    pay_by_card(customer_page, shot, "7-paid-the-remainder")
    stack.settled(inv["id"], status="paid", amount_due=0)
    verified(stack)
    with stack.app.extensions["portal.db"].reader() as session:
        kinds = set(session.scalars(select(OutboxEmail.kind)))
    assert "dispute" in kinds  # the outcome went to the customer's address


def test_a_checkout_opened_before_the_dispute_can_no_longer_be_paid(stack, customer):
    inv = stack.create_invoice(**LINES)
    opened = session_id(customer.pay(inv["pay_url"]).headers["Location"])  # full $35.00
    raised = customer.submit(inv["pay_url"], inv["pay_url"] + "/dispute", reason="pricing",
                             line="2")
    assert raised.status_code == 303
    assert stack.sandbox.client.v1.checkout.sessions.retrieve(opened).status == "expired"
    again = customer.pay(inv["pay_url"])  # Pay now opens a Checkout for the rest
    fresh = stack.sandbox.client.v1.checkout.sessions.retrieve(
        session_id(again.headers["Location"]))
    assert (fresh.id != opened, fresh.amount_total) == (True, 2500)
