"""The console's invoice list and invoice page with real data: search, status filters and keyset
pages; lines, ledger, payments, the Stripe event timeline and exceptions; the pay link shown,
copied, rotated, revoked and emailed (real SMTP), each action audited; ERP text escaped."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from payments.checkout.models import PaymentAttempt
from payments.clock import utcnow
from payments.confirmations import queue
from payments.console import lists
from payments.ledger.models import ReconciliationException
from payments.links.models import PayLink
from payments.staff import audit
from portal.staff import invoices as invoice_views
from tests.conftest import Api, path_of, token_of
from tests.mailbox import emailed_url, free_port, outbox_rows
from tests.payments.events.test_event_refs import store_event
from tests.staff_helpers import logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def staff(app, db):
    """Logged-in clients for an admin, a clerk and a viewer."""
    for role in ("admin", "clerk", "viewer"):
        make_staff(db, f"{role}@acme.example", role)
    return {role: logged_in(app, f"{role}@acme.example") for role in ("admin", "clerk", "viewer")}


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def listed(body: str) -> list[str]:
    """Invoice numbers in a list page, in order."""
    return re.findall(r'<a href="/staff/invoices/\d+">([^<]+)</a>', body)


def audited(db, action: str):
    with db.reader() as session:
        return session.scalars(select(audit.AuditEntry).where(audit.AuditEntry.action == action)
                               .order_by(audit.AuditEntry.id)).all()


def link_of(body: str) -> str | None:
    """The URL in the page's read-only copy field, if it shows one."""
    found = re.search(r'<input id="pay-link" class="link-url" type="text" readonly '
                      r'value="([^"]+)"', body)
    return found.group(1) if found else None


# --- the list ------------------------------------------------------------------------------------


def test_the_list_searches_filters_and_pages_newest_first(api, world, staff):
    past = (date.today() - timedelta(days=60)).isoformat()
    world.invoice("INV-OPEN", 1000)
    overdue = api.create(external_id="ERP-LATE", number="INV-LATE", issue_date=past,
                         due_date=(date.today() - timedelta(days=3)).isoformat(),
                         customer={"external_id": "CUST-9", "name": "Contoso 100% Ltd"})
    paid = world.invoice("INV-PAID", 500)
    world.pay("pi_paid", 500, world.attempt([(paid, 500)]))
    void = world.invoice("INV-VOID", 700)
    assert api.post(f"/invoices/{void}/void").status_code == 200
    viewer = staff["viewer"]
    everything = listed(page(viewer, "/staff/invoices"))
    assert everything == ["INV-VOID", "INV-PAID", "INV-LATE", "INV-OPEN"]
    for status, expected in (("open", ["INV-LATE", "INV-OPEN"]), ("overdue", ["INV-LATE"]),
                             ("paid", ["INV-PAID"]), ("void", ["INV-VOID"]),
                             ("bogus", everything)):
        assert listed(page(viewer, f"/staff/invoices?status={status}")) == expected, status
    for q, expected in (("INV-PAID", ["INV-PAID"]), ("inv-late", ["INV-LATE"]),  # number
                        ("ERP-LATE", ["INV-LATE"]),  # external id
                        ("customer cust", ["INV-VOID", "INV-PAID", "INV-OPEN"]),  # name part
                        ("100%", ["INV-LATE"]), ("%", ["INV-LATE"]),  # wildcards are literal
                        ("1_0", []), ("10%L", []),
                        ("CUST-9", ["INV-LATE"]), ("nothing", [])):
        assert listed(page(viewer, f"/staff/invoices?q={q.replace('%', '%25')}")) == expected, q
    body = page(viewer, "/staff/invoices?status=overdue")
    assert "Contoso 100% Ltd" in body and f'href="/staff/customers/{overdue["customer"]["id"]}"' \
        in body and "$38.50" in body
    customer = world.customer_of(paid)
    assert listed(page(viewer, f"/staff/invoices?customer={customer}&status=paid")) \
        == ["INV-PAID"]


