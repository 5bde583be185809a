"""Models of money moving: payment attempts and their allocations, payments (one per Stripe
PaymentIntent), the ledger, stored Stripe events, and the exceptions staff resolve.

The ledger is append-only. ``Invoice.amount_paid`` and ``Invoice.amount_pending`` are sums of
ledger entries, written only by :mod:`payments.ledger`.
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

from payments.db import Base
from payments.models import UTCDateTime, utcnow

ATTEMPT_STATUSES = ("open", "completed", "expired")
PAYMENT_STATUSES = ("pending", "succeeded", "failed", "canceled")
# "reallocation" and "credit_transfer" are staff moves of a payment's money (exceptions queue):
# they carry the payment in ``staff_payment_id``, never in ``payment_id``, which the convergent
# ledger owns. "adjustment" is a write-off, nobody's money.
LEDGER_KINDS = ("pending", "pending_released", "payment", "payment_reversed", "refund",
                "refund_reversed", "dispute_withdrawal", "dispute_reinstatement", "adjustment",
                "reallocation", "credit_transfer")
# How reconciliation found a payment's invoices (``Payment.match_reason``).
MATCH_REASONS = ("attempt_reference", "attempt_payment_intent", "staff_allocation")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class PaymentAttempt(Base):
    """What the customer chose to pay, recorded before Stripe hears of it (allocation first).

    ``reference`` travels in the Checkout Session's and PaymentIntent's metadata; events map back
    through it. ``fingerprint`` identifies "the same invoices and amounts" so a double click, a
    reload or a second tab reuses the open session instead of starting a second payment.
    """

    __tablename__ = "payment_attempts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_one_of("status", ATTEMPT_STATUSES), name="status_known"),
        Index("ix_payment_attempts_open", "customer_id", "fingerprint", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    allocations: Mapped[list[Allocation]] = relationship(
        back_populates="attempt", order_by="Allocation.id", cascade="all, delete-orphan"
    )


class Allocation(Base):
    """How much of an attempt goes to one invoice."""

    __tablename__ = "payment_allocations"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("attempt_id", "invoice_id"),
        Index("ix_payment_allocations_invoice", "invoice_id"),  # an invoice's payments
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("payment_attempts.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    amount: Mapped[int] = mapped_column(BigInteger)

    attempt: Mapped[PaymentAttempt] = relationship(back_populates="allocations")


class Payment(Base):
    """A Stripe PaymentIntent that the portal has seen, and the state it was last reconciled to."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_one_of("status", PAYMENT_STATUSES), name="status_known"),
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
        CheckConstraint(_one_of("kind", LEDGER_KINDS), name="kind_known"),
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


class StripeEvent(Base):
    """A verified Stripe event, stored once by id in the transaction that handled it.

    ``payment_ref`` is the PaymentIntent its object belongs to (for a Checkout Session without
    one, the session's id), so an invoice's event timeline is an index lookup, not a scan of
    JSON payloads.
    """

    __tablename__ = "stripe_events"
    __table_args__ = (Index("ix_stripe_events_payment_ref", "payment_ref", "created"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payment_ref: Mapped[str | None] = mapped_column(String(255))


class EventFailure(Base):
    """A handler failure, kept outside the rolled-back transaction so staff can see it."""

    __tablename__ = "stripe_event_failures"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error_type: Mapped[str] = mapped_column(String(200))
    error_message: Mapped[str] = mapped_column(Text)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


EXCEPTION_KINDS = ("overpayment", "voided_invoice", "currency_mismatch", "unmatched_payment",
                   "reversal_after_confirmation")


class ReconciliationException(Base):
    """Something reconciliation could not settle on its own; staff resolve it in the console.

    ``cause`` makes raising the same exception twice (a redelivered event) a no-op.
    """

    __tablename__ = "reconciliation_exceptions"
    __table_args__ = (
        CheckConstraint(_one_of("kind", EXCEPTION_KINDS), name="kind_known"),
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


class CustomerCredit(Base):
    """Money a customer has with the business, append-only (database triggers refuse UPDATE
    and DELETE); the balance is the sum per customer and currency."""

    __tablename__ = "customer_credits"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="moves_money"),
        Index("ix_customer_credits_customer", "customer_id", "currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    cause: Mapped[str] = mapped_column(String(255), unique=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncState(Base):
    """Small named values that recovery keeps between runs (e.g. the events checkpoint)."""

    __tablename__ = "sync_state"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
