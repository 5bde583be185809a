"""What the staff console shows and does to money: the overview of open balances, payments
awaiting confirmation, open exceptions; confirming a payment and resolving an exception.

Each change is audited in its own transaction (:mod:`payments.audit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from payments import audit
from payments.models import Invoice, utcnow
from payments.pages import AGING_BUCKETS
from payments.payment_models import EventFailure, Payment, ReconciliationException

LIST_LIMIT = 25


class ConsoleError(ValueError):
    """A console action that cannot be done; the message is for the person who asked."""


@dataclass
class CurrencyTotals:
    """Open invoices of one currency: how many, how much is owed, how much of it is overdue,
    and the amount owed per aging bucket (``current``, ``1-30`` … ``90+`` days past due)."""

    currency: str
    count: int
    outstanding: int
    overdue_count: int
    overdue: int
    aging: dict[str, int] = field(default_factory=dict)


@dataclass
class Overview:
    """The dashboard: open balances, and the queues staff work through."""

    open_invoices: list[CurrencyTotals]
    unconfirmed: Sequence[Payment]
    unconfirmed_count: int
    exceptions: Sequence[ReconciliationException]
    exceptions_count: int
    failed_events: int


def _bucket(today: date):
    # Bucket edges as dates, so the comparison is portable (no date arithmetic in SQL).
    edges = [(today - timedelta(days=d), name) for d, name in ((90, "90+"), (60, "61-90"),
                                                               (30, "31-60"), (0, "1-30"))]
    return case(*[(Invoice.due_date < edge, name) for edge, name in edges], else_="current")


def open_balances(session: Session, today: date) -> list[CurrencyTotals]:
    """Open (not voided, not fully paid) invoices per currency, with aging."""
    owed = Invoice.total - Invoice.amount_paid
    bucket = _bucket(today).label("bucket")
    rows = session.execute(
        select(Invoice.currency, bucket, func.count(), func.sum(owed))
        .where(Invoice.voided_at.is_(None), Invoice.amount_paid < Invoice.total)
        .group_by(Invoice.currency, bucket).order_by(Invoice.currency)).all()
    totals: dict[str, CurrencyTotals] = {}
    for currency, name, count, amount in rows:
        t = totals.setdefault(currency, CurrencyTotals(currency, 0, 0, 0, 0,
                                                       dict.fromkeys(AGING_BUCKETS, 0)))
        t.count += count
        t.outstanding += int(amount)
        t.aging[name] += int(amount)
        if name != "current":
            t.overdue_count += count
            t.overdue += int(amount)
    return list(totals.values())


def overview(session: Session, today: date) -> Overview:
    """Everything the dashboard shows, newest items first in each queue."""
    unconfirmed = (Payment.status == "succeeded") & Payment.confirmed_at.is_(None)
    is_open = ReconciliationException.resolved_at.is_(None)
    return Overview(
        open_invoices=open_balances(session, today),
        unconfirmed=session.scalars(select(Payment).where(unconfirmed)
                                    .order_by(Payment.id.desc()).limit(LIST_LIMIT)).all(),
        unconfirmed_count=session.scalar(select(func.count()).where(unconfirmed)) or 0,
        exceptions=session.scalars(select(ReconciliationException).where(is_open)
                                   .order_by(ReconciliationException.id.desc())
                                   .limit(LIST_LIMIT)).all(),
        exceptions_count=session.scalar(select(func.count()).where(is_open)) or 0,
        failed_events=session.scalar(select(func.count()).select_from(EventFailure)
                                     .where(EventFailure.resolved_at.is_(None))) or 0,
    )


def confirm_payment(session: Session, actor: audit.Actor, payment_id: int) -> Payment:
    """Confirm a succeeded payment (staff have checked it landed on the right invoices)."""
    payment = session.get(Payment, payment_id, with_for_update=True)
    if payment is None:
        raise ConsoleError("no such payment")
    if payment.status != "succeeded":
        raise ConsoleError(f"only a succeeded payment can be confirmed (this one is "
                           f"{payment.status})")
    if payment.confirmed_at is not None:
        return payment
    payment.confirmed_at = utcnow()
    audit.record(session, actor, "payment.confirm", ("payment", payment.id),
                 {"confirmed_at": None}, {"confirmed_at": payment.confirmed_at.isoformat()})
    return payment


def resolve_exception(session: Session, actor: audit.Actor, exception_id: int,
                      resolution: str) -> ReconciliationException:
    """Close an exception with a note saying what was done about it."""
    resolution = resolution.strip()
    if not resolution:
        raise ConsoleError("say how the exception was resolved")
    exc = session.get(ReconciliationException, exception_id, with_for_update=True)
    if exc is None:
        raise ConsoleError("no such exception")
    if exc.resolved_at is not None:
        raise ConsoleError("this exception is already resolved")
    exc.resolved_at, exc.resolution = utcnow(), resolution[:2000]
    audit.record(session, actor, "exception.resolve", ("reconciliation_exception", exc.id),
                 {"resolved_at": None, "resolution": None},
                 {"resolved_at": exc.resolved_at.isoformat(), "resolution": exc.resolution})
    return exc