def test_the_list_pages_by_keyset_to_the_end(world, staff, monkeypatch):
    for n in range(7):
        world.invoice(f"N-{n}", 100 + n)
    monkeypatch.setattr(invoice_views, "PAGE_SIZE", 3)
    seen, path = [], "/staff/invoices"
    while path:
        body = page(staff["viewer"], path)
        seen += listed(body)
        more = re.search(r'<a href="([^"]+)">Older invoices', body)
        path = more.group(1).replace("&amp;", "&") if more else None
    assert seen == [f"N-{n}" for n in reversed(range(7))]
    # A cursor no row can have is ignored (the first page), not a database error.
    assert listed(page(staff["viewer"], "/staff/invoices?cursor=99999999999"))[0] == "N-6"
    assert listed(page(staff["viewer"], "/staff/invoices?cursor=²"))[0] == "N-6"
    assert listed(page(staff["viewer"], "/staff/invoices?cursor=5")) == ["N-3", "N-2", "N-1"]


def test_keyset_pages_follow_search_and_filter(world, db):
    ids = [world.invoice(f"K-{n}", 100, customer=f"C{n % 2}") for n in range(6)]
    with db.reader() as session:
        first = lists.invoices(session, date.today(), "customer c1", limit=2)
        second = lists.invoices(session, date.today(), "customer c1",
                                      cursor=first.next_cursor, limit=2)
    assert [r.id for r in first.rows] == [ids[5], ids[3]]
    assert [r.id for r in second.rows] == [ids[1]] and second.next_cursor is None


# --- the invoice page ----------------------------------------------------------------------------


def store_timeline(db) -> None:
    """Events of the invoice's payments and checkout sessions, and one of another payment."""
    t0 = 1_767_225_600  # 2026-01-01 00:00 UTC
    store_event(db, "evt_1", "checkout.session.completed",
                {"id": "cs_first", "object": "checkout.session", "payment_intent": "pi_card",
                 "status": "complete"}, t0)
    store_event(db, "evt_2", "payment_intent.succeeded",
                {"id": "pi_card", "object": "payment_intent", "status": "succeeded"}, t0 + 60)
    store_event(db, "evt_3", "charge.succeeded",
                {"id": "ch_pi_card", "object": "charge", "status": "succeeded",
                 "payment_intent": {"id": "pi_card", "object": "payment_intent"}}, t0 + 61,
                source="sync")
    store_event(db, "evt_4", "payment_intent.processing",
                {"id": "pi_ach", "object": "payment_intent", "status": "processing"}, t0 + 120)
    store_event(db, "evt_5", "checkout.session.expired",
                {"id": "cs_abandoned", "object": "checkout.session", "payment_intent": None,
                 "status": "expired"}, t0 + 180)
    store_event(db, "evt_other", "payment_intent.succeeded",
                {"id": "pi_elsewhere", "object": "payment_intent", "status": "succeeded"}, t0)


