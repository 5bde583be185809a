"""Disputes from the invoice page: ``POST /i/<token>/dispute`` raises one (reason, lines,
amount, message, files), ``POST /i/<token>/dispute/<id>/message`` writes to its thread, and
``/i/<token>/credit-notes/<id>/pdf`` downloads a credit note of *this* invoice.

The token is the capability: a dispute, message or credit note of another invoice is the same
404 as a bad token. Posts are CSRF-checked (the app's CSRFProtect) and rate-limited per
address; a refused form is the invoice page again with a message per field (422), and nothing
stored: files are written only once everything passed, and removed if the transaction fails.
"""

from __future__ import annotations

from flask import Flask, abort, current_app, redirect, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from payments.checkout import start as checkout
from payments.disputes import raising
from payments.disputes.attachments import MAX_BYTES, MAX_FILES, AttachmentStore, Upload
from payments.disputes.models import CreditNote
from payments.invoicing.models import Invoice
from payments.links import customer_pages
from payments.stripe.errors import StripeError
from portal import database, dispute_mail, errors, tasks
from portal.customer import bp
from portal.customer.common import credit_note_response, resolved_link, today, token_lookup
from portal.customer.invoice import render_page
from portal.extensions import limiter

UPLOAD_ENDPOINTS = {"customer.dispute_raise", "customer.dispute_message"}
# Room for the files and the form (the app's limit elsewhere is 1 MiB).
UPLOAD_MAX = MAX_FILES * MAX_BYTES + 256 * 1024

dispute_limit = limiter.limit(lambda: current_app.config["PORTAL_DISPUTE_RATE_LIMIT"])


def init_app(app: Flask) -> None:
    """Let the two upload forms carry files: registered before CSRFProtect, whose check
    reads the form (and would refuse the body at the app-wide limit first)."""
    @app.before_request
    def _room_for_files() -> None:
        if request.endpoint in UPLOAD_ENDPOINTS:
            request.max_content_length = UPLOAD_MAX


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge):
    """Files over the request's room are the dispute form again with the reason next to the
    file field, not a bare 413 page (nothing was read, nothing is stored)."""
    token = (request.view_args or {}).get("token", "")
    if request.endpoint not in UPLOAD_ENDPOINTS:
        return errors.http_error(exc)
    state, view = customer_pages.load_invoice(database.session(), token, today())
    if state is not customer_pages.LinkState.OK:
        return errors.http_error(exc)
    message = (f"The files are too large: attach at most {MAX_FILES} files of "
               f"{MAX_BYTES // (1024 * 1024)} MB")
    form = "dispute" if request.endpoint == "customer.dispute_raise" else "thread"
    return render_page(token, view, 413, dispute_error=message,
                       dispute_fields={"files": message}, dispute_form=form)


def _uploads() -> tuple[Upload, ...]:
    # A file input left empty still sends a part with no name and no bytes: not a file.
    return tuple(Upload(f.filename or "", f.read()) for f in request.files.getlist("files")
                 if f.filename)


def _store() -> AttachmentStore:
    return AttachmentStore(current_app.config["PORTAL_ATTACHMENTS_DIR"])


def _save(work) -> object:
    """Run ``work(session, store, written)`` in one transaction; files of a failed one go."""
    store, written = _store(), []
    try:
        with database.db().transaction() as session:
            return work(session, store, written)
    except BaseException:
        store.discard(written)
        raise


def _positions() -> tuple[int, ...]:
    return tuple(int(v) for v in request.form.getlist("line")
                 if v.isascii() and v.isdigit() and len(v) < 6)


@bp.post("/i/<token>/dispute")
@token_lookup
@dispute_limit
def dispute_raise(token: str):
    """Raise a dispute on this invoice (or on some of its lines)."""
    row = resolved_link("invoice", token)
    form = raising.Raise(reason=request.form.get("reason", ""), positions=_positions(),
                         amount=request.form.get("amount", ""),
                         message=request.form.get("message", ""), files=_uploads())
    def work(session, store, written) -> int | None:
        dispute = raising.raise_dispute(session, row["id"], form, store, written)
        return dispute_mail.queue_received(session, session.get(Invoice, row["id"]), dispute)

    try:
        email_id = _save(work)
    except raising.DisputeError as exc:
        return _again(token, exc, "dispute")
    tasks.enqueue_email(current_app, email_id)  # after the commit: the row exists to send
    _expire_checkouts(row["id"])
    return redirect(url_for("customer.invoice_page", token=token, raised=1,
                            _anchor="dispute"), 303)


@bp.post("/i/<token>/dispute/<id:dispute_id>/message")
@token_lookup
@dispute_limit
def dispute_message(token: str, dispute_id: int):
    """Add a message (and files) to a dispute of this invoice."""
    row = resolved_link("invoice", token)
    text, files = request.form.get("message", ""), _uploads()
    try:
        _save(lambda s, store, written: raising.add_message(s, dispute_id, row["id"], text,
                                                             files, store, written))
    except LookupError:
        abort(404)
    except raising.DisputeError as exc:
        return _again(token, exc, "thread")
    return redirect(url_for("customer.invoice_page", token=token, sent=1,
                            _anchor="dispute"), 303)


def _expire_checkouts(invoice_id: int) -> None:
    """A Checkout opened before the dispute would still take the disputed part: expire it
    (the next press of Pay opens one for the undisputed rest). Best effort: one that is paid
    anyway lands as money on the invoice, and a later credit finds the overpayment."""
    gateway = current_app.extensions.get("portal.stripe")
    found = checkout.open_sessions(database.session(), invoice_id) if gateway else []
    try:
        checkout.expire_superseded(database.db().writer, gateway, found)
    except StripeError:
        current_app.logger.warning("could not expire the Checkout of a disputed invoice")


def _again(token: str, exc: raising.DisputeError, form: str):
    view = resolved_link("invoice", token, view=True)
    return render_page(token, view, 422, dispute_error=str(exc), dispute_fields=exc.fields,
                       dispute_form=form, dispute_typed=request.form)


@bp.get("/i/<token>/credit-notes/<id:note_id>/pdf")
@token_lookup
def credit_note_pdf(token: str, note_id: int):
    """A credit note issued against this invoice, as a PDF."""
    row = resolved_link("invoice", token)
    session = database.session()
    note = session.scalar(select(CreditNote).where(CreditNote.id == note_id,
                                                   CreditNote.invoice_id == row["id"]))
    if note is None:
        abort(404)
    return credit_note_response(session, note)
