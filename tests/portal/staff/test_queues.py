"""The confirmation queue and the ERP export through the console's views, with real payments
reconciled into the real ledger: what the queue shows, bulk confirm with its refusals and audit
entries, double submits that change nothing, and a CSV safe to open in a spreadsheet.
(The exceptions queue: tests/portal/staff/test_exceptions.py.)"""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from payments.ledger.models import ReconciliationException
from payments.staff.models import AuditEntry
from tests.staff_helpers import logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")
CLERK = "clerk@acme.example"


@pytest.fixture
def staff(app, db):
    """Logged-in clients for a clerk and a viewer."""
    for role in ("clerk", "viewer"):
        make_staff(db, f"{role}@acme.example", role)
    return {role: logged_in(app, f"{role}@acme.example") for role in ("clerk", "viewer")}


def text_of(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def audit_entries(db, action: str) -> list[AuditEntry]:
    """Every audit entry of ``action``, oldest first."""
    with db.reader() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.id)))


def followed(client, response) -> str:
    """Assert a 303 and return the page it leads to."""
    assert response.status_code == 303, text_of(response)
    return text_of(client.get(response.headers["Location"]))


# --- the confirmation queue --------------------------------------------------------------------


def test_the_queue_shows_allocations_method_stripe_ids_and_why_each_was_matched(world, staff):
    a, b, c = world.invoice("INV-A", 3000), world.invoice("INV-B", 2000), world.invoice("C", 900)
    split = world.pay("pi_split", 5000, world.attempt([(a, 3000), (b, 2000)]))
    world.pay("pi_ach", 900, world.attempt([(c, 900)]), status="pending")
    unmatched = world.pay("pi_stray", 700)
    exc = world.exception("unmatched_payment")
    page = text_of(staff["clerk"].get("/staff/payments/confirm"))
    row = re.search(rf'<tr id="payment-{split}">(.*?)</tr>', page, re.S).group(1)
    for shown in ("pi_split", "ch_pi_split", "card", "$50.00", "INV-A", "$30.00", "INV-B",
                  "$20.00", "attempt reference", "found by its reference in the Stripe metadata",
                  f'name="payment_id" value="{split}"', f'name="one" value="{split}"'):
        assert shown in row, shown
    stray = re.search(rf'<tr id="payment-{unmatched}">(.*?)</tr>', page, re.S).group(1)
    assert "unapplied" in stray and "$7.00" in stray and 'name="payment_id"' not in stray
    assert f'href="/staff/exceptions/{exc}">#{exc} unmatched payment</a> first' in stray
    assert "pi_ach" not in page and "1 for $9.00" in page  # clearing: not confirmable yet
    viewer = text_of(staff["viewer"].get("/staff/payments/confirm"))
    assert "pi_split" in viewer and "Confirm selected" not in viewer and "checkbox" not in viewer


def test_invoice_numbers_link_to_the_invoice_page_when_there_is_one(app_factory, world, db):
    app = app_factory()
    if "staff.invoice" not in app.view_functions:  # a colleague's page; stand in for it
        app.add_url_rule("/staff/invoices/<int:invoice_id>", "staff.invoice", lambda **_: "")
    a = world.invoice("INV-A", 3000)
    world.pay("pi_1", 3000, world.attempt([(a, 3000)]))
    make_staff(db, "v@acme.example", "viewer")
    page = text_of(logged_in(app, "v@acme.example").get("/staff/payments/confirm"))
    assert f'<a href="/staff/invoices/{a}">INV-A</a>' in page


def test_the_queue_pages_by_keyset(world, staff, monkeypatch):
    from portal.staff import confirmations

    monkeypatch.setattr(confirmations, "PAGE_SIZE", 2)
    ids = [world.pay(f"pi_{n}", 100 + n) for n in range(3)]
    first = text_of(staff["viewer"].get("/staff/payments/confirm"))
    assert f"payment-{ids[1]}" in first and f"payment-{ids[2]}" not in first
    link = re.search(r'href="(/staff/payments/confirm\?cursor=\d+)">Next page', first).group(1)
    second = text_of(staff["viewer"].get(link))
    assert f"payment-{ids[2]}" in second and f"payment-{ids[0]}" not in second
    assert "First page" in second and "Next page" not in second


