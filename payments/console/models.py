"""Customer notes: append-only, authored and timestamped, shared by everyone who talks to the
customer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from payments.clock import UTCDateTime, utcnow
from payments.db import Base

MAX_LENGTH = 4000  # a few paragraphs: a note, not a document



class CustomerNote(Base):
    """One note about a customer, by one staff member, at one time."""

    __tablename__ = "customer_notes"
    __table_args__ = (
        CheckConstraint(f"length(body) BETWEEN 1 AND {MAX_LENGTH}", name="body_length"),
        Index("ix_customer_notes_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    # The author's email when the note was written: an address changed later does not rewrite
    # who said what.
    author_email: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
