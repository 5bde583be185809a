"""The confirmation queue: succeeded payments staff have not confirmed yet, and confirming them
(one or many). The export of confirmed payments is :mod:`payments.confirmations.export`.

Confirming says "this money landed on the right invoices". So only a succeeded payment with no
open exception can be confirmed: pending ACH has not cleared, and a payment with an open
exception has not landed right yet. Bulk confirm confirms every payment that can be and returns
the others with the reason, as a clerk ticking twenty rows expects: one payment a colleague
confirmed a second earlier must not hold back the other nineteen. Rows are locked in id order,
so two clerks confirming at once confirm each payment exactly once and never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from payments.checkout.models import Allocation, PaymentAttempt
from payments.clock import utcnow
from payments.invoicing.models import Invoice
from payments.ledger.models import LedgerEntry, Payment, ReconciliationException, StaffAllocationSet
from payments.paging import keyset

MAX_BATCH = 500  # payments one confirm may name; a page of the queue is far smaller


@dataclass(frozen=True)
class AllocationLine:
    """One invoice a payment pays: the amount allocated, and what it pays net of refunds and
    withdrawals. An unapplied line (money on no invoice) has no invoice."""

    invoice_id: int | None
    invoice_external_id: str | None
    invoice_number: str | None
    amount: int
    net: int


@dataclass(frozen=True)
class Described:
    """A payment as the queue, the export and the API show it."""

    payment: Payment
    lines: tuple[AllocationLine, ...]
    # attempt_reference | attempt_payment_intent | attempt | staff_allocation | unmatched
    match_reason: str
    match_detail: str  # the same, in words, for the clerk
    open_exceptions: tuple[tuple[int, str], ...]  # (exception id, kind)

    @property
    def confirmable(self) -> bool:
        """Whether :func:`confirm` would confirm it now."""
        return _refusal(self.payment, self.open_exceptions) is None


@dataclass(frozen=True)
class QueuePage:
    """Oldest first; ``next_cursor`` (a payment id) fetches the next page, None at the end."""

    items: Sequence[Described]
    next_cursor: int | None


def queue(session: Session, cursor: int | None = None, limit: int = 50) -> QueuePage:
    """Succeeded, unconfirmed payments after ``cursor``, oldest first (keyset on id)."""
    limit = max(1, min(limit, MAX_BATCH))
    query = select(Payment).where(Payment.status == "succeeded",
                                  Payment.confirmed_at.is_(None))
    found = keyset(session, query, Payment.id, cursor, limit)
    return QueuePage(describe(session, found.rows), found.next_cursor)


def describe(session: Session, payments: Sequence[Payment]) -> list[Described]:
    """Allocations, net amounts, match reason and open exceptions of ``payments`` (a few
    queries for the whole batch, whatever its size)."""
    ids = [p.id for p in payments]
    sets = _current_sets(session, ids)
    attempts = _attempt_allocations(session, [p.attempt_id for p in payments if p.attempt_id])
    chosen = {p.id: [(a.invoice_id, a.amount) for a in sets[p.id].allocations] if p.id in sets
              else attempts.get(p.attempt_id, ([], None))[0] for p in payments}
    invoices = {inv.id: inv for inv in session.scalars(select(Invoice).where(
        Invoice.id.in_({i for lines in chosen.values() for i, _ in lines})))}
    nets = _nets(session, ids)
    exceptions = _open_exceptions(session, ids)
    out = []
    for p in payments:
        usable = [(i, a) for i, a in chosen[p.id] if invoices[i].currency == p.currency]
        reason, detail = _match(p, sets.get(p.id), attempts.get(p.attempt_id, ([], None))[1])
        out.append(Described(p, _lines(p, usable, invoices, nets.get(p.id, {})), reason,
                             detail, tuple(exceptions.get(p.id, ()))))
    return out


def _current_sets(session: Session, ids: list[int]) -> dict[int, StaffAllocationSet]:
    return {s.payment_id: s for s in session.scalars(select(StaffAllocationSet).where(
        StaffAllocationSet.payment_id.in_(ids), StaffAllocationSet.superseded_at.is_(None))
        .options(selectinload(StaffAllocationSet.allocations)))}


def _attempt_allocations(session: Session, attempt_ids: list[int]
                         ) -> dict[int, tuple[list[tuple[int, int]], str]]:
    found: dict[int, tuple[list[tuple[int, int]], str]] = {}
    rows = session.execute(select(PaymentAttempt.id, PaymentAttempt.reference,
                                  Allocation.invoice_id, Allocation.amount)
                           .join(Allocation, Allocation.attempt_id == PaymentAttempt.id)
                           .where(PaymentAttempt.id.in_(attempt_ids)).order_by(Allocation.id))
    for attempt_id, reference, invoice_id, amount in rows:
        found.setdefault(attempt_id, ([], reference))[0].append((invoice_id, amount))
    return found


def _nets(session: Session, ids: list[int]) -> dict[int, dict[int, int]]:
    # Staff entries carry their payment in staff_payment_id (the ledger owns payment_id).
    owner = func.coalesce(LedgerEntry.payment_id, LedgerEntry.staff_payment_id)
    rows = session.execute(select(owner, LedgerEntry.invoice_id, func.sum(LedgerEntry.paid_delta))
                           .where(or_(LedgerEntry.payment_id.in_(ids),
                                      LedgerEntry.staff_payment_id.in_(ids)))
                           .group_by(owner, LedgerEntry.invoice_id))
    found: dict[int, dict[int, int]] = {}
    for payment_id, invoice_id, net in rows:
        found.setdefault(payment_id, {})[invoice_id] = int(net)
    return found


def _open_exceptions(session: Session, ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    found: dict[int, list[tuple[int, str]]] = {}
    for exc_id, payment_id, kind in session.execute(
            select(ReconciliationException.id, ReconciliationException.payment_id,
                   ReconciliationException.kind)
            .where(ReconciliationException.payment_id.in_(ids),
                   ReconciliationException.resolved_at.is_(None))
            .order_by(ReconciliationException.id)):
        found.setdefault(payment_id, []).append((exc_id, kind))
    return found


def _lines(payment: Payment, usable: list[tuple[int, int]], invoices: dict[int, Invoice],
           nets: dict[int, int]) -> tuple[AllocationLine, ...]:
    lines = [AllocationLine(i, invoices[i].external_id, invoices[i].number, amount,
                            nets.get(i, 0)) for i, amount in usable]
    # Money on no invoice gets a line too, so the lines always add up to the payment.
    unapplied = payment.amount - sum(a for _, a in usable)
    if unapplied > 0:
        received = payment.amount - payment.amount_refunded - payment.amount_disputed
        lines.append(AllocationLine(None, None, None, unapplied,
                                    max(received - sum(nets.values()), 0)))
    return tuple(lines)


def _match(payment: Payment, staff: StaffAllocationSet | None,
           reference: str | None) -> tuple[str, str]:
    if staff is not None:
        made = f"by {staff.created_by} on {staff.created_at:%Y-%m-%d}"
        return "staff_allocation", made + (f" (exception #{staff.exception_id})"
                                           if staff.exception_id else "")
    if payment.attempt_id is None:
        return "unmatched", "no portal payment attempt"
    how = {"attempt_reference": "its reference in the Stripe metadata",
           "attempt_payment_intent": "its Checkout Session's PaymentIntent"}
    reason = payment.match_reason or "attempt"
    return reason, f"portal payment attempt {reference}" + (
        f", found by {how[reason]}" if reason in how else "")


@dataclass(frozen=True)
class Confirmed:
    """A payment this call confirmed, with the before/after the audit log records."""

    payment_id: int
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    """A payment this call did not confirm, and why (for the clerk)."""

    payment_id: int
    reason: str


@dataclass(frozen=True)
class Confirmation:
    """The outcome of a (bulk) confirm: what was confirmed, what was not and why."""

    confirmed: list[Confirmed]
    rejected: list[Rejected]


def confirm(session: Session, payment_ids: Iterable[int], actor: str) -> Confirmation:
    """Confirm every named payment that can be; return the others with the reason.

    Rows are locked (FOR UPDATE) in id order and re-read after the lock, so a payment a
    colleague confirmed meanwhile is reported "already confirmed", never confirmed twice.
    """
    ids = sorted({int(i) for i in payment_ids})
    if len(ids) > MAX_BATCH:
        raise ValueError(f"confirm at most {MAX_BATCH} payments at once")
    if not ids:
        return Confirmation([], [])
    payments = {p.id: p for p in session.scalars(
        select(Payment).where(Payment.id.in_(ids)).order_by(Payment.id).with_for_update()
        .execution_options(populate_existing=True))}
    exceptions = _open_exceptions(session, ids)
    now, confirmed, rejected = utcnow(), [], []
    for payment_id in ids:
        payment = payments.get(payment_id)
        reason = _refusal(payment, exceptions.get(payment_id, ()))
        if reason is not None:
            rejected.append(Rejected(payment_id, reason))
            continue
        before = {"confirmed_at": None, "confirmed_by": None}
        payment.confirmed_at, payment.confirmed_by = now, actor
        confirmed.append(Confirmed(payment_id, before, {"confirmed_at": now.isoformat(),
                                                        "confirmed_by": actor}))
    session.flush()
    return Confirmation(confirmed, rejected)


def _refusal(payment: Payment | None, open_exceptions: Sequence[tuple[int, str]]) -> str | None:
    if payment is None:
        return "no such payment"
    if payment.confirmed_at is not None:
        return (f"already confirmed by {payment.confirmed_by or 'someone'} at "
                f"{payment.confirmed_at:%Y-%m-%d %H:%M} UTC")
    if payment.status == "pending":
        return "pending: the funds have not cleared yet (ACH takes a few days)"
    if payment.status != "succeeded":
        return f"{payment.status}: no money arrived"
    if open_exceptions:
        listed = ", ".join(f"#{i} {kind.replace('_', ' ')}" for i, kind in open_exceptions)
        return f"resolve its open exceptions first ({listed})"
    return None
