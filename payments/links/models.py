"""Pay links: capability URLs for one invoice or one customer statement, stored hashed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.clock import UTCDateTime, utcnow
from payments.db import Base


class PayLink(Base):
    """A capability URL. Only the token's SHA-256 is looked up; the token itself is re-derivable
    from ``nonce`` with the server's link key (see :mod:`payments.links`), never from the database.
    """

    __tablename__ = "pay_links"
    __table_args__ = (
        CheckConstraint(
            "(scope = 'invoice' AND invoice_id IS NOT NULL AND customer_id IS NULL) OR "
            "(scope = 'statement' AND customer_id IS NOT NULL AND invoice_id IS NULL)",
            name="scope_target",
        ),
        Index("uq_pay_links_active_invoice", "invoice_id", unique=True,
              sqlite_where=text("revoked_at IS NULL AND invoice_id IS NOT NULL"),
              postgresql_where=text("revoked_at IS NULL AND invoice_id IS NOT NULL")),
        Index("uq_pay_links_active_statement", "customer_id", unique=True,
              sqlite_where=text("revoked_at IS NULL AND customer_id IS NOT NULL"),
              postgresql_where=text("revoked_at IS NULL AND customer_id IS NOT NULL")),
        # Every link of a target, revoked ones too: the console shows the last one's state.
        Index("ix_pay_links_invoice", "invoice_id", "id"),
        Index("ix_pay_links_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE")
    )
    nonce: Mapped[bytes] = mapped_column(LargeBinary(32))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
