"""The customer's emails about a dispute: that it was received, each staff reply, and the
outcome. Queued in the outbox in the transaction that calls for it (keys
``dispute-received:<dispute>``, ``dispute-reply:<message>``, ``dispute-outcome:<dispute>``:
one message each), carrying a live link to the invoice page where the thread is."""

from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy.orm import Session

from payments.collections.compose import live_link
from payments.disputes.models import REASONS, CreditNote, Dispute, DisputeMessage
from payments.invoicing.models import Invoice
from payments.money import format_money
from payments.outbox import outbox

OUTCOME_WORDS = {
    "credited": "We agree, and have issued credit note {credit_note} for {credited}.",
    "adjusted": "We have changed what is owed on the invoice.",
    "rejected": "We have reviewed it and cannot accept the dispute, for this reason:",
    "voided": "We have cancelled the invoice.",
}


def _money(invoice: Invoice, amount: int) -> str:
    return format_money(amount, invoice.currency, current_app.config["PORTAL_LOCALE"])


def _subject(invoice: Invoice, what: str) -> str:
    # The number comes from the ERP: a line break in it must not reach a mail header.
    return f"{what} invoice {' '.join(invoice.number.split())}"


def _queue(session: Session, key: str, invoice: Invoice, subject: str, template: str,
           **context) -> int | None:
    to = invoice.customer.email
    if not to:
        return None  # the invoice page shows everything; there is no address to tell
    link = live_link(session, current_app.extensions["portal.links"], invoice_id=invoice.id)
    body = render_template(template, customer=invoice.customer.name, number=invoice.number,
                           url=outbox.LINK, business=current_app.config["PORTAL_BUSINESS_NAME"],
                           **context)
    return outbox.queue(session, outbox.Draft(key=key, kind="dispute", to=to, subject=subject,
                                              body=body, link_id=link.id))


def queue_received(session: Session, invoice: Invoice, dispute: Dispute) -> int | None:
    """Confirm to the customer that its dispute arrived (None: no address on file)."""
    return _queue(session, f"dispute-received:{dispute.id}", invoice,
                  _subject(invoice, "We received your dispute on"),
                  "email/dispute_received.txt", reason=REASONS[dispute.reason].lower(),
                  disputed=_money(invoice, dispute.amount))


def queue_reply(session: Session, invoice: Invoice, message: DisputeMessage) -> int | None:
    """Email the customer a staff reply; the outbox row's id (None: no address on file)."""
    return _queue(session, f"dispute-reply:{message.id}", invoice,
                  _subject(invoice, "A reply about your dispute on"), "email/dispute_reply.txt",
                  author_line=current_app.config["PORTAL_BUSINESS_NAME"], body=message.body)


def queue_outcome(session: Session, invoice: Invoice, dispute: Dispute,
                  note: CreditNote | None) -> int | None:
    """Email the customer how the dispute was resolved and what is owed now."""
    words = OUTCOME_WORDS[dispute.outcome].format(
        credit_note=note.number if note else "",
        credited=_money(invoice, note.amount) if note else "")
    return _queue(session, f"dispute-outcome:{dispute.id}", invoice,
                  _subject(invoice, "Your dispute on"), "email/dispute_outcome.txt",
                  disputed=_money(invoice, dispute.amount), outcome_words=words,
                  note=dispute.outcome_note, amount_due=_money(invoice, invoice.amount_due)
                  if invoice.amount_due else None, due_date=invoice.due_date.isoformat(),
                  credit_note=note.number if note else None)
