"""Models of money that arrived: payments (one per Stripe PaymentIntent), the ledger, the
staff allocations reconciliation applies, and the exceptions it raises for staff.

The ledger is append-only. ``Invoice.amount_paid`` and ``Invoice.amount_pending`` are sums of
ledger entries, written only by :mod:`payments.ledger.ledger`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.checkout.models import PaymentAttempt
from payments.clock import UTCDateTime, utcnow
from payments.db import Base, one_of
from payments.ledger.states import ExceptionKind, LedgerKind, PaymentStatus

PAYMENT_STATUSES = tuple(status.value for status in PaymentStatus)
LEDGER_KINDS = tuple(kind.value for kind in LedgerKind)
# How reconciliation found a payment's invoices (``Payment.match_reason``).
MATCH_REASONS = ("attempt_reference", "attempt_payment_intent", "staff_allocation")


class Payment(Base):
    """A Stripe PaymentIntent that the portal has seen, and the state it was last reconciled to."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(one_of("status", PAYMENT_STATUSES), name="status_known"),
        CheckConstraint("amount_refunded >= 0 AND amount_refunded <= amount",
                        name="refund_in_range"),
        CheckConstraint("amount_disputed >= 0 AND amount_disputed <= amount",
                        name="dispute_in_range"),
        # The console's invoice and customer pages find payments by attempt and by customer.
        Index("ix_payments_attempt", "attempt_id"),
        Index("ix_payments_customer", "customer_id", "id"),
        # The dashboard's pending ACH and confirmation queue count (small partial indexes).
        Index("ix_payments_pending", "currency", "amount",
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_payments_unconfirmed", "id",
              postgresql_where=text("status = 'succeeded' AND confirmed_at IS NULL"),
              sqlite_where=text("status = 'succeeded' AND confirmed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_intent_id: Mapped[str] = mapped_column(String(255), unique=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("payment_attempts.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    method: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_disputed: Mapped[int] = mapped_column(BigInteger, default=0)
    charge_id: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(320))
    match_reason: Mapped[str | None] = mapped_column(String(32))
    # When the state last reconciled was read from Stripe (the moment the read started): an
    # event created well before it cannot tell us anything newer.
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    attempt: Mapped[PaymentAttempt | None] = relationship()


class LedgerEntry(Base):
    """One change to what an invoice owes, tied to its cause (a Stripe object or staff action).

    ``cause`` is unique per invoice, so applying the same fact twice is impossible by schema.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("invoice_id", "cause"),
        CheckConstraint(one_of("kind", LEDGER_KINDS), name="kind_known"),
        CheckConstraint("paid_delta <> 0 OR pending_delta <> 0", name="moves_money"),
        Index("ix_ledger_entries_payment", "payment_id"),
        Index("ix_ledger_entries_staff_payment", "staff_payment_id"),
        Index("ix_ledger_entries_created_at", "created_at"),  # KPIs: what moved in a period
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    staff_payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payments.id", name="fk_ledger_entries_staff_payment_id"))
    kind: Mapped[str] = mapped_column(String(24))
    paid_delta: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    pending_delta: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    cause: Mapped[str] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


EXCEPTION_KINDS = tuple(kind.value for kind in ExceptionKind)


class ReconciliationException(Base):
    """Something reconciliation could not settle on its own; staff resolve it in the console.

    ``cause`` makes raising the same exception twice (a redelivered event) a no-op.
    """

    __tablename__ = "reconciliation_exceptions"
    __table_args__ = (
        CheckConstraint(one_of("kind", EXCEPTION_KINDS), name="kind_known"),
        UniqueConstraint("refund_id", name="uq_reconciliation_exceptions_refund_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(255), unique=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    details: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # JSON. Set with resolved_at still NULL while a refund is being sent to Stripe.
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(320))
    refund_id: Mapped[str | None] = mapped_column(String(255))


class StaffAllocationSet(Base):
    """Where staff decided a payment's money goes, replacing its attempt's allocations.

    A new set supersedes the previous one (kept as history); at most one is current.
    """

    __tablename__ = "staff_allocation_sets"
    __table_args__ = (
        Index("uq_staff_allocation_sets_current", "payment_id", unique=True,
              sqlite_where=text("superseded_at IS NULL"),
              postgresql_where=text("superseded_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    exception_id: Mapped[int | None] = mapped_column(ForeignKey("reconciliation_exceptions.id"))
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    allocations: Mapped[list[StaffAllocation]] = relationship(
        order_by="StaffAllocation.position", cascade="all, delete-orphan")


class StaffAllocation(Base):
    """How much of a payment one invoice gets, in a staff allocation set (order matters:
    refunds come off the last invoice first)."""

    __tablename__ = "staff_allocations"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("set_id", "invoice_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("staff_allocation_sets.id",
                                                   ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer)
