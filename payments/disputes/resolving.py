"""What staff do with a dispute: reply to the customer, keep internal notes, take it under
review, and resolve it with a **credit note**, an **adjustment** (a new amount due and/or due
date) or a **rejection** (with a reason and a new due date).

Each action locks the dispute, then its invoice (so a payment landing meanwhile is waited
for and then counted), refuses a dispute already resolved (a double submit writes nothing),
changes what is owed only through the ledger, and is audited in the same transaction. The
caller queues the customer's email in that transaction too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.disputes.models import ACTIVE, CreditNote, Dispute, DisputeMessage, DisputeNote
from payments.disputes.raising import MAX_MESSAGE, DisputeError, open_amount, repeated
from payments.invoicing.amounts import AmountError, parse_amount
from payments.invoicing.models import Invoice
from payments.ledger import ledger
from payments.money import format_money
from payments.staff import audit


class NotFound(LookupError):
    """No such dispute."""


@dataclass(frozen=True)
class Resolution:
    """A resolved dispute, its invoice after the change, and the credit note if one."""

    dispute: Dispute
    invoice: Invoice
    credit_note: CreditNote | None = None


def _lock(session: Session, dispute_id: int, active: bool = True) -> tuple[Dispute, Invoice]:
    dispute = session.get(Dispute, dispute_id, with_for_update=True)
    if dispute is None:
        raise NotFound(dispute_id)
    if active and not dispute.active:
        raise DisputeError(f"This dispute was already resolved ({dispute.outcome}).")
    ledger.lock_invoices(session, {dispute.invoice_id})
    invoice = session.get(Invoice, dispute.invoice_id, populate_existing=True)
    if active and invoice.voided_at is not None:
        raise DisputeError("The invoice was voided: nothing is owed on it.")
    return dispute, invoice


def _within(dispute: Dispute, reduction: int, invoice: Invoice, beyond: bool) -> None:
    """A clerk takes off at most the amount in dispute (more is an admin's decision, as the
    exceptions queue caps write-offs)."""
    if reduction > dispute.amount and not beyond:
        message = (f"At most the {format_money(dispute.amount, invoice.currency)} in dispute "
                   "can be taken off by a clerk; ask an admin for more")
        raise DisputeError(message, {"amount": message})


def _text(text: str, what: str, field: str) -> str:
    body = (text or "").strip()
    if not body:
        raise DisputeError(f"Write {what}", {field: f"Write {what}"})
    if len(body) > MAX_MESSAGE:
        raise DisputeError(f"Keep it under {MAX_MESSAGE} characters",
                           {field: f"Keep it under {MAX_MESSAGE} characters"})
    return body


def _optional(text: str | None) -> str:
    body = (text or "").strip()
    if len(body) > MAX_MESSAGE:
        raise DisputeError(f"Keep it under {MAX_MESSAGE} characters",
                           {"note": f"Keep it under {MAX_MESSAGE} characters"})
    return body


def _state(dispute: Dispute) -> dict:
    return {"status": dispute.status, "outcome": dispute.outcome, "amount": dispute.amount}


def reply(session: Session, actor: audit.Actor, dispute_id: int, text: str) -> DisputeMessage:
    """A reply the customer sees (and is emailed); an open dispute is now under review."""
    dispute, _invoice = _lock(session, dispute_id)
    body = _text(text, "a reply", "body")
    if (again := repeated(session, dispute.id, True, body)) is not None:
        return again  # a double submit: the reply (and its email) exist once
    before = _state(dispute)
    dispute.status = "under_review"
    message = DisputeMessage(dispute_id=dispute.id, from_staff=True, author=actor.label,
                             body=body)
    session.add(message)
    session.flush()
    audit.record(session, actor, "dispute.reply", ("dispute", dispute.id), before,
                 {**_state(dispute), "message_id": message.id})
    return message


def note(session: Session, actor: audit.Actor, dispute_id: int, text: str) -> DisputeNote:
    """An internal note (staff only), on any dispute, resolved or not."""
    dispute, _invoice = _lock(session, dispute_id, active=False)
    entry = DisputeNote(dispute_id=dispute.id, author=actor.label,
                        body=_text(text, "a note", "note"))
    session.add(entry)
    session.flush()
    audit.record(session, actor, "dispute.note", ("dispute", dispute.id), None,
                 {"note_id": entry.id})
    return entry


def review(session: Session, actor: audit.Actor, dispute_id: int) -> Dispute:
    """Mark an open dispute as under review (the customer sees that someone is on it)."""
    dispute, _invoice = _lock(session, dispute_id)
    before = _state(dispute)
    dispute.status = "under_review"
    audit.record(session, actor, "dispute.review", ("dispute", dispute.id), before,
                 _state(dispute))
    return dispute


def _money(invoice: Invoice, typed: str, field: str) -> int:
    try:
        amount = parse_amount(typed, invoice.currency)
    except AmountError as exc:
        raise DisputeError(str(exc), {field: str(exc)}) from None
    return amount


def _due(invoice: Invoice, typed: str, today: date) -> date | None:
    if not (typed or "").strip():
        return None
    try:
        day = date.fromisoformat(typed.strip())
    except ValueError:
        raise DisputeError("Enter the due date as YYYY-MM-DD",
                           {"due_date": "Enter the due date as YYYY-MM-DD"}) from None
    if day < today or day < invoice.issue_date:
        raise DisputeError("The new due date cannot be in the past",
                           {"due_date": "The new due date cannot be in the past"})
    return day


def _resolve(session: Session, actor: audit.Actor, dispute: Dispute, invoice: Invoice,
             outcome: str, words: str, new_due: date | None) -> dict:
    before = {**_state(dispute), "due_date": invoice.due_date.isoformat(),
              "amount_due": invoice.amount_due}
    if new_due is not None and new_due != invoice.due_date:
        invoice.due_date = new_due
        invoice.revision += 1
    dispute.status, dispute.outcome, dispute.outcome_note = "resolved", outcome, words or None
    dispute.new_due_date = new_due
    dispute.resolved_at, dispute.resolved_by = utcnow(), actor.label
    return before


def _after(dispute: Dispute, invoice: Invoice, **extra) -> dict:
    return {**_state(dispute), "due_date": invoice.due_date.isoformat(),
            "amount_due": invoice.amount_due, **extra}


def reject(session: Session, actor: audit.Actor, dispute_id: int, reason: str,
           new_due: str, today: date) -> Resolution:
    """Turn the dispute down with a reason the customer reads; the whole amount is owed
    again, by the new due date when one is given."""
    dispute, invoice = _lock(session, dispute_id)
    words = _text(reason, "the reason the customer will read", "reason")
    before = _resolve(session, actor, dispute, invoice, "rejected", words,
                      _due(invoice, new_due, today))
    audit.record(session, actor, "dispute.reject", ("dispute", dispute.id), before,
                 _after(dispute, invoice))
    return Resolution(dispute, invoice)


def adjust(session: Session, actor: audit.Actor, dispute_id: int, new_amount: str,
           new_due: str, words: str, today: date, beyond: bool = False) -> Resolution:
    """Settle on a new amount due (an ``adjustment`` ledger entry for the difference) and/or
    a new due date; ``beyond`` lets the reduction exceed the amount in dispute (admins)."""
    dispute, invoice = _lock(session, dispute_id)
    words = _optional(words)
    due_now = invoice.total - invoice.amount_paid
    target = due_now if not (new_amount or "").strip() else _money(invoice, new_amount,
                                                                   "amount_due")
    day = _due(invoice, new_due, today)
    if target > due_now or target < invoice.amount_pending:
        low = format_money(invoice.amount_pending, invoice.currency)
        high = format_money(due_now, invoice.currency)
        message = f"The new amount due must be between {low} and {high}"
        raise DisputeError(message, {"amount_due": message})
    if target == due_now and day in (None, invoice.due_date):
        raise DisputeError("Change the amount due, the due date, or both",
                           {"amount_due": "Change the amount due, the due date, or both"})
    before = _resolve(session, actor, dispute, invoice, "adjusted", words, day)
    _within(dispute, due_now - target, invoice, beyond)
    if target < due_now:
        ledger.write_off(session, invoice.id, due_now - target, f"dispute:{dispute.id}:adjusted",
                         f"dispute #{dispute.id} adjusted by {actor.label}")
    dispute.new_amount_due = target if target < due_now else None
    audit.record(session, actor, "dispute.adjust", ("dispute", dispute.id), before,
                 _after(dispute, invoice))
    return Resolution(dispute, invoice)


def credit(session: Session, actor: audit.Actor, dispute_id: int, positions: tuple[int, ...],
           amount: str, words: str, beyond: bool = False) -> Resolution:
    """Issue a numbered credit note: ``amount`` (empty: the chosen disputed lines, or the
    whole amount in dispute) less owed on the invoice, at most what is open (and, unless
    ``beyond``, at most the amount in dispute)."""
    dispute, invoice = _lock(session, dispute_id)
    words = _optional(words)
    lines = {line.position: line for line in dispute.lines}
    if any(p not in lines for p in positions):
        raise DisputeError("Choose lines of this dispute", {"lines": "Choose lines of this "
                                                                      "dispute"})
    chosen = [lines[p] for p in sorted(set(positions))]
    value = (_money(invoice, amount, "amount") if (amount or "").strip()
             else sum(line.amount for line in chosen) if chosen else dispute.amount)
    most = open_amount(invoice)
    if not 0 < value <= most:
        message = (f"A credit must be more than nothing and at most the "
                   f"{format_money(most, invoice.currency)} still open")
        raise DisputeError(message, {"amount": message})
    _within(dispute, value, invoice, beyond)
    note = CreditNote(number=f"pending-{dispute.id}", invoice_id=invoice.id,
                      customer_id=invoice.customer_id, dispute_id=dispute.id,
                      currency=invoice.currency, amount=value, created_by=actor.label,
                      invoice_due_after=invoice.total - invoice.amount_paid - value,
                      reason=words or f"Dispute #{dispute.id}",
                      lines=[{"description": line.description, "amount": line.amount}
                             for line in chosen])
    session.add(note)
    session.flush()
    note.number = f"CN-{note.id:06d}"  # numbered by its row: unique and never reused
    before = _resolve(session, actor, dispute, invoice, "credited", words, None)
    ledger.credit(session, invoice.id, value, f"creditnote:{note.id}",
                  f"credit note {note.number} for dispute #{dispute.id}")
    audit.record(session, actor, "dispute.credit", ("dispute", dispute.id), before,
                 _after(dispute, invoice, credit_note=note.number, credited=value))
    return Resolution(dispute, invoice, note)


def close_on_void(session: Session, actor: audit.Actor, invoice_id: int) -> Dispute | None:
    """The invoice was voided (the ERP cancelled it): its active dispute is resolved as
    ``voided``, audited; the caller tells the customer. None when there was none."""
    dispute = session.scalar(select(Dispute).where(Dispute.invoice_id == invoice_id,
                                                   Dispute.status.in_(ACTIVE))
                             .with_for_update())
    if dispute is None:
        return None
    invoice = session.get(Invoice, invoice_id)
    before = _resolve(session, actor, dispute, invoice, "voided", "", None)
    audit.record(session, actor, "dispute.voided", ("dispute", dispute.id), before,
                 _after(dispute, invoice))
    return dispute
