"""The disputes console through its views, with disputes raised by the core as the invoice page
would: the queue, a dispute's page (thread, files, internal notes), every action with its audit
entry and customer email, the money moved only through the ledger, refusals shown as form
errors with nothing written, and the customer's files served only under their own dispute."""

from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update

from payments.clock import utcnow
from payments.disputes import raising
from payments.disputes.attachments import AttachmentStore, Upload, clean_name
from payments.disputes.models import CreditNote, Dispute
from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.ledger.models import LedgerEntry
from payments.staff.models import AuditEntry
from tests.mailbox import outbox_rows
from tests.portal.staff.test_queues import CLERK, audit_entries, followed, text_of
from tests.staff_helpers import logged_in, make_staff, post

pytestmark = pytest.mark.usefixtures("cheap_hashing")

PDF = b"%PDF-1.4\n% a delivery note\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
ACTIONS = ("reply", "note", "review", "credit", "adjust", "reject")


@pytest.fixture
def staff(app, db):
    """Logged-in clients for a clerk and a viewer."""
    for role in ("clerk", "viewer"):
        make_staff(db, f"{role}@acme.example", role)
    return {role: logged_in(app, f"{role}@acme.example") for role in ("clerk", "viewer")}


@pytest.fixture
def invoice(api) -> dict:
    """INV-0001: Widgets $30.00 (line 1), Delivery $5.00 (line 2), tax $3.50; $38.50 due."""
    return api.create()


def raise_dispute(app, db, invoice_id: int, positions=(1,), reason: str = "quantity",
                  message: str = "", files: tuple[Upload, ...] = ()) -> int:
    """A dispute raised as the customer's invoice page raises it; its id."""
    store = AttachmentStore(app.config["PORTAL_ATTACHMENTS_DIR"])
    with db.transaction() as session:
        return raising.raise_dispute(session, invoice_id, raising.Raise(
            reason=reason, positions=positions, message=message, files=files), store, []).id


def load(db, model, row_id: int):
    """A fresh copy of one row."""
    with db.reader() as session:
        return session.get(model, row_id)


def dispute_audits(db) -> list[AuditEntry]:
    """Every audit entry of a dispute action, oldest first."""
    with db.reader() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("dispute.%")).order_by(AuditEntry.id)))


def count(db, model) -> int:
    """How many rows ``model`` has."""
    with db.reader() as session:
        return session.scalar(select(func.count()).select_from(model))


def section(page: str, section_id: str) -> str:
    """The HTML of the page's ``<section id=...>``."""
    return re.search(rf'<section[^>]* id="{section_id}".*?</section>', page, re.S).group(0)


# --- the queue ------------------------------------------------------------------------------


