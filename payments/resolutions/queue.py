"""What the exceptions queue shows: exceptions a page at a time, and one exception with all a
clerk needs to decide what to do: its payment and where that money sits, the invoices involved,
suggested matches, how much is left to move, and the actions that fit it.

Read-only, and lock-free (pages must never hold row locks): the actions in
:mod:`payments.resolutions` lock and check everything again, so a figure that changed since the
page loaded is refused there with a message, never acted on here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from payments.confirmations import queue
from payments.invoicing.models import Invoice
from payments.ledger.models import EXCEPTION_KINDS, Payment, ReconciliationException
from payments.paging import keyset
from payments.resolutions.core import FITS, MONEY_KINDS, nets, unapplied

STATUSES = ("open", "resolved", "all")
FOLLOW_LIMIT = 20  # follow-up chains are short; a bound keeps a bad row from looping
SUGGESTION_LIMIT = 8


@dataclass(frozen=True)
class ExceptionPage:
    """A page of exceptions with their invoices and payments (loaded once for the page)."""

    items: Sequence[ReconciliationException]
    next_cursor: int | None
    invoices: dict[int, Invoice]
    payments: dict[int, Payment]


def page(session: Session, status: str = "open", kind: str | None = None,
         cursor: int | None = None, limit: int = 50) -> ExceptionPage:
    """Open exceptions oldest first (a work queue); resolved or all, newest first (history).

    Keyset pagination on id: ``cursor`` is the last id of the previous page.
    """
    oldest_first = status == "open"
    query = select(ReconciliationException)
    if status == "open":
        query = query.where(ReconciliationException.resolved_at.is_(None))
    elif status == "resolved":
        query = query.where(ReconciliationException.resolved_at.is_not(None))
    if kind in EXCEPTION_KINDS:
        query = query.where(ReconciliationException.kind == kind)
    found = keyset(session, query, ReconciliationException.id, cursor, limit,
                   newest_first=not oldest_first)
    rows = found.rows
    invoice_ids = {e.invoice_id for e in rows if e.invoice_id}
    payment_ids = {e.payment_id for e in rows if e.payment_id}
    invoices = {i.id: i for i in session.scalars(select(Invoice).where(
        Invoice.id.in_(invoice_ids)))} if invoice_ids else {}
    payments = {p.id: p for p in session.scalars(select(Payment).where(
        Payment.id.in_(payment_ids)))} if payment_ids else {}
    return ExceptionPage(rows, found.next_cursor, invoices, payments)


@dataclass(frozen=True)
class Suggestion:
    """An open invoice the money could go to, and what it still owes now."""

    invoice: Invoice
    owed: int
    score: int | None  # reconciliation's score for an unmatched payment; None: same customer


@dataclass(frozen=True)
class Detail:
    """One exception, as its page shows it."""

    exception: ReconciliationException
    details: dict[str, Any]
    resolution: dict[str, Any] | None
    payment: Payment | None
    described: queue.Described | None
    invoice: Invoice | None
    suggestions: list[Suggestion]
    available: int  # money left to apply, refund or keep as credit
    write_off_room: int  # the difference a write-off may still take
    actions: tuple[str, ...]  # what can be done now, in FITS order
    follow_ups: list[ReconciliationException]

    @property
    def currency(self) -> str:
        """The currency of the exception's money (reconciliation always records one; the
        payment's, or USD, only guard a row written by hand)."""
        return self.exception.currency or (self.payment.currency if self.payment else "USD")

    @property
    def refund_in_progress(self) -> bool:
        """A refund was requested and its outcome is not recorded yet."""
        return self.exception.resolved_at is None and self.resolution is not None


def detail(session: Session, exception_id: int) -> Detail | None:
    """The exception ``exception_id`` with everything around it; None when there is none."""
    exc = session.get(ReconciliationException, exception_id)
    if exc is None:
        return None
    payment = session.get(Payment, exc.payment_id) if exc.payment_id else None
    invoice = session.get(Invoice, exc.invoice_id) if exc.invoice_id else None
    resolution = json.loads(exc.resolution) if exc.resolution else None
    follow_ups = session.scalars(select(ReconciliationException).where(
        ReconciliationException.cause == f"remainder:{exc.id}")).all()
    return Detail(
        exc, _json(exc.details), resolution, payment,
        queue.describe(session, [payment])[0] if payment else None, invoice,
        suggestions(session, exc, payment, invoice), available(session, exc, payment),
        write_off_room(exc, invoice), _actions(exc, resolution), list(follow_ups))


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _actions(exc: ReconciliationException, resolution: dict[str, Any] | None
             ) -> tuple[str, ...]:
    if exc.resolved_at is not None:
        return ()
    if resolution is not None:
        return ("refund",)  # only retrying the refund in progress can finish it
    return tuple(action for action, kinds in FITS.items() if exc.kind in kinds)