def test_the_invoice_page_shows_lines_ledger_payments_events_and_exceptions(api, world, db,
                                                                            staff):
    inv = api.create(allow_partial=True)
    first = world.attempt([(inv["id"], 1000)])
    card = world.pay("pi_card", 1000, first)
    world.pay("pi_ach", 850, world.attempt([(inv["id"], 850)]), status="pending")
    abandoned = world.attempt([(inv["id"], 2850)])
    with db.transaction() as session:
        for reference, checkout in ((first, "cs_first"), (abandoned, "cs_abandoned")):
            session.execute(update(PaymentAttempt).where(PaymentAttempt.reference == reference)
                            .values(checkout_session_id=checkout))
        session.add(ReconciliationException(kind="overpayment", cause="over:test",
                                            invoice_id=inv["id"], amount=150, currency="USD"))
    world.run(queue.confirm, [card], "clerk@acme.example")
    store_timeline(db)
    body = page(staff["viewer"], f"/staff/invoices/{inv['id']}")
    assert "Invoice INV-0001" in body and "Northwind Traders" in body
    assert f'href="/staff/customers/{inv["customer"]["id"]}"' in body
    assert "<code>ERP-1</code>" in body
    totals = re.search(r'<table class="totals">.*?</table>', body, re.S).group(0)
    assert re.findall(r"\$[\d.,]+", totals) == ["$38.50", "$10.00", "$8.50", "$28.50"]
    assert "Widgets" in body and "$30.00" in body and "Delivery" in body
    ledger = re.findall(r'</td><td>(payment|pending)</td>\s*<td class="num">([^<]*)</td>\s*'
                        r'<td class="num">([^<]*)</td>\s*<td><code>([^<]+)</code>', body)
    assert ledger == [("payment", "$10.00", "", "pi_card:paid"),
                      ("pending", "", "$8.50", "pi_ach:pending")]
    assert "<code>pi_card</code>" in body and "<code>ch_pi_card</code>" in body
    assert "<code>pi_ach</code>" in body
    assert re.search(r"yes, \d{4}-\d\d-\d\d \d\d:\d\d UTC by clerk@acme\.example", body)
    timeline = re.findall(r"<td><code>([a-z_.]+)</code></td>\s*<td><code>([^<]*)</code></td>"
                          r"<td>([^<]*)</td>\s*<td><code>(evt_\w+)</code></td><td>(\w+)</td>",
                          body)
    assert timeline == [
        ("checkout.session.completed", "cs_first", "complete", "evt_1", "webhook"),
        ("payment_intent.succeeded", "pi_card", "succeeded", "evt_2", "webhook"),
        ("charge.succeeded", "ch_pi_card", "succeeded", "evt_3", "sync"),
        ("payment_intent.processing", "pi_ach", "processing", "evt_4", "webhook"),
        ("checkout.session.expired", "cs_abandoned", "expired", "evt_5", "webhook")]
    assert "2026-01-01 00:01 UTC" in body and "evt_other" not in body
    assert "overpayment" in body and "$1.50" in body and "<strong>open</strong>" in body


# --- the pay link --------------------------------------------------------------------------------


def test_the_live_link_is_shown_for_copying_and_works(api, client, staff):
    inv = api.create()
    body = page(staff["viewer"], f"/staff/invoices/{inv['id']}")
    assert link_of(body) == inv["pay_url"]
    assert 'data-copy="pay-link" hidden>Copy</button>' in body  # JS shows it; without JS: text
    assert '<script src="/static/staff.js" defer></script>' in body
    assert '<span class="badge state-live">live</span>' in body
    assert client.get(path_of(link_of(body))).status_code == 200
    with client.get("/static/staff.js") as script:
        assert script.status_code == 200 and "navigator.clipboard" in script.get_data(as_text=True)
    assert "/link/rotate" not in body and "/link/email" not in body  # a viewer cannot act


def test_rotate_kills_the_old_link_and_is_audited(api, client, db, staff):
    inv = api.create()
    old = inv["pay_url"]
    response = post(staff["clerk"], f"/staff/invoices/{inv['id']}/link/rotate")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/invoices/{inv['id']}"
    body = page(staff["clerk"], response.headers["Location"])
    assert "A new link was issued. The old link no longer works." in body
    new = link_of(body)
    assert new and new != old
    assert client.get(path_of(old)).status_code == 404
    assert client.get(path_of(new)).status_code == 200
    assert api.get(f"/invoices/{inv['id']}").get_json()["pay_url"] == new
    [entry] = audited(db, "invoice.link_rotate")
    assert (entry.actor, entry.target_type, entry.target_id) == \
        ("clerk@acme.example", "invoice", str(inv["id"]))
    assert entry.before["state"] == "live" and entry.after["state"] == "live"
    assert entry.before["link_id"] != entry.after["link_id"]
    assert token_free(entry, old, new)


def token_free(entry, *urls: str) -> bool:
    """The audit entry names links by id, never by token."""
    text = json.dumps([entry.before, entry.after])
    return not any(url.rsplit("/", 1)[-1] in text for url in urls)