def test_the_queue_lists_waiting_disputes_oldest_first_and_resolved_ones_on_request(
        app, db, api, invoice, staff):
    other = api.create(external_id="ERP-2", number="INV-0002")
    waiting = raise_dispute(app, db, invoice["id"], message="We got 2 boxes, not 3.")
    done = raise_dispute(app, db, other["id"], positions=(), reason="pricing")
    with db.transaction() as session:  # raised three days ago
        session.execute(update(Dispute).where(Dispute.id == waiting)
                        .values(created_at=utcnow() - timedelta(days=3, hours=1)))
    rejected = post(staff["clerk"], f"/staff/disputes/{done}/reject",
                    reason="The price is the list one.")
    assert rejected.status_code == 303
    page = text_of(staff["viewer"].get("/staff/disputes"))
    row = re.search(rf'<tr id="dispute-{waiting}">(.*?)</tr>', page, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[1:5] == ["3", "$30.00", "The quantity is wrong", "open"]
    assert f'href="/staff/customers/{invoice["customer"]["id"]}">Northwind Traders</a>' in row
    assert f'<a href="/staff/invoices/{invoice["id"]}">INV-0001</a>' in row
    assert cells[7] == "1" and f'href="/staff/disputes/{waiting}">View</a>' in row
    assert f"dispute-{done}" not in page
    resolved = text_of(staff["viewer"].get("/staff/disputes?which=resolved"))
    assert f"dispute-{done}" in resolved and "resolved: rejected" in resolved
    assert f"dispute-{waiting}" not in resolved
    clerk = text_of(staff["clerk"].get("/staff/disputes?which=nonsense"))
    assert f'href="/staff/disputes/{waiting}">Handle</a>' in clerk and f"-{done}\"" not in clerk
    assert 'href="/staff/disputes">Disputes</a>' in clerk  # in the console's menu


def test_the_dashboard_counts_the_disputes_waiting(app, db, invoice, staff):
    assert "waiting</a>" not in text_of(staff["viewer"].get("/staff/"))
    raise_dispute(app, db, invoice["id"])
    page = text_of(staff["viewer"].get("/staff/"))
    assert '<a href="/staff/disputes">1 dispute waiting</a>' in page


# --- a dispute's page -----------------------------------------------------------------------


def test_a_viewer_reads_everything_but_every_action_is_refused(app, db, invoice, staff):
    dispute = raise_dispute(app, db, invoice["id"], positions=(1, 2),
                            message="Two boxes arrived, not three.")
    page = text_of(staff["viewer"].get(f"/staff/disputes/{dispute}"))
    for shown in ("Dispute #", "INV-0001", "Northwind Traders", "$35.00",
                  "The quantity is wrong", "Widgets", "Delivery", "Two boxes arrived",
                  "Internal notes (never shown to the customer)"):
        assert shown in page, shown
    assert "<form method=\"post\" action=\"/staff/disputes" not in page
    for action in ACTIONS:
        response = post(staff["viewer"], f"/staff/disputes/{dispute}/{action}", body="x",
                        note="x", reason="x", line="1")
        assert response.status_code == 403, action
    assert dispute_audits(db) == [] and outbox_rows(db) == []
    assert load(db, Dispute, dispute).status == "open"
    assert staff["viewer"].get("/staff/disputes/999").status_code == 404
    assert post(staff["clerk"], "/staff/disputes/999/reply", body="hi").status_code == 404


def test_a_reply_reaches_the_thread_and_the_customer_but_an_internal_note_never_does(
        app, db, invoice, staff):
    dispute = raise_dispute(app, db, invoice["id"], message="Two boxes arrived, not three.")
    clerk = staff["clerk"]
    noted = followed(clerk, post(clerk, f"/staff/disputes/{dispute}/note",
                                 note="Warehouse says 3 boxes left; check the POD."))
    assert "Internal note added" in noted
    page = followed(clerk, post(clerk, f"/staff/disputes/{dispute}/reply",
                                body="We are checking the delivery note with the carrier."))
    assert "Your reply was added to the thread" in page
    thread, notes = section(page, "thread"), section(page, "notes")
    assert "Staff reply</strong> by clerk@acme.example" in thread
    assert "checking the delivery note" in thread and "Customer</strong>" in thread
    assert "check the POD" in notes and "check the POD" not in thread
    assert load(db, Dispute, dispute).status == "under_review"
    [email] = outbox_rows(db)
    reply_audit = audit_entries(db, "dispute.reply")[0]
    assert email.key == f"dispute-reply:{reply_audit.after['message_id']}"
    assert email.to_address == "ap@northwind.example"
    assert "checking the delivery note" in email.body and "POD" not in email.body
    assert [(a.action, a.target_type, a.target_id, a.actor) for a in dispute_audits(db)] == [
        ("dispute.note", "dispute", str(dispute), CLERK),
        ("dispute.reply", "dispute", str(dispute), CLERK)]


def test_mark_under_review_is_audited_and_emails_no_one(app, db, invoice, staff):
    dispute = raise_dispute(app, db, invoice["id"])
    page = followed(staff["clerk"], post(staff["clerk"], f"/staff/disputes/{dispute}/review"))
    assert "now under review" in page and 'id="review"' not in page
    assert load(db, Dispute, dispute).status == "under_review" and outbox_rows(db) == []
    [entry] = audit_entries(db, "dispute.review")
    assert (entry.before["status"], entry.after["status"]) == ("open", "under_review")


# --- resolutions ----------------------------------------------------------------------------


def test_crediting_one_line_issues_a_credit_note_through_the_ledger_once(
        app, db, invoice, staff):
    dispute = raise_dispute(app, db, invoice["id"], positions=(1, 2))
    clerk = staff["clerk"]
    page = followed(clerk, post(clerk, f"/staff/disputes/{dispute}/credit", line="1",
                                note="Short shipment"))
    assert "Credit note CN-000001 issued" in page and 'id="credit"' not in page
    [note] = _credit_notes(db)
    assert (note.number, note.amount, note.dispute_id) == ("CN-000001", 3000, dispute)
    assert f'href="/staff/credit-notes/{note.id}.pdf">CN-000001 (PDF)</a>' in page
    assert load(db, Invoice, invoice["id"]).amount_due == 850
    with db.reader() as session:
        assert ledger.verify(session) == []
    assert load(db, Dispute, dispute).outcome == "credited"
    [email] = outbox_rows(db)
    assert email.key == f"dispute-outcome:{dispute}" and "CN-000001" in email.body
    [entry] = audit_entries(db, "dispute.credit")
    assert entry.after["credit_note"] == "CN-000001" and entry.actor == CLERK
    entries = count(db, LedgerEntry)

    again = post(clerk, f"/staff/disputes/{dispute}/credit", line="1")
    assert again.status_code == 422 and "already resolved" in text_of(again)
    assert len(_credit_notes(db)) == 1 and count(db, LedgerEntry) == entries
    assert len(dispute_audits(db)) == 1 and len(outbox_rows(db)) == 1

    pdf = staff["viewer"].get(f"/staff/credit-notes/{note.id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert 'filename="credit-note-CN-000001.pdf"' in pdf.headers["Content-Disposition"]
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.data)).pages)
    assert "CN-000001" in text and "$30.00" in text and "INV-0001" in text
    assert staff["viewer"].get("/staff/credit-notes/999.pdf").status_code == 404

    shown = text_of(staff["viewer"].get(f"/staff/invoices/{invoice['id']}"))
    disputes = section(shown, "disputes")
    assert f'href="/staff/disputes/{dispute}">#{dispute}</a>' in disputes
    assert "resolved: credit note" in disputes and "$35.00" in disputes
    assert f'href="/staff/credit-notes/{note.id}.pdf">CN-000001 (PDF)</a>' in disputes


