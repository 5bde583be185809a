"""What the staff console shows and does to money: the overview of open balances, payments
awaiting confirmation, open exceptions; confirming a payment and resolving an exception.

Each change is audited in its own transaction (:mod:`payments.audit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments import audit, kpis
from payments.models import utcnow
from payments.payment_models import Payment, ReconciliationException

LIST_LIMIT = 25


class ConsoleError(ValueError):
    """A console action that cannot be done; the message is for the person who asked."""


@dataclass
class Overview:
    """The dashboard: open balances by aging bucket, pending ACH, and the queues staff work
    through (counts from :mod:`payments.kpis`, plus the newest items of each queue)."""

    aging: dict[str, kpis.Aging]
    pending: dict[str, kpis.Pending]
    queues: kpis.Queues
    unconfirmed: Sequence[Payment]
    exceptions: Sequence[ReconciliationException]


def overview(session: Session, today: date) -> Overview:
    """Everything the dashboard shows, newest items first in each queue."""
    return Overview(
        aging=kpis.aging(session, today),
        pending=kpis.pending_ach(session),
        queues=kpis.queue_counts(session),
        unconfirmed=session.scalars(
            select(Payment).where(Payment.status == "succeeded", Payment.confirmed_at.is_(None))
            .order_by(Payment.id.desc()).limit(LIST_LIMIT)).all(),
        exceptions=session.scalars(
            select(ReconciliationException).where(ReconciliationException.resolved_at.is_(None))
            .order_by(ReconciliationException.id.desc()).limit(LIST_LIMIT)).all(),
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