def test_revoke_kills_the_link_without_a_new_one(api, client, db, staff):
    inv = api.create()
    response = post(staff["admin"], f"/staff/invoices/{inv['id']}/link/revoke")
    assert response.status_code == 303
    body = page(staff["admin"], f"/staff/invoices/{inv['id']}")
    assert '<span class="badge state-revoked">revoked</span>' in body
    assert link_of(body) is None and ">Revoke</button>" not in body
    assert "Issue a new link" in body
    assert client.get(path_of(inv["pay_url"])).status_code == 404
    assert api.get(f"/invoices/{inv['id']}").get_json()["pay_url"] is None
    again = post(staff["admin"], f"/staff/invoices/{inv['id']}/link/revoke")
    assert again.status_code == 422 and "There is no link to revoke." in again.get_data(True)
    [entry] = audited(db, "invoice.link_revoke")
    assert entry.before["state"] == "live" and entry.after == {
        "link_id": entry.before["link_id"], "state": "revoked",
        "expires_at": entry.before["expires_at"]}
    assert post(staff["clerk"], f"/staff/invoices/{inv['id']}/link/rotate").status_code == 303
    fresh = link_of(page(staff["clerk"], f"/staff/invoices/{inv['id']}"))
    assert client.get(path_of(fresh)).status_code == 200
    [issued] = audited(db, "invoice.link_rotate")
    assert issued.before["state"] == "revoked"