def _credit_notes(db) -> list[CreditNote]:
    with db.reader() as session:
        return list(session.scalars(select(CreditNote).order_by(CreditNote.id)))


def test_adjusting_lowers_what_is_owed_and_moves_the_due_date(app, db, invoice, staff):
    dispute = raise_dispute(app, db, invoice["id"])
    new_due = (utcnow().date() + timedelta(days=60)).isoformat()
    page = followed(staff["clerk"], post(staff["clerk"], f"/staff/disputes/{dispute}/adjust",
                                         amount_due="30.00", due_date=new_due))
    assert "The invoice was adjusted" in page and "new amount due $30.00" in page
    after = load(db, Invoice, invoice["id"])
    assert (after.amount_due, after.due_date.isoformat()) == (3000, new_due)
    with db.reader() as session:
        assert ledger.verify(session) == []
    assert [e.key for e in outbox_rows(db)] == [f"dispute-outcome:{dispute}"]
    [entry] = audit_entries(db, "dispute.adjust")
    assert (entry.after["amount_due"], entry.after["outcome"]) == (3000, "adjusted")


@pytest.mark.parametrize(("action", "form"), [("credit", {"line": "1"}),
                                              ("adjust", {"amount_due": "30.00"})])
def test_the_audit_entry_shows_the_amount_due_before_the_change(app, db, invoice, staff,
                                                                action, form):
    dispute = raise_dispute(app, db, invoice["id"])
    post(staff["clerk"], f"/staff/disputes/{dispute}/{action}", **form)
    [entry] = audit_entries(db, f"dispute.{action}")
    assert (entry.before["amount_due"], entry.after["amount_due"]) == (3850, 850 if action
                                                                       == "credit" else 3000)


