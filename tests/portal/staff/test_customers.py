"""The console's customer list and customer page with real data: search and keyset pages by
name; open invoices, payments, the statement link; average days to pay and days late (checked
by hand against a ledger with known dates); notes shared between staff, append-only, audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from payments.console import customer_page
from payments.console import notes as customer_notes
from payments.ledger.models import LedgerEntry
from payments.staff import audit
from payments.staff.models import StaffUser
from portal.staff import customers as customer_views
from tests.conftest import path_of
from tests.factories import lines_totalling
from tests.staff_helpers import logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def staff(app, db):
    """Logged-in clients for two clerks, an admin and a viewer."""
    for email, role in (("admin@acme.example", "admin"), ("clerk@acme.example", "clerk"),
                        ("other@acme.example", "clerk"), ("viewer@acme.example", "viewer")):
        make_staff(db, email, role)
    return {email.split("@")[0]: logged_in(app, email) for email in (
        "admin@acme.example", "clerk@acme.example", "other@acme.example", "viewer@acme.example")}


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def names(body: str) -> list[str]:
    return re.findall(r'<a href="/staff/customers/\d+">([^<]+)</a>', body)


def customer(api, ext: str, name: str, email: str | None = None) -> int:
    """A customer with one invoice (``INV-<ext>``); returns the customer's id."""
    body = api.create(external_id=f"INV-{ext}", number=f"INV-{ext}",
                      customer={"external_id": ext, "name": name, "email": email})
    return body["customer"]["id"]


# --- the list ------------------------------------------------------------------------------------


def test_the_list_is_alphabetical_searchable_and_pages_by_keyset(api, staff, monkeypatch):
    for ext, name in (("C1", "Zeta Corp"), ("C2", "Acme Buyers"), ("C3", "acme buyers"),
                      ("C4", "Mid 50% Co"), ("C5", "Acme Buyers")):
        customer(api, ext, name, f"{ext.lower()}@example.com")
    viewer = staff["viewer"]
    # In the database's collation: where "acme" goes (after "Zeta" in SQLite's) is its call.
    every = names(page(viewer, "/staff/customers"))
    assert [n for n in every if n != "acme buyers"] == ["Acme Buyers", "Acme Buyers",
                                                       "Mid 50% Co", "Zeta Corp"]
    for q, expected in (("ACME", 3), ("50%", 1), ("%", 1), ("C4", 1), ("c4@EXAMPLE.com", 1),
                        ("nobody", 0)):
        assert len(names(page(viewer, f"/staff/customers?q={q.replace('%', '%25')}"))) \
            == expected, q
    monkeypatch.setattr(customer_views, "PAGE_SIZE", 2)
    seen, path = [], "/staff/customers"
    while path:
        body = page(viewer, path)
        seen += names(body)
        more = re.search(r'<a href="([^"]+)">Next', body)
        path = more.group(1).replace("&amp;", "&") if more else None
    assert seen == every  # ties on the name ("Acme Buyers" twice) neither repeat nor vanish


def test_the_list_shows_what_each_customer_owes(api, world, staff):
    a = world.invoice("A", 1000, customer="CUST-A")
    world.invoice("B", 250, customer="CUST-A")
    world.invoice("C", 5000, currency="EUR", customer="CUST-A")
    world.pay("pi_a", 400, world.attempt([(a, 400)]))
    body = page(staff["viewer"], "/staff/customers")
    row = re.search(r"Customer CUST-A</a>.*?</tr>", body, re.S).group(0)
    assert '<td class="num">3</td>' in row and "$8.50" in row and "€50.00" in row


# --- paying habits, checked by hand --------------------------------------------------------------


def stamp(db, invoice_id: int, cause: str, when: str) -> None:
    """Pretend the ledger recorded ``cause`` on the invoice at ``when`` (UTC)."""
    at = datetime.fromisoformat(when).replace(tzinfo=UTC)
    with db.transaction() as session:
        done = session.execute(update(LedgerEntry).where(LedgerEntry.invoice_id == invoice_id,
                                                         LedgerEntry.cause == cause)
                               .values(created_at=at))
        assert done.rowcount == 1, cause


def invoice(api, ext: str, total: int, issued: str, due: str, cust: str = "HAB") -> int:
    return api.create(external_id=ext, number=ext, issue_date=issued, due_date=due,
                      customer={"external_id": cust, "name": f"Customer {cust}",
                                "email": "ap@example.com"}, **lines_totalling(1, total))["id"]


