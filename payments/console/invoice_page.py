"""The console's invoice page: the invoice, its ledger, the payments that touched it, the
Stripe events of those payments, its exceptions, its pay link and the customer's latest notes.

Every lookup goes through an index from the invoice's id (ledger by invoice, allocations by
invoice, payments by attempt, events by ``payment_ref``), so the page costs the same with one
invoice or a million; lists that could grow without bound are capped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, or_, select, union
from sqlalchemy.orm import Session, selectinload

from payments.checkout.models import Allocation, PaymentAttempt
from payments.confirmations import queue
from payments.console import notes
from payments.events.models import StripeEvent
from payments.invoicing.models import Invoice
from payments.invoicing.status import status_of
from payments.ledger.models import LedgerEntry, Payment, ReconciliationException
from payments.links import admin, tokens

MAX_PAYMENTS = 100
MAX_EVENTS = 200
RECENT_NOTES = 3


@dataclass(frozen=True)
class PaymentRow:
    """A payment that touched the invoice: ``allocated`` is what its attempt (or staff) put on
    this invoice (None when it no longer does), ``net`` what it pays on it now."""

    payment: Payment
    allocated: int | None
    net: int
    match_detail: str
    open_exceptions: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class TimelineEvent:
    """A stored Stripe event of one of the invoice's payments or checkout sessions."""

    id: str
    type: str
    created: datetime
    source: str
    object_id: str | None
    object_status: str | None


@dataclass
class InvoiceDetail:
    """Everything the invoice page shows."""

    invoice: Invoice
    status: str
    days_overdue: int
    ledger: Sequence[LedgerEntry]
    payments: list[PaymentRow]
    timeline: list[TimelineEvent]
    timeline_truncated: bool
    exceptions: Sequence[ReconciliationException]
    link: admin.LinkInfo
    notes: Sequence[notes.CustomerNote]


def load(session: Session, invoice_id: int, key: tokens.LinkKey,
         today: date) -> InvoiceDetail | None:
    """The invoice page's content, or None when there is no such invoice."""
    invoice = session.scalar(select(Invoice).where(Invoice.id == invoice_id)
                             .options(selectinload(Invoice.lines),
                                      selectinload(Invoice.customer)))
    if invoice is None:
        return None
    status, days = status_of(total=invoice.total, amount_paid=invoice.amount_paid,
                             voided=invoice.voided_at is not None, due_date=invoice.due_date,
                             today=today)
    ledger = session.scalars(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice_id)
                             .order_by(LedgerEntry.id)).all()
    payments = _payments(session, invoice_id)
    timeline, truncated = _timeline(session, invoice_id, [p.payment for p in payments])
    return InvoiceDetail(
        invoice, status, days, ledger, payments, timeline, truncated,
        _exceptions(session, invoice_id, [p.payment.id for p in payments]),
        admin.info(session, key, admin.Target("invoice", invoice_id)),
        notes.page(session, invoice.customer_id, limit=RECENT_NOTES).notes)


def _payments(session: Session, invoice_id: int) -> list[PaymentRow]:
    """Payments with ledger entries on the invoice (theirs or staff moves of their money),
    and payments of attempts that allocated to it (pending, failed, not yet applied)."""
    ids = union(
        select(func.coalesce(LedgerEntry.payment_id, LedgerEntry.staff_payment_id))
        .where(LedgerEntry.invoice_id == invoice_id),
        select(Payment.id).join(Allocation, Allocation.attempt_id == Payment.attempt_id)
        .where(Allocation.invoice_id == invoice_id),
    ).subquery()
    found = session.scalars(select(Payment).where(Payment.id.in_(select(ids)))
                            .order_by(Payment.id).limit(MAX_PAYMENTS)).all()
    rows = []
    for described in queue.describe(session, found):
        line = next((x for x in described.lines if x.invoice_id == invoice_id), None)
        rows.append(PaymentRow(described.payment, line.amount if line else None,
                               line.net if line else _net(session, described.payment.id,
                                                          invoice_id),
                               described.match_detail, described.open_exceptions))
    return rows


def _net(session: Session, payment_id: int, invoice_id: int) -> int:
    # A payment staff moved off this invoice: what its entries here add up to (usually 0).
    return int(session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.paid_delta), 0))
        .where(LedgerEntry.invoice_id == invoice_id,
               or_(LedgerEntry.payment_id == payment_id,
                   LedgerEntry.staff_payment_id == payment_id))) or 0)


def _timeline(session: Session, invoice_id: int,
              payments: list[Payment]) -> tuple[list[TimelineEvent], bool]:
    """Stored events filed under the invoice's PaymentIntents and Checkout Sessions (the
    indexed ``payment_ref``), oldest first; the newest :data:`MAX_EVENTS` when there are more."""
    refs = {p.payment_intent_id for p in payments}
    for intent, checkout in session.execute(
            select(PaymentAttempt.payment_intent_id, PaymentAttempt.checkout_session_id)
            .join(Allocation, Allocation.attempt_id == PaymentAttempt.id)
            .where(Allocation.invoice_id == invoice_id)):
        refs.update(r for r in (intent, checkout) if r)
    if not refs:
        return [], False
    rows = session.execute(
        select(StripeEvent.id, StripeEvent.type, StripeEvent.created, StripeEvent.source,
               StripeEvent.payload)
        .where(StripeEvent.payment_ref.in_(sorted(refs)))
        .order_by(StripeEvent.created.desc(), StripeEvent.id.desc())
        .limit(MAX_EVENTS + 1)).all()
    events = [_event(*row) for row in rows[:MAX_EVENTS]]
    return events[::-1], len(rows) > MAX_EVENTS


def _event(event_id: str, kind: str, created: int, source: str, payload: str) -> TimelineEvent:
    obj: Any = (json.loads(payload).get("data") or {}).get("object")
    obj = obj if isinstance(obj, dict) else {}
    status = obj.get("status")
    return TimelineEvent(event_id, kind, datetime.fromtimestamp(created, UTC), source,
                         obj.get("id") if isinstance(obj.get("id"), str) else None,
                         status if isinstance(status, str) else None)


def _exceptions(session: Session, invoice_id: int,
                payment_ids: list[int]) -> Sequence[ReconciliationException]:
    about = ReconciliationException.invoice_id == invoice_id
    if payment_ids:
        about = or_(about, ReconciliationException.payment_id.in_(payment_ids))
    return session.scalars(select(ReconciliationException).where(about)
                           .order_by(ReconciliationException.id)).all()