def test_rejecting_with_a_reason_tells_the_customer_why(app, db, invoice, staff):
    dispute = raise_dispute(app, db, invoice["id"])
    page = followed(staff["clerk"], post(staff["clerk"], f"/staff/disputes/{dispute}/reject",
                                         reason="The carrier's POD shows three boxes."))
    assert "The dispute was rejected. The customer is emailed about it" in page
    assert "resolved: rejected by clerk@acme.example" in page
    assert "three boxes" in page and 'id="reject"' not in page
    [email] = outbox_rows(db)
    assert "three boxes" in email.body
    assert load(db, Invoice, invoice["id"]).amount_due == 3850
    [entry] = audit_entries(db, "dispute.reject")
    assert (entry.before["status"], entry.after["outcome"]) == ("open", "rejected")


def test_a_customer_without_an_email_address_is_not_emailed_and_the_clerk_is_told(
        app, db, api, staff):
    quiet = api.create(customer={"external_id": "CUST-2", "name": "Quiet Ltd"})
    dispute = raise_dispute(app, db, quiet["id"])
    page = followed(staff["clerk"], post(staff["clerk"], f"/staff/disputes/{dispute}/reply",
                                         body="Which boxes?"))
    assert "The customer has no email address on file" in page and outbox_rows(db) == []
    assert "(no email address on file: the customer is not emailed)" in page


@pytest.mark.parametrize(("action", "form", "message"), [
    ("reject", {"reason": "  "}, "Write the reason the customer will read."),
    ("reject", {"reason": "No.", "due_date": "past"}, "cannot be in the past"),
    ("adjust", {"amount_due": "40.00", "note": "kept words"}, "must be between"),
    ("adjust", {"due_date": "past"}, "cannot be in the past"),
    ("adjust", {"due_date": "31/12/2030"}, "YYYY-MM-DD"),
    ("adjust", {}, "Change the amount due, the due date, or both."),
    ("credit", {"amount": "99.00"}, "at most the $38.50 still open"),
    ("credit", {"line": "7"}, "Choose lines of this dispute."),
    ("reply", {"body": ""}, "Write a reply."),
    ("note", {"note": ""}, "Write a note."),
])
def test_a_refused_action_shows_why_and_writes_nothing(app, db, invoice, staff, action, form,
                                                       message):
    dispute = raise_dispute(app, db, invoice["id"])
    if form.get("due_date") == "past":
        form = {**form, "due_date": (utcnow().date() - timedelta(days=1)).isoformat()}
    entries = count(db, LedgerEntry)
    response = post(staff["clerk"], f"/staff/disputes/{dispute}/{action}", **form)
    page = text_of(response)
    assert response.status_code == 422 and message in page
    assert re.search(r'<p class="error" role="alert">[^<]*' + re.escape(message), page)
    if "note" in form and action == "adjust":  # what was typed is kept, in its own form only
        assert section(page, "notes").count("kept words") == 0
        assert 'value="kept words"' in page
    assert load(db, Dispute, dispute).status == "open"
    assert dispute_audits(db) == [] and outbox_rows(db) == []
    assert count(db, LedgerEntry) == entries and _credit_notes(db) == []
    assert load(db, Invoice, invoice["id"]).amount_due == 3850


# --- the customer's files ---------------------------------------------------------------------


def test_a_file_is_downloaded_only_under_its_own_dispute(app, db, api, invoice, staff):
    sent = Upload('..\\..\\delivery "note".exe', PDF)
    dispute = raise_dispute(app, db, invoice["id"], message="See the note.",
                            files=(sent, Upload("photo.png", PNG)))
    other = raise_dispute(app, db, api.create(external_id="ERP-2", number="INV-0002")["id"])
    page = text_of(staff["viewer"].get(f"/staff/disputes/{dispute}"))
    links = re.findall(rf'href="(/staff/disputes/{dispute}/attachments/\d+)" download>'
                       r"([^<]+)</a>", section(page, "thread"))
    assert [name for _url, name in links] == ["delivery -note.pdf", "photo.png"]
    response = staff["viewer"].get(links[0][0])
    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{clean_name(sent.filename, "application/pdf")}"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert staff["viewer"].get(links[1][0]).mimetype == "image/png"
    attachment_id = links[0][0].rsplit("/", 1)[1]
    stolen = staff["viewer"].get(f"/staff/disputes/{other}/attachments/{attachment_id}")
    assert stolen.status_code == 404
    assert staff["viewer"].get(f"/staff/disputes/{dispute}/attachments/999").status_code == 404
