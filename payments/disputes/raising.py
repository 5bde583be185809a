"""What the customer does: raise a dispute on (lines of) its invoice, and write to its thread.

Everything is checked before anything is written: an amount over what is open, no reason, a
file refused, an invoice paid or void, or one already in dispute is a :class:`DisputeError`
with a message per field, and the caller's transaction writes nothing. Files are written only
after every check passed; the caller removes them (``written``) if the transaction fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.disputes.attachments import AttachmentError, AttachmentStore, Upload, check
from payments.disputes.models import (
    ACTIVE,
    REASONS,
    Dispute,
    DisputeAttachment,
    DisputeLine,
    DisputeMessage,
)
from payments.invoicing.amounts import AmountError, parse_amount
from payments.invoicing.models import Invoice
from payments.money import exponent, format_money

MAX_MESSAGE = 4000
REPEAT_WINDOW = timedelta(minutes=10)


class DisputeError(ValueError):
    """Input refused; ``fields`` has a message per form field (the message says it all)."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


@dataclass(frozen=True)
class Raise:
    """The customer's form: a reason, the lines (none: the whole invoice), the amount as
    typed (empty: the chosen lines, or everything open), a message and files."""

    reason: str
    positions: tuple[int, ...] = ()
    amount: str = ""
    message: str = ""
    files: tuple[Upload, ...] = field(default_factory=tuple)


def open_amount(invoice: Invoice) -> int:
    """What may be disputed: due minus money already on its way."""
    return invoice.total - invoice.amount_paid - invoice.amount_pending


def active_dispute(session: Session, invoice_id: int) -> Dispute | None:
    """The invoice's dispute that staff have not resolved yet, if any."""
    return session.scalar(select(Dispute).where(Dispute.invoice_id == invoice_id,
                                                Dispute.status.in_(ACTIVE)))


def raise_dispute(session: Session, invoice_id: int, form: Raise, store: AttachmentStore,
                  written: list[str]) -> Dispute:
    """Record the customer's dispute with its first message and files (the invoice is locked
    first, so two tabs raise one dispute: the second is told about the first)."""
    invoice = session.get(Invoice, invoice_id, with_for_update=True)
    _disputable(session, invoice)
    lines = {line.position: line for line in invoice.lines}
    chosen = sorted(set(form.positions))
    errors: dict[str, str] = {}
    if form.reason not in REASONS:
        errors["reason"] = "Choose what is wrong"
    if any(p not in lines for p in chosen):
        errors["lines"] = "Choose lines of this invoice"
    message = _message(form.message, required=form.reason == "other", errors=errors)
    amount = _amount(invoice, form.amount, sum(lines[p].amount for p in chosen
                                               if p in lines), errors)
    checked = _files(form.files, errors)
    if errors:
        raise DisputeError(next(iter(errors.values())), errors)
    dispute = Dispute(invoice_id=invoice.id, customer_id=invoice.customer_id, amount=amount,
                      currency=invoice.currency, reason=form.reason, status="open",
                      lines=[DisputeLine(position=p, description=lines[p].description,
                                         amount=lines[p].amount) for p in chosen])
    session.add(dispute)
    session.flush()
    _post(session, dispute, message or REASONS[form.reason], checked, store, written)
    return dispute


def add_message(session: Session, dispute_id: int, invoice_id: int, text: str,
                files: tuple[Upload, ...], store: AttachmentStore,
                written: list[str]) -> DisputeMessage:
    """The customer writes to the thread of a dispute of *its* invoice (``invoice_id`` comes
    from the link: another invoice's dispute is not found). Not once it is resolved."""
    dispute = session.get(Dispute, dispute_id, with_for_update=True)
    if dispute is None or dispute.invoice_id != invoice_id:
        raise LookupError(dispute_id)
    if not dispute.active:
        raise DisputeError("This dispute is resolved. If something is still wrong, raise a "
                           "new one.")
    errors: dict[str, str] = {}
    body = _message(text, required=True, errors=errors)
    checked = _files(files, errors)
    if errors:
        raise DisputeError(next(iter(errors.values())), errors)
    if not checked and (again := repeated(session, dispute.id, False, body)) is not None:
        return again
    return _post(session, dispute, body, checked, store, written)


def repeated(session: Session, dispute_id: int, from_staff: bool,
             body: str) -> DisputeMessage | None:
    """The thread's last message when it is this very one, sent again within
    :data:`REPEAT_WINDOW` (a double click, a reload that re-posts): post it once."""
    last = session.scalar(select(DisputeMessage).where(DisputeMessage.dispute_id == dispute_id)
                          .order_by(DisputeMessage.id.desc()).limit(1))
    if (last is not None and last.from_staff == from_staff and last.body == body
            and utcnow() - last.created_at < REPEAT_WINDOW):
        return last
    return None


def _disputable(session: Session, invoice: Invoice | None) -> None:
    if invoice is None:
        raise LookupError("invoice")
    if invoice.voided_at is not None:
        raise DisputeError("This invoice is void: nothing is owed on it.")
    if invoice.amount_paid >= invoice.total:
        raise DisputeError("This invoice is paid in full. Please contact us about a refund.")
    if open_amount(invoice) <= 0:
        raise DisputeError("Everything on this invoice is already on its way (a payment is "
                           "clearing).")
    if active_dispute(session, invoice.id) is not None:
        raise DisputeError("This invoice is already in dispute: add to that conversation "
                           "below.")


def _message(text: str, required: bool, errors: dict[str, str]) -> str:
    body = (text or "").strip()
    if required and not body:
        errors["message"] = "Tell us what is wrong"
    elif len(body) > MAX_MESSAGE:
        errors["message"] = f"Keep the message under {MAX_MESSAGE} characters"
    return body


def _amount(invoice: Invoice, typed: str, lines_total: int, errors: dict[str, str]) -> int:
    open_now = open_amount(invoice)
    # Stripe takes three-decimal currencies in whole hundredths: the rest must stay payable.
    step = 10 if exponent(invoice.currency) == 3 else 1
    if not (typed or "").strip():
        default = min(lines_total, open_now) if lines_total else open_now
        return max(default - default % step, step) if default != open_now else default
    try:
        amount = parse_amount(typed, invoice.currency)
    except AmountError as exc:
        errors["amount"] = str(exc)
        return 0
    if amount <= 0:
        errors["amount"] = "Enter an amount greater than zero"
    elif amount > open_now:
        errors["amount"] = (f"The amount in dispute cannot be more than the "
                            f"{format_money(open_now, invoice.currency)} still open")
    elif amount % step and amount != open_now:
        errors["amount"] = f"{invoice.currency} amounts in dispute must end in 0"
    return amount


def _files(files: tuple[Upload, ...], errors: dict[str, str]):
    try:
        return check(files)
    except AttachmentError as exc:
        errors["files"] = str(exc)
        return []


def _post(session: Session, dispute: Dispute, body: str, checked, store: AttachmentStore,
          written: list[str]) -> DisputeMessage:
    message = DisputeMessage(dispute_id=dispute.id, from_staff=False, body=body)
    session.add(message)
    session.flush()
    for upload in checked:
        stored = store.save(upload.data)
        written.append(stored)
        session.add(DisputeAttachment(dispute_id=dispute.id, message_id=message.id,
                                      filename=upload.filename, size=len(upload.data),
                                      content_type=upload.content_type, sha256=upload.sha256,
                                      stored_name=stored))
    session.flush()
    return message