def test_an_expired_link_shows_as_expired(api, db, staff):
    inv = api.create()
    with db.transaction() as session:
        session.execute(update(PayLink).where(PayLink.invoice_id == inv["id"])
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
    body = page(staff["viewer"], f"/staff/invoices/{inv['id']}")
    assert '<span class="badge state-expired">expired</span>' in body and link_of(body) is None


def test_viewers_cannot_act_on_links(api, client, staff):
    inv = api.create()
    for verb in ("rotate", "revoke", "email"):
        assert post(staff["viewer"], f"/staff/invoices/{inv['id']}/link/{verb}").status_code \
            == 403
    assert client.get(path_of(inv["pay_url"])).status_code == 200


def test_unknown_invoices_are_404(staff):
    for path in ("/staff/invoices/999", "/staff/invoices/99999999999"):
        assert staff["viewer"].get(path).status_code == 404
        assert post(staff["clerk"], path + "/link/rotate").status_code == 404


# --- emailing the link ---------------------------------------------------------------------------


@pytest.fixture
def mailing(app_factory, api_key, inbox, db):
    """An app that mails over SMTP: its API, a logged-in clerk, a plain client, the inbox."""
    app = app_factory(PORTAL_SMTP_URL=inbox[0])
    make_staff(db, "clerk@acme.example", "clerk")
    client = app.test_client()
    return Api(client, api_key), logged_in(app, "clerk@acme.example"), client, inbox[1]


def test_email_sends_the_live_link_to_the_customer(mailing, db):
    api, clerk, client, inbox = mailing
    inv = api.create()
    response = post(clerk, f"/staff/invoices/{inv['id']}/link/email")
    assert response.status_code == 303
    shown = page(clerk, response.headers["Location"])
    assert "The link is on its way to the customer" in shown
    assert "Last emailed to ap@northwind.example" in shown
    assert "delivered to the mail relay" in shown
    [(recipients, message)] = inbox.received
    assert recipients == ["ap@northwind.example"]
    assert message["Subject"] == "Your link to invoice INV-0001"
    assert emailed_url(message) == inv["pay_url"]  # the live link: nothing rotated
    assert message["Auto-Submitted"] is None  # a clerk sent it
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "expired" not in text and "You asked" not in text and "clerk@" not in text
    assert client.get(path_of(inv["pay_url"])).status_code == 200
    [entry] = audited(db, "invoice.link_email")
    assert entry.after["to"] == "ap@northwind.example"
    assert entry.after["issued_new_link"] is False and token_free(entry, inv["pay_url"])


def test_email_issues_a_new_link_when_the_old_one_is_dead(mailing, db):
    api, clerk, client, inbox = mailing
    inv = api.create(number="INV\r\nBcc: x@evil.example")
    with db.transaction() as session:
        session.execute(update(PayLink).where(PayLink.invoice_id == inv["id"])
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
    response = post(clerk, f"/staff/invoices/{inv['id']}/link/email")
    assert "A new link was issued and is on its way" in page(clerk, response.headers["Location"])
    [(recipients, message)] = inbox.received
    assert recipients == ["ap@northwind.example"]  # the ERP's line break reached no header
    assert message["Subject"] == "Your link to invoice INV Bcc: x@evil.example"
    fresh = emailed_url(message)
    assert fresh != inv["pay_url"] and client.get(path_of(fresh)).status_code == 200
    assert client.get(path_of(inv["pay_url"])).status_code == 404
    [entry] = audited(db, "invoice.link_email")
    assert entry.before["state"] == "expired" and entry.after["issued_new_link"] is True


def test_email_replaces_a_link_about_to_expire(mailing, db):
    api, clerk, client, inbox = mailing
    inv = api.create()
    with db.transaction() as session:
        session.execute(update(PayLink).where(PayLink.invoice_id == inv["id"])
                        .values(expires_at=utcnow() + timedelta(hours=5)))
    assert post(clerk, f"/staff/invoices/{inv['id']}/link/email").status_code == 303
    [(_recipients, message)] = inbox.received
    assert emailed_url(message) != inv["pay_url"]
    assert client.get(path_of(emailed_url(message))).status_code == 200
    [entry] = audited(db, "invoice.link_email")
    assert entry.before["state"] == "live" and entry.after["issued_new_link"] is True


def test_email_needs_an_address_on_file(mailing, db):
    api, clerk, _client, inbox = mailing
    inv = api.create(customer={"external_id": "CUST-2", "name": "No Email Ltd"})
    body = page(clerk, f"/staff/invoices/{inv['id']}")
    assert "No email address is on file" in body and "disabled" in body
    response = post(clerk, f"/staff/invoices/{inv['id']}/link/email")
    assert response.status_code == 422
    assert "No email address is on file for this customer" in response.get_data(True)
    assert inbox.received == [] and audited(db, "invoice.link_email") == []


def test_an_undelivered_email_is_shown_on_the_page_and_retried_without_the_link(
        app_factory, api_key, db, caplog):
    app = app_factory(PORTAL_SMTP_URL=f"smtp://127.0.0.1:{free_port()}")  # nobody listens
    make_staff(db, "clerk@acme.example", "clerk")
    inv = Api(app.test_client(), api_key).create()
    clerk = logged_in(app, "clerk@acme.example")
    response = post(clerk, f"/staff/invoices/{inv['id']}/link/email")
    assert response.status_code == 303  # queued: the relay's answer is the worker's business
    shown = page(clerk, response.headers["Location"])
    assert "not sent yet, being retried (ConnectionRefusedError" in shown
    [entry] = audited(db, "invoice.link_email")
    [email] = outbox_rows(db)
    assert (email.status, email.attempts, email.key) == ("pending", 1, f"staff-link:{entry.id}")
    assert email.next_attempt_at is not None and "ConnectionRefusedError" in email.last_error
    assert f"email #{email.id} could not be sent (retrying)" in caplog.text
    assert token_of(inv["pay_url"]) not in caplog.text + email.body


# --- ERP text is data, not markup ----------------------------------------------------------------


def test_erp_text_is_escaped_on_the_list_and_the_page(api, staff):
    evil = "<script>alert(1)</script>"
    inv = api.create(number=f"N{evil}", memo=f"memo {evil}", terms=f"<b>{evil}</b>",
                     customer={"external_id": "C<x>", "name": f"Evil {evil} Inc",
                               "email": "ap@evil.example"},
                     lines=[{"description": f"<img src=x onerror=alert(1)>{evil}",
                             "amount": 3500}])
    for path in ("/staff/invoices", f"/staff/invoices/{inv['id']}",
                 "/staff/invoices?q=Evil"):
        body = page(staff["viewer"], path)
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, path