def available(session: Session, exc: ReconciliationException, payment: Payment | None) -> int:
    """Money the exception can still move (as :func:`resolution_core.source_of` reckons it,
    without its locks): the payment's share of the invoice, at most what that invoice is
    overpaid by for an overpayment; the payment's unapplied money otherwise."""
    if payment is None or payment.status != "succeeded" or exc.kind not in MONEY_KINDS:
        return 0
    if exc.kind in ("overpayment", "voided_invoice"):
        on_invoice = nets(session, payment.id).get(exc.invoice_id, 0)
        if exc.kind == "overpayment":
            invoice = session.get(Invoice, exc.invoice_id)
            on_invoice = min(on_invoice, invoice.amount_paid - invoice.total)
        return max(on_invoice, 0)
    return max(unapplied(session, payment), 0)


def write_off_room(exc: ReconciliationException, invoice: Invoice | None) -> int:
    """The difference left on the invoice that a write-off of this exception may take."""
    if invoice is None or exc.kind not in FITS["write_off"]:
        return 0
    if exc.kind == "overpayment":
        room = invoice.amount_paid - invoice.total
    else:
        room = invoice.total - invoice.amount_paid - invoice.amount_pending
    return max(min(room, exc.amount or 0), 0)


def _stored_suggestions(session: Session, exc: ReconciliationException) -> list[dict]:
    # A follow-up exception ("remainder:<id>") keeps only {"follows": id}: the suggestions
    # reconciliation made are on the first exception of the chain.
    current, seen = exc, set()
    for _ in range(FOLLOW_LIMIT):
        details = _json(current.details)
        if "suggestions" in details or "follows" not in details or current.id in seen:
            found = details.get("suggestions")
            return found if isinstance(found, list) else []
        seen.add(current.id)
        current = session.get(ReconciliationException, details["follows"])
        if current is None:
            return []
    return []


def suggestions(session: Session, exc: ReconciliationException, payment: Payment | None,
                invoice: Invoice | None) -> list[Suggestion]:
    """Where the money might go: reconciliation's suggestions for an unmatched payment (best
    first), else the customer's other open invoices in the payment's currency (due first)."""
    if payment is None or exc.kind not in MONEY_KINDS:
        return []
    stored = {s.get("invoice_id"): s.get("score") for s in _stored_suggestions(session, exc)
              if isinstance(s, dict)}
    customer_id = payment.customer_id or (invoice.customer_id if invoice else None)
    query = select(Invoice).where(Invoice.voided_at.is_(None), Invoice.currency ==
                                  payment.currency, Invoice.id != (exc.invoice_id or 0))
    if stored:
        query = query.where(Invoice.id.in_([i for i in stored if isinstance(i, int)]))
    elif customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    else:
        return []
    found = [Suggestion(inv, inv.total - inv.amount_paid - inv.amount_pending, stored.get(inv.id))
             for inv in session.scalars(query.order_by(Invoice.due_date, Invoice.id)
                                        .limit(200))]
    found = [s for s in found if s.owed > 0]
    if stored:
        order = list(stored)
        found.sort(key=lambda s: order.index(s.invoice.id))
    return found[:SUGGESTION_LIMIT]


class NoSuchInvoice(ValueError):
    """The invoice a clerk typed cannot take the money; the message says why."""


def invoice_by_reference(session: Session, reference: str, currency: str) -> Invoice:
    """The open invoice whose number (or external id) is ``reference``, in ``currency``."""
    reference = reference.strip()
    found = session.scalars(select(Invoice).where(
        or_(Invoice.number == reference, Invoice.external_id == reference),
        Invoice.currency == currency, Invoice.voided_at.is_(None)).limit(3)).all()
    if not found:
        raise NoSuchInvoice(f"no open {currency} invoice is numbered {reference!r}")
    if len({inv.id for inv in found}) > 1:
        raise NoSuchInvoice(f"several {currency} invoices are numbered {reference!r}: type "
                            "its external id instead, or pick a suggestion")
    return found[0]
