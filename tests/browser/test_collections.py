"""A clerk in a real browser (Debian's chromium, JavaScript off) records a customer's promise
to pay on the customer page, and the reminder preview then shows the next reminder paused
until the day after the promised date, saying why.

Screenshots of every step are kept in test-artifacts/<test name>/.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.conftest import Api
from tests.factories import lines_totalling
from tests.staff_helpers import PASSWORD, make_staff

CLERK = "clerk@acme.example"
pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_a_promise_recorded_in_the_console_pauses_the_next_reminder(live_server, api_key, page,
                                                                     shot):
    base, app = live_server
    db = app.extensions["portal.db"]
    due = date.today() - timedelta(days=4)  # +7 is in three days
    created = Api(app.test_client(), api_key).create(
        external_id="ERP-P", number="INV-P", issue_date=(due - timedelta(30)).isoformat(),
        due_date=due.isoformat(), customer={"external_id": "NW", "name": "Northwind",
                                            "email": "ap@nw.example"},
        **lines_totalling(1, 12_500))
    customer_id = created["customer"]["id"]
    make_staff(db, CLERK, "clerk")
    page.goto(f"{base}/staff/login?next=/staff/customers/{customer_id}")
    page.fill("input[name=email]", CLERK)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(re.compile(rf".*/staff/customers/{customer_id}$"))
    before = page.inner_text("#collections")
    assert "day +7: email for invoice INV-P" in before
    shot(page, "1-customer")

    promised = date.today() + timedelta(days=10)
    form = page.locator("form.promise-form")
    form.locator("input[name=amount]").fill("125.00")
    form.locator("input[name=currency]").fill("USD")
    form.locator("input[name=promised_on]").fill(promised.isoformat())
    form.locator("input[name=contact]").fill("Ana in AP")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    shot(page, "2-promised")
    assert "$125.00 by" in page.inner_text("#collections")

    page.goto(f"{base}/staff/reminders/preview?customer={customer_id}&days=30")
    shot(page, "3-preview")
    text = page.inner_text("main")
    resume = promised + timedelta(days=1)
    assert (f"paused by a promise to pay $125.00 by {promised.isoformat()}: waits until "
            f"{resume.isoformat()}") in text
    # The paused steps are now the first contact, on the first business day after the pause.
    first_day = resume
    while first_day.weekday() >= 5:
        first_day += timedelta(days=1)
    first = page.locator("table tbody tr").first.inner_text()
    assert first_day.isoformat() in first and "INV-P" in first
