"""One row per logical customer email, from queued to sent (or failed, or canceled)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from payments.clock import UTCDateTime, utcnow
from payments.db import Base, one_of

STATUSES = ("pending", "sending", "sent", "failed", "canceled")


class OutboxEmail(Base):
    """An email to a customer, written in the transaction that decided to send it.

    ``key`` names the logical message (``staff-link:<audit id>``, later ``reminder:<customer>:
    <step>:<day>``): a producer that runs twice finds its row and queues nothing new. The body
    never holds a pay link's token: where the link goes it holds :data:`LINK`, and the sender
    derives the token from ``link_id``'s nonce with the link key at send time (a copy of the
    database yields no working link, and a link revoked meanwhile is never mailed).
    """

    __tablename__ = "outbox_emails"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # The sweep's question: what is due to send, or stuck in "sending"?
        Index("ix_outbox_emails_open", "status", "next_attempt_at",
              postgresql_where=text("status IN ('pending', 'sending')"),
              sqlite_where=text("status IN ('pending', 'sending')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))  # fresh_link, staff_link, …
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)  # an HTML alternative of ``body``
    # More links than ``link_id`` (a reminder: the statement and each invoice): their ids, in
    # the body as ``{link:<id>}`` and ``{pdf:<id>}`` (:func:`payments.outbox.outbox.link_mark`).
    links: Mapped[list | None] = mapped_column(JSON)
    headers: Mapped[dict] = mapped_column(JSON, default=dict)  # extra headers, e.g. Auto-Submitted
    link_id: Mapped[int | None] = mapped_column(ForeignKey("pay_links.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: at once
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # sent, failed or canceled
