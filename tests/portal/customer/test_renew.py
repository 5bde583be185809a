"""An expired link: the 410 page, and its button that emails a fresh link to the address on file.

Mail goes over real SMTP (PORTAL_SMTP_URL) to a local aiosmtpd server, as it would to the
business's mail relay.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from payments.clock import utcnow
from payments.links import tokens
from payments.links.models import PayLink
from tests.conftest import Api, path_of, token_of
from tests.mailbox import emailed_url, free_port, outbox_rows

ADDRESS = "ap@northwind.example"


def expire(db, url: str) -> None:
    """Let the link behind ``url`` run out (as if its TTL had passed)."""
    with db.transaction() as session:
        session.execute(update(PayLink)
                        .where(PayLink.token_hash == tokens.token_hash(token_of(url)))
                        .values(expires_at=utcnow() - timedelta(minutes=1)))


@pytest.fixture
def mailing(app_factory, api_key, inbox):
    """A client of an app that mails over SMTP, its API, and the inbox."""
    smtp_url, handler = inbox
    client = app_factory(PORTAL_SMTP_URL=smtp_url).test_client()
    return client, Api(client, api_key), handler


def press_the_button(client, url: str):
    """Open an expired link, check its 410 page, and submit its form as a browser would."""
    page = client.get(path_of(url))
    assert page.status_code == 410
    form = re.search(r'<form method="post" action="([^"]+)">\s*'
                     r'<input type="hidden" name="csrf_token" value="([^"]+)">',
                     page.get_data(as_text=True))
    assert form, "the 410 page has a POST form with a CSRF token"
    return client.post(form.group(1), data={"csrf_token": form.group(2)})


# --- the 410 page --------------------------------------------------------------------------------


@pytest.mark.parametrize("which,suffix,action", [
    ("pay_url", "", "/i/{}/renew"), ("pay_url", "/pdf", "/i/{}/renew"),
    ("pay_url", "/qr.svg", "/i/{}/renew"), ("statement_url", "", "/s/{}/renew"),
    ("statement_url", "/pdf", "/s/{}/renew"),
])
def test_an_expired_link_offers_a_fresh_one_without_showing_the_address(api, client, db, which,
                                                                         suffix, action):
    inv = api.create()
    url = inv[which] if which == "pay_url" else inv["customer"][which]
    expire(db, url)
    response = client.get(path_of(url) + suffix)
    page = response.get_data(as_text=True)
    assert response.status_code == 410 and response.mimetype == "text/html"
    assert "This link has expired" in page and "Email me a fresh link" in page
    assert f'<form method="post" action="{action.format(token_of(url))}">' in page
    assert re.search(r'name="csrf_token" value="[^"]{20,}"', page)
    assert "northwind" not in page.lower() and "ap@" not in page


# --- the button ----------------------------------------------------------------------------------


def test_the_button_emails_a_fresh_invoice_link_that_works(mailing, db):
    client, api, inbox = mailing
    inv = api.create()
    expire(db, inv["pay_url"])
    response = press_the_button(client, inv["pay_url"])
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    assert ADDRESS not in response.get_data(as_text=True)
    [(recipients, message)] = inbox.received
    assert recipients == [ADDRESS] and message["To"] == ADDRESS
    assert message["From"] == "billing@example.com"
    assert message["Subject"] == "Your link to invoice INV-0001"
    assert message["Auto-Submitted"] == "auto-generated"  # no person wrote it (RFC 3834)
    fresh = emailed_url(message)
    assert fresh.startswith("https://portal.test/i/") and fresh != inv["pay_url"]
    assert "Invoice INV-0001" in client.get(path_of(fresh)).get_data(as_text=True)
    now = api.get(f"/invoices/{inv['id']}").get_json()
    assert now["pay_url"] == fresh and now["pay_url_expires_at"] > inv["pay_url_expires_at"]
    assert client.get(path_of(inv["pay_url"])).status_code == 404  # the old one is gone


def test_the_button_emails_a_fresh_statement_link_that_works(mailing, db):
    client, api, inbox = mailing
    inv = api.create()
    expire(db, inv["customer"]["statement_url"])
    assert press_the_button(client, inv["customer"]["statement_url"]).status_code == 200
    [(recipients, message)] = inbox.received
    assert recipients == [ADDRESS]
    assert message["Subject"] == "Your statement from Acme Supplies Ltd"
    fresh = emailed_url(message)
    assert fresh.startswith("https://portal.test/s/")
    assert "Statement" in client.get(path_of(fresh)).get_data(as_text=True)
    assert client.get(path_of(inv["pay_url"])).status_code == 200  # the invoice link is untouched


@pytest.mark.parametrize("which,action", [("pay_url", "/i/{}/renew"),
                                          ("statement_url", "/s/{}/renew")])
def test_pressing_the_button_again_mails_the_same_fresh_link_again(mailing, db, which, action):
    client, api, inbox = mailing
    inv = api.create()
    old = inv[which] if which == "pay_url" else inv["customer"][which]
    expire(db, old)
    page = client.get(path_of(old)).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    first = client.post(action.format(token_of(old)), data={"csrf_token": csrf})
    again = client.post(action.format(token_of(old)), data={"csrf_token": csrf})  # reload
    assert first.status_code == again.status_code == 200
    assert first.get_data() == again.get_data()  # "Check your email", not "link not valid"
    fresh = [emailed_url(message) for _, message in inbox.received]
    assert len(fresh) == 2 and fresh[0] == fresh[1] != old  # one fresh link, sent twice
    assert client.get(path_of(old)).status_code == 404


def test_a_link_revoked_while_live_is_not_renewed_by_the_button(mailing, db):
    client, api, inbox = mailing
    inv = api.create()
    other = api.create(external_id="ERP-2", number="INV-0002")
    expire(db, other["pay_url"])
    page = client.get(path_of(other["pay_url"])).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    api.post(f"/invoices/{inv['id']}/link")  # rotated while it still worked: dead for good
    response = client.post(path_of(inv["pay_url"]) + "/renew", data={"csrf_token": csrf})
    assert response.status_code == 404 and inbox.received == []
    expire(db, api.get(f"/invoices/{inv['id']}").get_json()["pay_url"])
    response = client.post(path_of(inv["pay_url"]) + "/renew", data={"csrf_token": csrf})
    assert response.status_code == 404 and inbox.received == []  # nor once its heir expired


def test_without_the_csrf_token_nothing_is_sent(mailing, db):
    client, api, inbox = mailing
    inv = api.create()
    expire(db, inv["pay_url"])
    response = client.post(path_of(inv["pay_url"]) + "/renew")
    assert response.status_code == 400
    assert inbox.received == []
    assert client.get(path_of(inv["pay_url"])).status_code == 410


def test_the_answer_is_the_same_with_or_without_an_address_on_file(mailing, db):
    client, api, inbox = mailing
    known = api.create()
    unknown = api.create(external_id="ERP-2", number="INV-0002",
                         customer={"external_id": "CUST-2", "name": "No Email Ltd"})
    expire(db, known["pay_url"])
    expire(db, unknown["pay_url"])
    with_address = press_the_button(client, known["pay_url"])
    without = press_the_button(client, unknown["pay_url"])
    assert with_address.status_code == without.status_code == 200
    assert with_address.get_data() == without.get_data()
    assert [recipients for recipients, _ in inbox.received] == [[ADDRESS]]


def test_a_failed_send_looks_the_same_and_is_logged_without_the_link(app_factory, api_key, db,
                                                                     caplog):
    client = app_factory(PORTAL_SMTP_URL=f"smtp://127.0.0.1:{free_port()}").test_client()
    api = Api(client, api_key)
    inv = api.create()
    expire(db, inv["pay_url"])
    with caplog.at_level(logging.INFO):
        response = press_the_button(client, inv["pay_url"])
    assert response.status_code == 200 and "Check your email" in response.get_data(as_text=True)
    [email] = outbox_rows(db)
    assert (email.status, email.kind, email.attempts) == ("pending", "fresh_link", 1)
    assert f"email #{email.id} could not be sent (retrying)" in caplog.text
    fresh = api.get(f"/invoices/{inv['id']}").get_json()["pay_url"]
    for url in (inv["pay_url"], fresh):
        assert token_of(url) not in caplog.text + email.body + email.last_error


def test_a_live_link_is_not_renewed(mailing, db):
    client, api, inbox = mailing
    live = api.create()
    other = api.create(external_id="ERP-2", number="INV-0002")
    expire(db, other["pay_url"])
    # The browser's CSRF token comes from a form it was shown (one per session).
    page = client.get(path_of(other["pay_url"])).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(path_of(live["pay_url"]) + "/renew", data={"csrf_token": csrf})
    assert response.status_code == 200
    assert "Your link still works" in response.get_data(as_text=True)
    assert inbox.received == []
    assert api.get(f"/invoices/{live['id']}").get_json()["pay_url"] == live["pay_url"]


def test_renewals_from_one_address_are_rate_limited(app_factory, api_key, inbox, db):
    smtp_url, handler = inbox
    client = app_factory(PORTAL_SMTP_URL=smtp_url, PORTAL_RENEW_RATE_LIMIT="1 per hour"
                         ).test_client()
    api = Api(client, api_key)
    first, second = api.create(), api.create(external_id="ERP-2", number="INV-0002")
    expire(db, first["pay_url"])
    expire(db, second["pay_url"])
    assert press_the_button(client, first["pay_url"]).status_code == 200
    assert press_the_button(client, second["pay_url"]).status_code == 429
    assert len(handler.received) == 1


def test_a_line_break_in_the_invoice_number_neither_breaks_nor_injects_the_email(
        app_factory, api_key, inbox, db):
    smtp_url, handler = inbox
    client = app_factory(PORTAL_SMTP_URL=smtp_url, PROPAGATE_EXCEPTIONS=False).test_client()
    inv = Api(client, api_key).create(number="INV-1\nBcc: attacker@evil.example")
    expire(db, inv["pay_url"])
    assert press_the_button(client, inv["pay_url"]).status_code == 200
    [(recipients, message)] = handler.received
    assert recipients == [ADDRESS] and message["Bcc"] is None
