"""``/staff/disputes``: the customers' commercial disputes, a queue and a page each.

Everyone with a role reads (the thread, internal notes, the customer's files, credit note
PDFs); clerks act: reply to the customer, add an internal note, take a dispute under review,
and resolve it with a credit note, an adjustment or a rejection. Each action is one function
of :mod:`payments.disputes.resolving` (audited there) in one transaction, which also queues
the customer's email in the outbox; the email task is enqueued only after the commit. The
domain's refusals come back as the page again with the message (422), nothing written; a
double submit finds the dispute resolved.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.orm import Session

from payments.disputes import reads, resolving
from payments.disputes.attachments import AttachmentStore
from payments.disputes.models import REASONS, CreditNote, Dispute
from payments.disputes.raising import MAX_MESSAGE, DisputeError
from payments.invoicing.models import Invoice
from payments.staff import audit
from portal import database, dispute_mail, tasks
from portal.customer.common import credit_note_response
from portal.staff import bp, session
from portal.staff.confirmations import is_id, page_cursor
from portal.staff.invoices import today
from portal.staff.roles import require_role

PAGE_SIZE = 50
OUTCOME_LABELS = {"credited": "credit note", "adjusted": "adjusted", "rejected": "rejected",
                  "voided": "invoice voided"}

# What the page says after each action (POST-redirect-GET).
NOTICES = {
    "reply": "Your reply was added to the thread.",
    "note": "Internal note added (the customer never sees it).",
    "review": "The dispute is now under review.",
    "credit": "Credit note {number} issued and the dispute resolved.",
    "adjust": "The invoice was adjusted and the dispute resolved.",
    "reject": "The dispute was rejected.",
}
EMAILED = " The customer is emailed about it (Background work lists any email not delivered)."
NOT_EMAILED = " The customer has no email address on file: only the invoice page shows it."

# An action: (transaction, actor) → (the outbox email to send after commit, the notice).
Work = Callable[[Session, audit.Actor], tuple[int | None, str]]


@bp.app_template_filter("dispute_reason")
def dispute_reason(reason: str) -> str:
    """A dispute's reason in the customer's words (the form's), for the staff pages."""
    return REASONS.get(reason, reason.replace("_", " "))


@bp.app_template_filter("dispute_state")
def dispute_state(dispute: Dispute) -> str:
    """A dispute's status, or for a resolved one its outcome, in words."""
    if dispute.outcome:
        return f"resolved: {OUTCOME_LABELS.get(dispute.outcome, dispute.outcome)}"
    return dispute.status.replace("_", " ")


@bp.get("/disputes")
@require_role("viewer")
def disputes():
    """Disputes oldest first (the longest waiting on top): active ones unless ``which`` says
    open, under_review, resolved or all; a page at a time."""
    which = request.args.get("which", "active")
    which = which if which in reads.QUEUE_FILTERS else "active"
    cursor = page_cursor(request.args.get("cursor"))
    page = reads.queue(database.session(), which, cursor, PAGE_SIZE)
    args = {"which": which} if which != "active" else {}
    return render_template("staff/disputes.html", page=page, which=which,
                           filters=reads.QUEUE_FILTERS, args=args, cursor=cursor)


@bp.get("/disputes/<id:dispute_id>")
@require_role("viewer")
def dispute(dispute_id: int, error: str | None = None, status: int = 200):
    """One dispute in full: invoice, amount, lines, the thread with its files, internal notes,
    the outcome; for clerks the actions; ``error`` is the refusal of the action just tried."""
    thread = reads.detail(database.session(), dispute_id)
    if thread is None:
        abort(404)
    invoice = database.session().get(Invoice, thread.dispute.invoice_id)
    return render_template("staff/dispute.html", t=thread, d=thread.dispute, inv=invoice,
                           error=error, form=request.form if error else {},
                           failed=request.endpoint if error else None, today=today(),
                           max_message=MAX_MESSAGE), status


def _act(dispute_id: int, work: Work):
    """Run one action in one transaction (the email queued in it); refusals re-render."""
    try:
        with database.db().transaction() as tx:
            email_id, notice = work(tx, session.actor())
    except resolving.NotFound:
        abort(404)
    except DisputeError as exc:
        return dispute(dispute_id, _sentence(exc), 422)
    tasks.enqueue_email(current_app, email_id)  # after the commit: the row exists to send
    flash(notice, "notice")
    return redirect(url_for("staff.dispute", dispute_id=dispute_id), 303)


def _sentence(exc: Exception) -> str:
    text = str(exc).strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _field(name: str) -> str:
    # One character over the limit, so the core still sees (and refuses) an over-long reply,
    # note or reason; the words of a credit or an adjustment, which it takes as they are,
    # stay about the size the form allows.
    return request.form.get(name, "")[:MAX_MESSAGE + 1]


def _emailed(email_id: int | None, notice: str) -> tuple[int | None, str]:
    return email_id, notice + (EMAILED if email_id is not None else NOT_EMAILED)


def _outcome(tx: Session, done: resolving.Resolution, notice: str) -> tuple[int | None, str]:
    return _emailed(dispute_mail.queue_outcome(tx, done.invoice, done.dispute,
                                               done.credit_note), notice)


@bp.post("/disputes/<id:dispute_id>/reply")
@require_role("clerk")
def dispute_reply(dispute_id: int):
    """Reply to the customer: on the thread, and by email; the dispute is under review."""
    def work(tx: Session, actor: audit.Actor):
        message = resolving.reply(tx, actor, dispute_id, _field("body"))
        invoice = tx.get(Invoice, tx.get(Dispute, dispute_id).invoice_id)
        return _emailed(dispute_mail.queue_reply(tx, invoice, message), NOTICES["reply"])

    return _act(dispute_id, work)


@bp.post("/disputes/<id:dispute_id>/note")
@require_role("clerk")
def dispute_note(dispute_id: int):
    """Add an internal note (staff only, no email), resolved dispute or not."""
    def work(tx: Session, actor: audit.Actor):
        resolving.note(tx, actor, dispute_id, _field("note"))
        return None, NOTICES["note"]

    return _act(dispute_id, work)


@bp.post("/disputes/<id:dispute_id>/review")
@require_role("clerk")
def dispute_review(dispute_id: int):
    """Mark an open dispute as under review (the customer's page says someone is on it)."""
    def work(tx: Session, actor: audit.Actor):
        resolving.review(tx, actor, dispute_id)
        return None, NOTICES["review"]

    return _act(dispute_id, work)


def _positions() -> tuple[int, ...]:
    # Anything that is not a row position becomes one no dispute has: the core refuses it.
    return tuple(int(raw) if is_id(raw) else -1 for raw in request.form.getlist("line"))


@bp.post("/disputes/<id:dispute_id>/credit")
@require_role("clerk")
def dispute_credit(dispute_id: int):
    """Resolve with a credit note: the chosen lines, or a typed amount, or the whole amount
    in dispute; the invoice owes that much less, and the customer is emailed."""
    def work(tx: Session, actor: audit.Actor):
        done = resolving.credit(tx, actor, dispute_id, _positions(),
                                request.form.get("amount", "")[:40], _field("note"),
                                beyond=current_user.has_role("admin"))
        return _outcome(tx, done, NOTICES["credit"].format(number=done.credit_note.number))

    return _act(dispute_id, work)


@bp.post("/disputes/<id:dispute_id>/adjust")
@require_role("clerk")
def dispute_adjust(dispute_id: int):
    """Resolve with a new amount due and/or due date; the customer is emailed."""
    def work(tx: Session, actor: audit.Actor):
        done = resolving.adjust(tx, actor, dispute_id, request.form.get("amount_due", "")[:40],
                                request.form.get("due_date", "")[:20], _field("note"), today(),
                                beyond=current_user.has_role("admin"))
        return _outcome(tx, done, NOTICES["adjust"])

    return _act(dispute_id, work)


@bp.post("/disputes/<id:dispute_id>/reject")
@require_role("clerk")
def dispute_reject(dispute_id: int):
    """Reject with a reason the customer reads (and optionally a new due date); emailed."""
    def work(tx: Session, actor: audit.Actor):
        done = resolving.reject(tx, actor, dispute_id, _field("reason"),
                                request.form.get("due_date", "")[:20], today())
        return _outcome(tx, done, NOTICES["reject"])

    return _act(dispute_id, work)


@bp.get("/disputes/<id:dispute_id>/attachments/<id:attachment_id>")
@require_role("viewer")
def dispute_attachment(dispute_id: int, attachment_id: int):
    """A file the customer sent, as a download (never shown inline: it is the customer's
    content), only under its own dispute's URL."""
    found = reads.attachment(database.session(), dispute_id, attachment_id)
    if found is None:
        abort(404)
    try:
        data = AttachmentStore(current_app.config["PORTAL_ATTACHMENTS_DIR"]).read(
            found.stored_name)
    except FileNotFoundError:
        current_app.logger.error("dispute attachment #%s: its file is missing", found.id)
        abort(404)
    # Cleaned when stored; cleaned again so no header can ever carry a quote or line break.
    name = re.sub(r"[^A-Za-z0-9 ._-]+", "-", found.filename).strip(" .-") or "attachment"
    response = Response(data, mimetype=found.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/credit-notes/<id:note_id>.pdf")
@require_role("viewer")
def credit_note(note_id: int):
    """A credit note's PDF, with its invoice's amount due as it is now."""
    tx = database.session()
    note = tx.get(CreditNote, note_id)
    if note is None:
        abort(404)
    return credit_note_response(tx, note)
