"""The customer page's collections section: what was learned, the trend, the settings (clerks
change them, viewers read them), contact windows, the timeline; "do not chase" on the invoice
page; the dashboard's "Paying getting worse" list."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, update

from payments.collections import refresh
from payments.collections.models import CollectionProfile, ContactWindow, InvoiceChase
from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import LedgerEntry, Payment
from payments.staff.models import AuditEntry
from payments.stripe.facts import PaymentFacts
from tests.factories import lines_totalling
from tests.staff_helpers import logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")

TODAY = date(2026, 6, 30)
# Issued, due, paid: 30 and 30 days to pay in the prior 90 days, 40 and 50 lately (worse by
# 15.0); days late 0, 0, 10, 20.
PAID = (("2026-01-10", "2026-02-09", "2026-02-09"), ("2026-02-10", "2026-03-12", "2026-03-12"),
        ("2026-04-10", "2026-05-10", "2026-05-20"), ("2026-05-01", "2026-05-31", "2026-06-20"))


@pytest.fixture
def staff(app, db):
    for email, role in (("clerk@acme.example", "clerk"), ("viewer@acme.example", "viewer")):
        make_staff(db, email, role)
    return {"clerk": logged_in(app, "clerk@acme.example"),
            "viewer": logged_in(app, "viewer@acme.example")}


def paid_invoice(api, db, ext: str, issued: str, due: str, paid: str) -> int:
    invoice_id = api.create(external_id=ext, number=ext, issue_date=issued, due_date=due,
                            customer={"external_id": "LATE", "name": "Latecomer & Co",
                                      "email": "ap@late.example"},
                            **lines_totalling(1, 1000))["id"]
    with db.transaction() as session:
        payment = Payment(payment_intent_id=f"pi_{ext}", currency="USD", amount=1000,
                          status="pending", customer_id=session.get(Invoice, invoice_id)
                          .customer_id)
        session.add(payment)
        session.flush()
        ledger.reconcile_payment(session, payment, [(invoice_id, 1000)],
                                 PaymentFacts("succeeded"))
        session.execute(update(LedgerEntry).where(LedgerEntry.cause == f"pi_{ext}:paid").values(
            created_at=datetime.fromisoformat(f"{paid}T12:00").replace(tzinfo=UTC)))
    return invoice_id


@pytest.fixture
def latecomer(api, db) -> int:
    """A customer paying slower lately, refreshed as of TODAY; returns its id."""
    ids = [paid_invoice(api, db, f"L-{n}", *row) for n, row in enumerate(PAID)]
    with db.transaction() as session:
        refresh.refresh(session, TODAY)
        return session.get(Invoice, ids[0]).customer_id


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return html.unescape(response.get_data(as_text=True))


def test_a_viewer_sees_collections_and_the_timeline_without_forms(staff, latecomer):
    body = page(staff["viewer"], f"/staff/customers/{latecomer}")
    section = body[body.index('id="collections"'):body.index('id="timeline"')]
    # Newest first, weights 12…9: 20 (12), 10 (11), 0 (10), 0 (9): 42 in all, half 21 → 10.
    assert "usually pays 10 days after due (from 4 paid invoices" in section
    assert "paying getting worse" in section
    assert "45.0 days on average lately against 30.0 before: 15.0 days slower" in section
    assert "<strong>15.0</strong> days on average, 2 of 2 paid late" in section
    assert "the default policy" in section and "Monday, Tuesday" in section
    for form in ("Save collections settings", "Add contact window", "Log call",
                 "Record promise", "Remove</button>"):
        assert form not in section
    timeline = body[body.index('id="timeline"'):]
    assert "Payment of $10.00" in timeline


def test_a_clerk_saves_settings_and_bad_input_stores_nothing(staff, db, latecomer):
    clerk, path = staff["clerk"], f"/staff/customers/{latecomer}"
    body = page(clerk, path)
    assert "Save collections settings" in body and "Add contact window" in body
    assert "Log call</button>" in body and "Record promise</button>" in body
    bad = post(clerk, f"{path}/collections", time_zone="Europe/Atlantis", hours_start="9",
               hours_end="17", business_days="1", contact_emails="ap@late.example, oops")
    text = html.unescape(bad.get_data(as_text=True))
    assert bad.status_code == 422
    assert "'Europe/Atlantis' is not a time zone" in text
    assert "'oops' is not an email address" in text
    assert 'value="ap@late.example, oops"' in text  # what was typed comes back
    with db.reader() as session:
        assert session.get(CollectionProfile, latecomer).time_zone is None
    good = clerk.post(f"{path}/collections", data={
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', body).group(1),
        "time_zone": "Europe/Paris", "hours_start": "8", "hours_end": "12",
        "business_days": ["1", "3"], "learn_timing": "1", "preferred_channel": "call",
        "contact_emails": "ap@late.example"})
    assert good.status_code == 303 and good.headers["Location"] == f"{path}#collections"
    with db.reader() as session:
        saved = session.get(CollectionProfile, latecomer)
        assert (saved.time_zone, saved.hours_start, saved.business_days,
                saved.preferred_channel, saved.do_not_chase) == ("Europe/Paris", 8, "13",
                                                                 "call", False)
        assert saved.learned is not None  # the refresh's work is kept
        assert session.scalar(select(func.count()).where(
            AuditEntry.action == "collections.profile_save")) == 1
    viewer = page(staff["viewer"], path)
    assert "Europe/Paris" in viewer and "8:00 to 12:00, Monday, Wednesday" in viewer
    assert "Collections settings changed" in viewer  # on the timeline
    assert post(staff["viewer"], f"{path}/collections", hours_start="1").status_code == 403


def test_contact_windows_from_the_page(staff, db, latecomer):
    clerk, path = staff["clerk"], f"/staff/customers/{latecomer}"
    added = post(clerk, f"{path}/windows", kind="monthly", start="15", end="21", label="away")
    assert added.status_code == 303 and added.headers["Location"] == f"{path}#windows"
    assert "days 15–21 of every month (away)" in page(staff["viewer"], path)
    bad = post(clerk, f"{path}/windows", kind="dates", start="2027-03-12", end="2027-03-01")
    assert bad.status_code == 422 and "The last day comes before the first." in \
        bad.get_data(as_text=True)
    with db.reader() as session:
        window_id = session.scalar(select(ContactWindow.id))
        assert session.scalar(select(func.count()).select_from(ContactWindow)) == 1
    assert post(clerk, f"{path}/windows/{window_id + 1}/delete").status_code == 404
    assert post(staff["viewer"], f"{path}/windows/{window_id}/delete").status_code == 403
    assert post(clerk, f"{path}/windows/{window_id}/delete").status_code == 303
    assert "days 15–21 of every month" not in page(clerk, path).split('id="timeline"')[0]


def test_do_not_chase_one_invoice(staff, db, world):
    invoice_id = world.invoice("HOLD-1", 900, customer="HOLD")
    path = f"/staff/invoices/{invoice_id}"
    assert "Do not chase this invoice</button>" not in page(staff["viewer"], path)
    assert post(staff["viewer"], f"{path}/chase-hold", hold="1").status_code == 403
    held = post(staff["clerk"], f"{path}/chase-hold", hold="1")
    assert held.status_code == 303 and held.headers["Location"] == f"{path}#chase"
    body = page(staff["viewer"], path)
    assert "Do not chase:" in body and "set by clerk@acme.example" in body
    assert "Resume reminders for this invoice" in page(staff["clerk"], path)
    assert post(staff["clerk"], f"{path}/chase-hold", hold="maybe").status_code == 422
    assert post(staff["clerk"], f"{path}/chase-hold", hold="0").status_code == 303
    with db.reader() as session:
        assert session.get(InvoiceChase, invoice_id).do_not_chase is False


def test_the_dashboard_lists_customers_paying_worse(staff, latecomer):
    body = page(staff["viewer"], "/staff/")
    section = body[body.index('id="worsening"'):body.index('id="aging-h"')]
    row = re.search(r'<tr class="worsening">.*?</tr>', section, re.S).group(0)
    assert f'href="/staff/customers/{latecomer}">Latecomer & Co</a>' in row
    assert "45.0" in row and "30.0" in row and "15.0 days" in row
