"""A clerk copies an invoice's pay link in a real browser: with JavaScript the Copy button puts
it on the clipboard under the console's CSP; without JavaScript there is no dead button, and
the link is plain text in a read-only field."""

from __future__ import annotations

import pytest

from payments.staff import api_keys
from tests.factories import invoice_body
from tests.staff_helpers import PASSWORD, make_staff

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def _setup(app) -> dict:
    db = app.extensions["portal.db"]
    make_staff(db, "clerk@acme.example", "clerk")
    with db.transaction() as session:
        _key, plaintext = api_keys.create(session, "browser tests")
    response = app.test_client().post("/api/v1/invoices", json=invoice_body(),
                                      headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 201
    return response.get_json()


def _log_in(context, base: str, invoice_id: int):
    page = context.new_page()
    page.goto(f"{base}/staff/invoices/{invoice_id}")  # to the login page and back after it
    page.fill("input[name=email]", "clerk@acme.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/staff/invoices/{invoice_id}")
    return page


def test_the_copy_button_copies_the_link_under_the_csp(browser, live_server, shot):
    base, app = live_server
    inv = _setup(app)
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = _log_in(context, base, inv["id"])
    refused = []
    page.on("console", lambda msg: refused.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.reload()
    button = page.locator("button[data-copy=pay-link]")
    assert button.is_visible()
    shot(page, "1-invoice-with-link")
    button.click()
    page.wait_for_function("document.querySelector('button[data-copy]').textContent"
                           " === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == inv["pay_url"]
    assert refused == []
    context.close()


def test_without_javascript_the_link_is_selectable_text(browser, live_server):
    base, app = live_server
    inv = _setup(app)
    context = browser.new_context(java_script_enabled=False)
    page = _log_in(context, base, inv["id"])
    assert not page.locator("button[data-copy=pay-link]").is_visible()
    field = page.locator("#pay-link")
    assert field.is_visible() and field.get_attribute("readonly") is not None
    assert field.input_value() == inv["pay_url"]
    context.close()