def test_bulk_confirm_confirms_what_it_can_and_says_why_not(world, staff, db):
    a, b, c = (world.invoice(x, 1000) for x in "ABC")
    good = [world.pay(f"pi_good{n}", 1000, world.attempt([(i, 1000)])) for n, i in
            enumerate((a, b))]
    ach = world.pay("pi_ach", 1000, world.attempt([(c, 1000)]), status="pending")
    stray = world.pay("pi_stray", 500)
    response = post(staff["clerk"], "/staff/payments/confirm", payment_id=[*good, ach, stray])
    page = followed(staff["clerk"], response)
    assert f"Confirmed 2 payments: #{good[0]}, #{good[1]}." in page
    assert f"Payment #{ach} was not confirmed: pending: the funds have not cleared yet" in page
    assert f"Payment #{stray} was not confirmed: resolve its open exceptions first" in page
    entries = audit_entries(db, "payment.confirm")
    assert [(e.target_id, e.actor, e.ip) for e in entries] == [
        (str(good[0]), CLERK, "192.0.2.10"), (str(good[1]), CLERK, "192.0.2.10")]
    assert entries[0].before == {"confirmed_at": None, "confirmed_by": None}
    assert entries[0].after["confirmed_by"] == CLERK
    assert world.payment(good[0]).confirmed_by == CLERK
    again = followed(staff["clerk"], post(staff["clerk"], "/staff/payments/confirm",
                                         one=str(good[0])))  # a double submit
    assert f"Payment #{good[0]} was not confirmed: already confirmed by {CLERK}" in again
    assert len(audit_entries(db, "payment.confirm")) == 2


@pytest.mark.parametrize("form, message", [
    ({}, "Select at least one payment to confirm."),
    ({"payment_id": ["1", "x"]}, "That is not a payment of this queue."),
    ({"payment_id": "9" * 12}, "That is not a payment of this queue."),
    ({"one": "²"}, "That is not a payment of this queue."),
])
def test_a_confirm_without_a_usable_selection_is_refused(staff, form, message):
    response = post(staff["clerk"], "/staff/payments/confirm", **form)
    assert response.status_code == 422 and message in text_of(response)


def test_a_row_button_confirms_only_its_row(world, staff):
    ids = [world.pay(f"pi_{n}", 100 + n) for n in range(2)]
    with world.db.transaction() as session:  # no exceptions in the way
        for exc in session.scalars(select(ReconciliationException)):
            exc.resolved_at, exc.resolved_by = exc.created_at, "test"
    response = post(staff["clerk"], "/staff/payments/confirm", payment_id=ids, one=str(ids[1]))
    assert f"Confirmed 1 payment: #{ids[1]}." in followed(staff["clerk"], response)
    assert world.payment(ids[0]).confirmed_at is None


# --- the export ---------------------------------------------------------------------------------


def _csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text_of(response))))


def test_the_export_has_a_row_per_allocation_and_is_safe_to_open_in_a_spreadsheet(world, staff):
    evil = world.invoice("=HYPERLINK(\"http://x\")", 3000)
    plain, minus = world.invoice("INV-2", 2000), world.invoice("-2+3", 1000)
    two = world.pay("pi_two", 5000, world.attempt([(evil, 3000), (plain, 2000)]))
    one = world.pay("pi_one", 1000, world.attempt([(minus, 1000)]))
    world.pay("pi_two", 5000, refunds=(500,))
    world.pay("pi_left", 1000, world.attempt([(world.invoice("L", 1000), 1000)]))
    post(staff["clerk"], "/staff/payments/confirm", payment_id=[two, one])
    response = staff["viewer"].get("/staff/payments/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="confirmed-payments.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    rows = _csv(response)
    assert [(r["payment_id"], r["invoice_number"], r["amount"], r["net_amount"]) for r in rows] \
        == [(str(two), "'=HYPERLINK(\"http://x\")", "3000", "3000"),
            (str(two), "INV-2", "2000", "1500"), (str(one), "'-2+3", "1000", "1000")]
    assert rows[0]["invoice_external_id"].startswith("'=")
    assert (rows[1]["confirmed_by"], rows[1]["method"], rows[1]["payment_intent_id"],
            rows[1]["charge_id"], rows[1]["currency"]) == (CLERK, "card", "pi_two",
                                                            "ch_pi_two", "USD")


def test_the_export_filters_by_confirmation_day(world, staff):
    world.pay("pi_1", 100)
    with world.db.transaction() as session:
        for exc in session.scalars(select(ReconciliationException)):
            exc.resolved_at, exc.resolved_by = exc.created_at, "test"
    post(staff["clerk"], "/staff/payments/confirm", payment_id=["1"])
    later = staff["viewer"].get("/staff/payments/export.csv?since=2999-01-01")
    assert later.headers["Content-Disposition"].endswith('since-2999-01-01.csv"')
    assert _csv(later) == []
    assert len(_csv(staff["viewer"].get("/staff/payments/export.csv?since=2000-01-01"))) == 1
    bad = staff["viewer"].get("/staff/payments/export.csv?since=yesterday")
    assert bad.status_code == 422 and "YYYY-MM-DD" in text_of(bad)
