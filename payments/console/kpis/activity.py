"""What the portal collected this week and month, what is still clearing, and what waits for
staff: the dashboard's activity figures, computed in SQL (aggregates only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from payments.console.kpis.receivables import DAY, currency_filter, end_of
from payments.events.models import EventFailure
from payments.invoicing.models import Invoice
from payments.ledger.models import LedgerEntry, Payment, ReconciliationException
from payments.outbox.models import OutboxEmail

COLLECTED_DEFINITION = ("Card, ACH and bank-transfer payments settled through the portal this "
                        "week (from Monday) and this month; net of refunds and disputes.")


@dataclass(frozen=True)
class Takings:
    """Money collected in a period: ``gross`` settled payments, ``net`` after what was taken
    back in the same period (refunds, dispute withdrawals, reversals; plus their undoings)."""

    gross: int
    net: int


@dataclass(frozen=True)
class Collected:
    """Portal collections of one currency this week (ISO, from Monday) and this month."""

    currency: str
    week: Takings
    month: Takings


def collected(session: Session, as_of: date, currency: str | None = None
              ) -> dict[str, Collected]:
    """What the portal collected in the week and the calendar month up to the end of ``as_of``.

    Sums the ledger's ``paid_delta`` of payment entries (``payment_id`` set; staff adjustments
    are not collections) by the time the ledger recorded them: a refund this week of last
    month's payment lowers this week's net. Pending ACH counts only once it clears.
    """
    week = datetime.combine(as_of - as_of.weekday() * DAY, time.min, UTC)
    month = datetime.combine(as_of.replace(day=1), time.min, UTC)
    gross = LedgerEntry.kind == "payment"
    in_week = LedgerEntry.created_at >= week
    amount = LedgerEntry.paid_delta
    sums = [func.sum(case((cond, amount), else_=0)) for cond in (
        gross & in_week, in_week, gross & (LedgerEntry.created_at >= month),
        LedgerEntry.created_at >= month)]
    rows = session.execute(
        select(Invoice.currency, *sums).select_from(LedgerEntry)
        .join(Invoice, Invoice.id == LedgerEntry.invoice_id)
        .where(LedgerEntry.payment_id.is_not(None), LedgerEntry.paid_delta != 0,
               LedgerEntry.created_at >= min(week, month), LedgerEntry.created_at < end_of(as_of),
               *currency_filter(Invoice.currency, currency))
        .group_by(Invoice.currency).order_by(Invoice.currency))
    return {code: Collected(code, Takings(int(wg), int(wn)), Takings(int(mg), int(mn)))
            for code, wg, wn, mg, mn in rows}


@dataclass(frozen=True)
class Pending:
    """Payments still clearing (ACH debits in ``processing``) in one currency."""

    currency: str
    amount: int
    count: int


def pending_ach(session: Session, currency: str | None = None) -> dict[str, Pending]:
    """Amount and count of payments pending now, per currency (Stripe's ``processing``: ACH
    debits; cards and bank transfers never wait in that state)."""
    rows = session.execute(
        select(Payment.currency, func.sum(Payment.amount), func.count())
        .where(Payment.status == "pending", *currency_filter(Payment.currency, currency))
        .group_by(Payment.currency).order_by(Payment.currency))
    return {code: Pending(code, int(amount), count) for code, amount, count in rows}


@dataclass(frozen=True)
class Queues:
    """What waits for staff: payments to confirm, open exceptions (by kind), failed events,
    customer emails not delivered."""

    unconfirmed: int
    exceptions_by_kind: tuple[tuple[str, int], ...]
    failed_events: int
    undelivered_emails: int = 0

    @property
    def exceptions(self) -> int:
        """All open reconciliation exceptions."""
        return sum(count for _kind, count in self.exceptions_by_kind)


def queue_counts(session: Session) -> Queues:
    """Succeeded payments not yet confirmed (``confirmed_at`` unset), unresolved
    reconciliation exceptions by kind, webhook events whose handler failed unresolved, and
    customer emails the outbox gave up on."""
    unconfirmed = session.scalar(select(func.count()).select_from(Payment).where(
        Payment.status == "succeeded", Payment.confirmed_at.is_(None)))
    by_kind = session.execute(
        select(ReconciliationException.kind, func.count())
        .where(ReconciliationException.resolved_at.is_(None))
        .group_by(ReconciliationException.kind).order_by(ReconciliationException.kind))
    failed = session.scalar(select(func.count()).select_from(EventFailure).where(
        EventFailure.resolved_at.is_(None)))
    undelivered = session.scalar(select(func.count()).select_from(OutboxEmail).where(
        OutboxEmail.status == "failed"))
    return Queues(unconfirmed or 0, tuple((kind, n) for kind, n in by_kind), failed or 0,
                  undelivered or 0)
