"""What the pages show of disputes: the amounts in dispute (pay rules, statement, reminders),
an invoice's disputes for its customer, the staff queue and one dispute in full.

The customer's view reads ``dispute_messages`` and its attachments' rows (the page shows their
names only; the files themselves are served to staff alone); internal notes
(``dispute_notes``) are never loaded for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from payments.clock import utcnow
from payments.db import among
from payments.disputes.models import (
    ACTIVE,
    CreditNote,
    Dispute,
    DisputeAttachment,
    DisputeMessage,
    DisputeNote,
)
from payments.invoicing.models import Customer, Invoice
from payments.ledger.models import LedgerEntry
from payments.ledger.states import LedgerKind
from payments.paging import Page, keyset

QUEUE_FILTERS = ("active", "open", "under_review", "resolved", "all")


def active_amounts(session: Session, invoice_ids: Iterable[int]) -> dict[int, int]:
    """Invoice id → amount in an unresolved dispute (invoices without one are left out)."""
    ids = list(invoice_ids)
    if not ids:
        return {}
    return dict(session.execute(select(Dispute.invoice_id, Dispute.amount).where(
        among(session, Dispute.invoice_id, ids), Dispute.status.in_(ACTIVE))).all())


@dataclass
class Thread:
    """One dispute as the customer (or staff) follows it."""

    dispute: Dispute
    messages: list[DisputeMessage]
    files: dict[int, list[DisputeAttachment]]  # by message id
    credit_note: CreditNote | None
    notes: list[DisputeNote] = field(default_factory=list)  # staff only


def _threads(session: Session, disputes: list[Dispute], with_notes: bool) -> list[Thread]:
    ids = [d.id for d in disputes]
    if not ids:
        return []
    messages, files, notes = defaultdict(list), defaultdict(list), defaultdict(list)
    for m in session.scalars(select(DisputeMessage).where(DisputeMessage.dispute_id.in_(ids))
                             .order_by(DisputeMessage.id)):
        messages[m.dispute_id].append(m)
    for a in session.scalars(select(DisputeAttachment)
                             .where(DisputeAttachment.dispute_id.in_(ids))
                             .order_by(DisputeAttachment.id)):
        files[a.message_id].append(a)
    if with_notes:
        for n in session.scalars(select(DisputeNote).where(DisputeNote.dispute_id.in_(ids))
                                 .order_by(DisputeNote.id)):
            notes[n.dispute_id].append(n)
    credits = {c.dispute_id: c for c in session.scalars(
        select(CreditNote).where(CreditNote.dispute_id.in_(ids)))}
    return [Thread(d, messages[d.id], files, credits.get(d.id), notes[d.id])
            for d in disputes]


def for_invoice(session: Session, invoice_id: int, with_notes: bool = False) -> list[Thread]:
    """The invoice's disputes, newest first, with their threads (notes only for staff)."""
    disputes = list(session.scalars(select(Dispute).where(Dispute.invoice_id == invoice_id)
                                    .order_by(Dispute.id.desc())))
    return _threads(session, disputes, with_notes)


def credited(session: Session, invoice_id: int) -> int:
    """What credit notes and adjustments took off the invoice: part of its ``amount_paid``
    that no one paid (the pages show it apart from the money)."""
    return credited_many(session, [invoice_id]).get(invoice_id, 0)


def credited_many(session: Session, invoice_ids: Iterable[int]) -> dict[int, int]:
    """:func:`credited` of several invoices in one query (those with none are left out)."""
    ids = list(invoice_ids)
    if not ids:
        return {}
    return {invoice_id: int(total) for invoice_id, total in session.execute(
        select(LedgerEntry.invoice_id, func.sum(LedgerEntry.paid_delta))
        .where(among(session, LedgerEntry.invoice_id, ids),
               LedgerEntry.kind.in_((LedgerKind.CREDIT_NOTE, LedgerKind.ADJUSTMENT)))
        .group_by(LedgerEntry.invoice_id)) if total}


def credit_notes(session: Session, invoice_id: int) -> list[CreditNote]:
    """The invoice's credit notes, oldest first."""
    return list(session.scalars(select(CreditNote).where(CreditNote.invoice_id == invoice_id)
                                .order_by(CreditNote.id)))


@dataclass(frozen=True)
class QueueRow:
    """A dispute in the staff queue, with what the queue shows about it."""

    dispute: Dispute
    invoice_number: str
    customer_id: int
    customer_name: str
    age_days: int
    messages: int


def queue(session: Session, which: str = "active", cursor: int | None = None,
          limit: int = 50, now: datetime | None = None) -> Page[QueueRow]:
    """Disputes oldest first (the longest waiting on top), filtered by ``which``."""
    query = select(Dispute)
    if which == "active":
        query = query.where(Dispute.status.in_(ACTIVE))
    elif which in ("open", "under_review", "resolved"):
        query = query.where(Dispute.status == which)
    page = keyset(session, query, Dispute.id, cursor, limit)
    ids = [d.id for d in page.rows]
    names = dict(session.execute(select(Invoice.id, Invoice.number).where(
        Invoice.id.in_({d.invoice_id for d in page.rows}))).all()) if ids else {}
    people = dict(session.execute(select(Customer.id, Customer.name).where(
        Customer.id.in_({d.customer_id for d in page.rows}))).all()) if ids else {}
    counts = dict(session.execute(
        select(DisputeMessage.dispute_id, func.count()).where(
            DisputeMessage.dispute_id.in_(ids)).group_by(DisputeMessage.dispute_id)
    ).all()) if ids else {}
    now = now or utcnow()
    rows = [QueueRow(d, names[d.invoice_id], d.customer_id, people[d.customer_id],
                     (now - d.created_at).days, counts.get(d.id, 0)) for d in page.rows]
    return Page(rows, page.next_cursor)


def count_active(session: Session) -> int:
    """How many disputes wait for staff (open or under review)."""
    return session.scalar(select(func.count()).select_from(Dispute)
                          .where(Dispute.status.in_(ACTIVE))) or 0


def detail(session: Session, dispute_id: int) -> Thread | None:
    """One dispute with its whole thread, files and internal notes (staff)."""
    dispute = session.get(Dispute, dispute_id)
    return None if dispute is None else _threads(session, [dispute], with_notes=True)[0]


def attachment(session: Session, dispute_id: int, attachment_id: int
               ) -> DisputeAttachment | None:
    """An attachment of this dispute (an id of another dispute's file is not found)."""
    found = session.get(DisputeAttachment, attachment_id)
    return found if found is not None and found.dispute_id == dispute_id else None
