"""Customers, invoices and their lines, as the ERP sends them. Money columns are integer minor
units (BigInteger).

``Invoice.amount_paid`` and ``Invoice.amount_pending`` are derived balances: only the ledger
(:mod:`payments.ledger.ledger`) writes them; everything else treats them as read-only.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.clock import UTCDateTime, utcnow
from payments.db import Base


class Customer(Base):
    """A customer of the business, identified by the ERP's ``external_id``."""

    __tablename__ = "customers"
    # The console lists customers by name, a page at a time (keyset on name, id).
    __table_args__ = (Index("ix_customers_name", "name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    # Created at Stripe once, on the customer's first payment, and reused after that.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    invoices: Mapped[list[Invoice]] = relationship(back_populates="customer")


class Invoice(Base):
    """An invoice pushed by the ERP; ``revision`` increases whenever its content changes."""

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("tax_amount >= 0", name="tax_not_negative"),
        CheckConstraint("subtotal + tax_amount = total", name="total_adds_up"),
        CheckConstraint("amount_paid >= 0", name="paid_not_negative"),
        CheckConstraint("amount_pending >= 0", name="pending_not_negative"),
        CheckConstraint("due_date >= issue_date", name="due_after_issue"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
        CheckConstraint(
            "min_partial_amount IS NULL OR (allow_partial AND min_partial_amount > 0"
            " AND min_partial_amount <= total)",
            name="min_partial_in_range",
        ),
        CheckConstraint("revision >= 1", name="revision_positive"),
        Index("ix_invoices_customer_due", "customer_id", "due_date"),
        Index("ix_invoices_number", "number"),  # staff look invoices up by number
        # The dashboard's KPIs (payments/kpis.py) over a large book: what is still owed, and
        # what was issued in a period, read from the index alone. Key columns rather than
        # INCLUDE, which SQLite lacks (there a narrower index made the KPIs slower, not faster).
        Index("ix_invoices_unpaid", "issue_date", "id", "currency", "due_date", "total",
              "amount_paid", "voided_at", postgresql_where=text("amount_paid < total"),
              sqlite_where=text("amount_paid < total")),
        Index("ix_invoices_issue_date", "issue_date", "currency", "total", "voided_at"),
        # Collections' worklist and trends: a customer's open invoices and what is overdue,
        # from the index alone.
        Index("ix_invoices_open_by_customer", "customer_id", "due_date", "currency", "total",
              "amount_paid",
              postgresql_where=text("amount_paid < total AND voided_at IS NULL"),
              sqlite_where=text("amount_paid < total AND voided_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    number: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    terms: Mapped[str | None] = mapped_column(Text)
    memo: Mapped[str | None] = mapped_column(Text)
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger)
    allow_partial: Mapped[bool] = mapped_column(Boolean, default=False)
    min_partial_amount: Mapped[int | None] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    amount_pending: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="invoices")
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )

    @property
    def amount_due(self) -> int:
        """What the customer still owes: total minus what has been paid; nothing once void."""
        return 0 if self.voided_at is not None else self.total - self.amount_paid


class InvoiceLine(Base):
    """One line of an invoice. ``quantity`` is a decimal string (it is not money)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[str | None] = mapped_column(String(40))
    unit_amount: Mapped[int | None] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