def test_average_days_to_pay_and_days_late_by_hand(api, world, db, staff):
    # A: issued Jan 1, due Jan 31, paid Jan 21 (00:30 UTC)          → 20 days, on time
    a = invoice(api, "A", 1000, "2025-01-01", "2025-01-31")
    world.pay("pi_a", 1000, world.attempt([(a, 1000)]))
    stamp(db, a, "pi_a:paid", "2025-01-21T00:30:00")
    # B: issued Feb 1, due Mar 3; 800 on Feb 15, the rest on Mar 13 (23:30 UTC) → 40, 10 late
    b = invoice(api, "B", 2000, "2025-02-01", "2025-03-03")
    world.pay("pi_b1", 800, world.attempt([(b, 800)]))
    world.pay("pi_b2", 1200, world.attempt([(b, 1200)]))
    stamp(db, b, "pi_b1:paid", "2025-02-15T09:00:00")
    stamp(db, b, "pi_b2:paid", "2025-03-13T23:30:00")
    # C: issued Mar 1, due Mar 31; paid Mar 5, 200 refunded Mar 10, paid again Apr 15
    #    → paid when it was whole again: 45 days, 15 late
    c = invoice(api, "C", 500, "2025-03-01", "2025-03-31")
    world.pay("pi_c1", 500, world.attempt([(c, 500)]), refunds=(200,))
    world.pay("pi_c2", 200, world.attempt([(c, 200)]))
    stamp(db, c, "pi_c1:paid", "2025-03-05T12:00:00")
    stamp(db, c, "re_pi_c1_0", "2025-03-10T12:00:00")
    stamp(db, c, "pi_c2:paid", "2025-04-15T12:00:00")
    # D: issued May 1, due May 31, paid on the due date             → 30 days, not late
    d = invoice(api, "D", 700, "2025-05-01", "2025-05-31")
    world.pay("pi_d", 700, world.attempt([(d, 700)]))
    stamp(db, d, "pi_d:paid", "2025-05-31T18:00:00")
    # Left out: open, part paid, void, and another customer's paid invoice.
    invoice(api, "E", 300, "2025-06-01", "2025-06-30")
    f = invoice(api, "F", 300, "2025-06-01", "2025-06-30")
    world.pay("pi_f", 100, world.attempt([(f, 100)]))
    g = invoice(api, "G", 300, "2025-06-01", "2025-06-30")
    assert api.post(f"/invoices/{g}/void").status_code == 200
    h = invoice(api, "H", 300, "2025-01-01", "2025-01-02", cust="OTHER")
    world.pay("pi_h", 300, world.attempt([(h, 300)]))
    customer_id = world.customer_of(a)
    with db.reader() as session:
        habits = customer_page.paying_habits(session, customer_id)
    # (20 + 40 + 45 + 30) / 4 = 33.75 → 33.8; late: (10 + 15) / 2 = 12.5
    assert habits == customer_page.PayingHabits(paid=4, late=2, days_to_pay=Decimal("33.8"),
                                                  days_late=Decimal("12.5"))
    body = page(staff["viewer"], f"/staff/customers/{customer_id}")
    assert re.search(r"<strong>33\.8</strong> days <span class=\"muted\">over 4 fully paid", body)
    assert re.search(r"2 of 4, on average <strong>12\.5</strong> days after the due date", body)
    assert customer_page.PAID_DATE_DEFINITION in body.replace("&#39;", "'")
    assert "paid date − issue date" in body and "paid date − due date" in body


def test_no_paid_invoice_means_no_average(api, db):
    customer_id = customer(api, "NEW", "New Customer")
    with db.reader() as session:
        assert customer_page.paying_habits(session, customer_id) == \
            customer_page.PayingHabits(0, 0, None, None)


# --- the customer page ---------------------------------------------------------------------------


def test_the_page_shows_open_invoices_payments_and_the_statement_link(api, world, client, db,
                                                                      staff):
    late = invoice(api, "LATE", 1000, "2020-01-01", "2020-01-31", cust="PAGE")
    soon = world.invoice("SOON", 2500, customer="PAGE")
    done = world.invoice("DONE", 300, customer="PAGE")
    world.pay("pi_done", 300, world.attempt([(done, 300)]))
    world.pay("pi_part", 500, world.attempt([(soon, 500)]), status="pending")
    customer_id = world.customer_of(late)
    body = page(staff["viewer"], f"/staff/customers/{customer_id}")
    open_rows = re.findall(r'<a href="/staff/invoices/(\d+)">([^<]+)</a>', body)
    assert open_rows == [(str(late), "LATE"), (str(soon), "SOON")]  # oldest due first
    assert "$35.00" in body  # owed now: 10.00 + 25.00
    assert "<code>pi_done</code>" in body and "<code>pi_part</code>" in body
    assert f'href="/staff/invoices?customer={customer_id}">3 in all' in body
    url = re.search(r'id="statement-link" class="link-url" type="text" readonly value="([^"]+)"',
                    body).group(1)
    assert client.get(path_of(url)).status_code == 200
    response = post(staff["clerk"], f"/staff/customers/{customer_id}/statement-link/rotate")
    assert response.status_code == 303
    assert client.get(path_of(url)).status_code == 404
    fresh = re.search(r'id="statement-link"[^>]*value="([^"]+)"',
                      page(staff["clerk"], f"/staff/customers/{customer_id}")).group(1)
    assert client.get(path_of(fresh)).status_code == 200
    assert post(staff["clerk"], f"/staff/customers/{customer_id}/statement-link/revoke") \
        .status_code == 303
    assert client.get(path_of(fresh)).status_code == 404
    with db.reader() as session:
        actions = session.scalars(select(audit.AuditEntry.action).where(
            audit.AuditEntry.target_type == "customer",
            audit.AuditEntry.target_id == str(customer_id)).order_by(audit.AuditEntry.id)).all()
    assert actions == ["customer.statement_link_rotate", "customer.statement_link_revoke"]


