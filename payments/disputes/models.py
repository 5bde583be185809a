"""Disputes raised from the invoice page, their lines, the thread the customer sees, staff's
internal notes, uploaded files, and the credit notes that resolve them.

At most one dispute per invoice is active (open or under review): a partial unique index,
so two tabs or a double submit cannot raise two. The customer-visible thread
(``dispute_messages``) and staff's internal notes (``dispute_notes``) are separate tables, so
no query for the customer's page can ever pick up a note by a missed filter.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
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
from payments.db import Base, one_of

# What the customer picks from, in this order on the form.
REASONS = {
    "pricing": "The price is not what was agreed",
    "quantity": "The quantity is wrong",
    "damaged": "Goods arrived damaged or faulty",
    "not_received": "Goods or services not received",
    "duplicate": "This invoice is a duplicate",
    "already_paid": "I already paid this invoice",
    "tax": "The tax is wrong",
    "other": "Something else",
}
STATUSES = ("open", "under_review", "resolved")
ACTIVE = ("open", "under_review")
OUTCOMES = ("credited", "adjusted", "rejected", "voided")  # voided: the ERP cancelled it
_ACTIVE_SQL = "status IN ('open', 'under_review')"


class Dispute(Base):
    """A customer's disagreement with (part of) one invoice, and how staff resolved it."""

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(one_of("reason", tuple(REASONS)), name="reason_known"),
        CheckConstraint(one_of("status", STATUSES), name="status_known"),
        CheckConstraint(f"outcome IS NULL OR {one_of('outcome', OUTCOMES)}",
                        name="outcome_known"),
        CheckConstraint("(status = 'resolved') = (outcome IS NOT NULL)",
                        name="resolved_has_outcome"),
        Index("uq_disputes_active_invoice", "invoice_id", unique=True,
              sqlite_where=text(_ACTIVE_SQL), postgresql_where=text(_ACTIVE_SQL)),
        Index("ix_disputes_status", "status", "created_at"),
        Index("ix_disputes_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)  # in dispute, minor units
    reason: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="open")
    outcome: Mapped[str | None] = mapped_column(String(16))
    # What staff told the customer with the outcome (the rejection's reason, say).
    outcome_note: Mapped[str | None] = mapped_column(Text)
    new_due_date: Mapped[date | None] = mapped_column(Date)
    new_amount_due: Mapped[int | None] = mapped_column(BigInteger)  # "adjusted" only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(320))

    lines: Mapped[list[DisputeLine]] = relationship(order_by="DisputeLine.position",
                                                    cascade="all, delete-orphan")

    @property
    def active(self) -> bool:
        """True while staff have not resolved it (open or under review)."""
        return self.status in ACTIVE


class DisputeLine(Base):
    """An invoice line the customer disputes, as it read then (the ERP may replace lines)."""

    __tablename__ = "dispute_lines"
    __table_args__ = (UniqueConstraint("dispute_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # the invoice line's position
    description: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)


class DisputeMessage(Base):
    """One message of the thread both sides see: the customer's, or a staff reply."""

    __tablename__ = "dispute_messages"
    __table_args__ = (Index("ix_dispute_messages_dispute", "dispute_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"))
    from_staff: Mapped[bool] = mapped_column(Boolean)
    author: Mapped[str | None] = mapped_column(String(320))  # the staff member; None: customer
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DisputeNote(Base):
    """A staff-only note on a dispute; never shown to the customer."""

    __tablename__ = "dispute_notes"
    __table_args__ = (Index("ix_dispute_notes_dispute", "dispute_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"))
    author: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DisputeAttachment(Base):
    """A file the customer sent with a message: stored outside the web root under a random
    name, its type decided by its content, served to staff only."""

    __tablename__ = "dispute_attachments"
    __table_args__ = (
        CheckConstraint("size > 0", name="size_positive"),
        CheckConstraint(one_of("content_type", ("application/pdf", "image/png", "image/jpeg")),
                        name="type_allowed"),
        Index("ix_dispute_attachments_dispute", "dispute_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("dispute_messages.id"))
    filename: Mapped[str] = mapped_column(String(200))  # the customer's name for it, cleaned
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditNote(Base):
    """A numbered credit against one invoice: a ledger entry (``creditnote:<id>``) lowers
    what is owed by ``amount``; the ERP books it from the API."""

    __tablename__ = "credit_notes"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_credit_notes_invoice", "invoice_id"),
        Index("ix_credit_notes_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    lines: Mapped[list] = mapped_column(JSON, default=list)  # [{description, amount}]
    # What the invoice owed once this credit was applied: the document never changes after.
    invoice_due_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
