"""Customer credit: money staff kept for a customer instead of refunding it (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.clock import UTCDateTime, utcnow
from payments.db import Base


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
