"""Payment attempts and their allocations: what the customer chose to pay, recorded before
Stripe hears of it (allocation first).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.clock import UTCDateTime, utcnow
from payments.db import Base, one_of


class AttemptStatus(StrEnum):
    """An attempt is open until its Checkout Session completes or expires."""

    OPEN = "open"
    COMPLETED = "completed"
    EXPIRED = "expired"


ATTEMPT_STATUSES = tuple(status.value for status in AttemptStatus)


class PaymentAttempt(Base):
    """What the customer chose to pay, recorded before Stripe hears of it (allocation first).

    ``reference`` travels in the Checkout Session's and PaymentIntent's metadata; events map back
    through it. ``fingerprint`` identifies "the same invoices and amounts" so a double click, a
    reload or a second tab reuses the open session instead of starting a second payment.
    """

    __tablename__ = "payment_attempts"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(one_of("status", ATTEMPT_STATUSES), name="status_known"),
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