def test_unknown_customers_are_404(staff):
    for path in ("/staff/customers/999", "/staff/customers/99999999999"):
        assert staff["viewer"].get(path).status_code == 404
        assert post(staff["clerk"], path + "/notes", body="hello").status_code == 404


# --- notes ---------------------------------------------------------------------------------------


def notes_on(body: str) -> list[tuple[str, str]]:
    return re.findall(r'<p class="meta">([^ ]+) · [^<]+</p><p class="text">([^<]*)</p>', body)


def test_notes_are_shared_between_staff_newest_first(api, db, staff):
    customer_id = customer(api, "N1", "Noted Ltd")
    path = f"/staff/customers/{customer_id}"
    first = post(staff["clerk"], f"{path}/notes", body="  Called AP: cheque in the post.  ")
    assert first.status_code == 303 and first.headers["Location"] == f"{path}#notes"
    assert post(staff["other"], f"{path}/notes", body="Cheque never came.\nWill call again.") \
        .status_code == 303
    for who in ("clerk", "other", "viewer", "admin"):
        assert notes_on(page(staff[who], path)) == [
            ("other@acme.example", "Cheque never came.\nWill call again."),
            ("clerk@acme.example", "Called AP: cheque in the post.")]
    viewer_page = page(staff["viewer"], path)
    assert "Add note</button>" not in viewer_page
    assert post(staff["viewer"], f"{path}/notes", body="x").status_code == 403
    other_invoice = api.create(external_id="INV-N1b", number="INV-N1b",
                               customer={"external_id": "N1", "name": "Noted Ltd"})
    invoice_page = page(staff["viewer"], f"/staff/invoices/{other_invoice['id']}")
    assert "Cheque never came." in invoice_page  # the latest notes show on its invoices too
    with db.reader() as session:
        entries = session.scalars(select(audit.AuditEntry).where(
            audit.AuditEntry.action == "customer.note_add").order_by(audit.AuditEntry.id)).all()
    assert [(e.actor, e.target_type, e.target_id, e.before, e.after["body"]) for e in entries] \
        == [("clerk@acme.example", "customer", str(customer_id), None,
             "Called AP: cheque in the post."),
            ("other@acme.example", "customer", str(customer_id), None,
             "Cheque never came.\nWill call again.")]


def test_a_note_must_be_written_and_not_too_long(api, db, staff):
    customer_id = customer(api, "N2", "Terse Ltd")
    path = f"/staff/customers/{customer_id}/notes"
    blank = post(staff["clerk"], path, body=" \n ")
    assert blank.status_code == 422 and "Write something in the note first." in blank.get_data(True)
    long = "x" * (customer_notes.MAX_LENGTH + 1)
    refused = post(staff["clerk"], path, body=long)
    assert refused.status_code == 422
    assert "at most 4000 characters" in refused.get_data(as_text=True)
    assert long in refused.get_data(as_text=True)  # what was typed is kept for editing
    assert post(staff["clerk"], path, body="y" * customer_notes.MAX_LENGTH).status_code == 303
    with db.reader() as session:
        assert len(customer_notes.page(session, customer_id).notes) == 1


def test_notes_page_by_keyset_and_cannot_be_changed(api, db, staff):
    customer_id = customer(api, "N3", "Chatty Ltd")
    with db.reader() as session:
        admin = session.scalar(select(StaffUser.id).where(StaffUser.email == "admin@acme.example"))
    actor = audit.Actor(admin, "admin@acme.example")
    with db.transaction() as session:
        for n in range(5):
            customer_notes.add(session, actor, customer_id, f"note {n}")
    with db.reader() as session:
        first = customer_notes.page(session, customer_id, limit=2)
        rest = customer_notes.page(session, customer_id, first.next_cursor, limit=3)
    assert [n.body for n in first.notes + rest.notes] == [f"note {n}" for n in (4, 3, 2, 1, 0)]
    assert rest.next_cursor is None
    body = page(staff["viewer"], f"/staff/customers/{customer_id}")
    assert len(notes_on(body)) == 5
    for statement in ("UPDATE customer_notes SET body = 'changed'", "DELETE FROM customer_notes"):
        with pytest.raises(IntegrityError), db.transaction() as session:
            session.execute(text(statement))
    with db.reader() as session, pytest.raises(customer_notes.NoteError):
        customer_notes.add(session, audit.CLI, customer_id, "the command line has no author")


def test_note_text_is_escaped(api, staff):
    customer_id = customer(api, "N4", "<b>Bold</b> & <script>alert(1)</script>")
    post(staff["clerk"], f"/staff/customers/{customer_id}/notes",
         body="<script>alert('note')</script>")
    for path in (f"/staff/customers/{customer_id}", "/staff/customers?q=Bold"):
        body = page(staff["viewer"], path)
        assert "<script>alert" not in body and "<b>Bold" not in body, path
        assert "&lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt;" in body, path
    assert "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;" in \
        page(staff["viewer"], f"/staff/customers/{customer_id}")

